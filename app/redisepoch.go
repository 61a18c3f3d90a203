package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/terminal/redisstore"
)

// DefaultRedisCheckInterval is how often a node with --redis checks that Redis answers and
// still holds the registry it serves (Config.RedisCheckInterval).
const DefaultRedisCheckInterval = 5 * time.Second

// epochFile holds, in the data directory, the registry epoch this node serves under.
const epochFile = "redis-epoch"

// epochWatch keeps a Redis-mode node honest about its registry: Redis restarted without its
// data (or another Redis behind the address) no longer holds the epoch marker the node
// remembers, and the node turns not-ready, logs and counts it, instead of answering every
// terminal 97 in silence (docs/terminal.md, "Running Redis durably").
type epochWatch struct {
	reg  *redisstore.Store
	path string
	log  *zap.Logger
	want string // the epoch this node serves under ("" until one is known)

	mu      sync.Mutex
	problem string // why the node is not ready ("" when fine)
	lost    bool   // the registry itself is gone or replaced (not just unreachable)

	losses      atomic.Int64 // transitions into lost
	unreachable atomic.Int64 // checks Redis did not answer
}

func newEpochWatch(reg *redisstore.Store, dataDir string, log *zap.Logger) *epochWatch {
	return &epochWatch{reg: reg, path: filepath.Join(dataDir, epochFile), log: log.Named("redis")}
}

// start settles the epoch at start-up: a registry without a marker gets one when this node
// never served another (a first start, or a registry from before markers); a node that did
// and finds none, or another, starts not-ready.
func (w *epochWatch) start(ctx context.Context) error {
	b, err := os.ReadFile(w.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("registry epoch file: %w", err)
	}
	remembered := strings.TrimSpace(string(b))
	current, err := w.reg.Epoch(ctx)
	if err != nil {
		return fmt.Errorf("registry epoch: %w", err)
	}
	switch {
	case current == "" && remembered == "":
		if current, err = w.reg.EnsureEpoch(ctx); err != nil {
			return fmt.Errorf("registry epoch: %w", err)
		}
		w.log.Info("registry epoch marker created", zap.String("epoch", current))
	case current == "":
		w.want = remembered
		w.check(ctx)
		return nil
	case remembered != "" && current != remembered:
		w.want = remembered
		w.check(ctx)
		return nil
	}
	w.want = current
	if current != remembered {
		if err := securefile.ReplaceWith(w.path, 0o600, func(f io.Writer) error {
			_, err := io.WriteString(f, current+"\n")
			return err
		}); err != nil {
			return fmt.Errorf("registry epoch file: %w", err)
		}
	}
	return nil
}

// check compares Redis's marker with the one this node serves under and records the outcome.
func (w *epochWatch) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	current, err := w.reg.Epoch(cctx)
	cancel()
	var problem string
	lost := false
	switch {
	case err != nil:
		w.unreachable.Add(1)
		problem = "Redis not answering: " + err.Error()
	case current == "":
		lost, problem = true, "Redis lost the registry: its epoch marker is gone (Redis restarted without its data?); restore it with posgate registry import"
	case current != w.want:
		lost, problem = true, "Redis holds another registry (epoch "+current+", this node serves "+w.want+"); restore the registry or point --redis at the right server"
	}
	w.mu.Lock()
	was, wasLost := w.problem, w.lost
	w.problem, w.lost = problem, lost
	w.mu.Unlock()
	switch {
	case lost && !wasLost:
		w.losses.Add(1)
		w.log.Error("REGISTRY LOST: node not ready", zap.String("reason", problem))
	case problem != "" && was == "":
		w.log.Error("node not ready", zap.String("reason", problem))
	case problem == "" && was != "":
		w.log.Info("Redis registry back: node ready again", zap.String("epoch", w.want))
	}
}

// run checks every interval until ctx ends.
func (w *epochWatch) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}

// status returns why the node is not ready ("" when fine) and whether the registry is lost.
func (w *epochWatch) status() (problem string, lost bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.problem, w.lost
}
