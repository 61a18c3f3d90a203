package checkpoint

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/journal"
)

// Replayer replays journal records into a State (gateway.Processor).
type Replayer interface {
	Replay(ctx context.Context, st gateway.State, src gateway.JournalSource, r gateway.Recovery) (gateway.Replayed, gateway.RecoveryStats, error)
}

// Defaults of Config.
const (
	DefaultInterval = time.Minute
	// DefaultOverlap is well over a transaction's time limit (gateway.DefaultTxnTimeout): a
	// record journaled that long before a crash had its answer stored, if ever.
	DefaultOverlap = 2 * time.Minute
	maxSamples     = 64
)

// Config configures a Writer.
type Config struct {
	// Path is the checkpoint file. Required.
	Path string
	// Interval is how often a checkpoint is made (none when the journal has not grown).
	// Default DefaultInterval.
	Interval time.Duration
	// NewState returns an empty State configured as the serving one, without its sweep
	// goroutine: the shadow each checkpoint replays into. nil: no State is checkpointed, only
	// the open intents and STANs (a node whose State is in Redis).
	NewState func() (*memstate.State, error)
	// Overlap is, without a State, how long before a checkpoint the position lies that a
	// restart replays from. Default DefaultOverlap.
	Overlap time.Duration
	// Dates returns the business dates a replay at now covers, oldest first (the same as the
	// node's restart replays). Required.
	Dates func(now time.Time) []journal.Date
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Stats report the Writer's work.
type Stats struct {
	Written  time.Time     // when the last checkpoint was made (zero: none yet by this Writer)
	Seq      uint64        // the position it covers
	Records  int           // records it replayed
	Took     time.Duration // how long it took
	Failures uint64        // checkpoints that failed
}

// Writer makes a checkpoint every Interval in the background (Start, Stop) or on demand
// (Checkpoint).
type Writer struct {
	cfg Config
	j   Journal
	rep Replayer
	log *zap.Logger

	run     sync.Mutex       // one checkpoint at a time
	last    journal.Position // what the last checkpoint this Writer made covers (under run)
	mu      sync.Mutex
	stats   Stats
	cancel  context.CancelFunc
	stopped chan struct{}
}

// New returns a Writer; log may be nil.
func New(cfg Config, j Journal, rep Replayer, log *zap.Logger) (*Writer, error) {
	if cfg.Path == "" || cfg.Dates == nil || j == nil || rep == nil {
		return nil, &gateway.ConfigError{Setting: "checkpoint", Problem: "Path, Dates, the journal and the replayer are required"}
	}
	if cfg.Interval < 0 || cfg.Overlap < 0 {
		return nil, &gateway.ConfigError{Setting: "checkpoint", Problem: "Interval and Overlap must not be negative"}
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Overlap == 0 {
		cfg.Overlap = DefaultOverlap
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Writer{cfg: cfg, j: j, rep: rep, log: log.Named("checkpoint")}, nil
}

// Start makes a checkpoint every Interval until Stop.
func (w *Writer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.stopped = cancel, make(chan struct{})
	go func() {
		defer close(w.stopped)
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.Checkpoint(ctx); err != nil && ctx.Err() == nil {
					w.log.Warn("checkpoint failed; a restart replays more of the journal", zap.Error(err))
				}
			}
		}
	}()
}

// Stop ends the background checkpoints, abandoning one in progress (the previous file stays),
// and waits for them. Safe to call without Start and twice.
func (w *Writer) Stop(ctx context.Context) error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	select {
	case <-w.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Checkpoint makes one checkpoint now: the previous one, replayed on to the journal's current
// position, replaces the file. It does nothing when the journal has not grown since.
func (w *Writer) Checkpoint(ctx context.Context) error {
	w.run.Lock()
	defer w.run.Unlock()
	err := w.checkpoint(ctx)
	if err != nil {
		w.mu.Lock()
		w.stats.Failures++
		w.mu.Unlock()
	}
	return err
}

func (w *Writer) checkpoint(ctx context.Context) error {
	start := w.cfg.Now()
	pos, err := w.j.Position(ctx)
	if err != nil {
		return err
	}
	if pos.Last == w.last.Last && pos.Stream == w.last.Stream && pos.Created.Equal(w.last.Created) {
		return nil // the journal has not grown: the file is current, do not even load it
	}
	shadow, err := w.newShadow()
	if err != nil {
		return err
	}
	if shadow != nil {
		defer shadow.Close()
	}
	prev, err := Load(w.cfg.Path, pos, shadow)
	if err != nil {
		// Start over from the first record: a damaged file, or one of a wiped stream.
		w.log.Warn("previous checkpoint not usable; replaying from the first record", zap.Error(err))
		if shadow != nil {
			shadow.Close()
			if shadow, err = w.newShadow(); err != nil {
				return err
			}
			defer shadow.Close()
		}
		prev = nil
	}
	if prev != nil && prev.Seq == pos.Last {
		w.last = pos
		return nil
	}
	dates := w.cfg.Dates(start)
	r := gateway.Recovery{Dates: dates, Rebuild: shadow != nil}
	src := rangeSource{j: w.j, upTo: pos.Last}
	var samples []Sample
	if prev != nil {
		// Continue exactly where the previous checkpoint stopped (a restart may start
		// earlier, at From).
		r.From, src.after, src.dates, samples = prev.Replayed(), prev.Seq, prev.Dates, prev.Samples
	}
	var st gateway.State
	if shadow != nil {
		st = shadow
	}
	rs, stats, err := w.rep.Replay(ctx, st, src, r)
	if err != nil {
		return fmt.Errorf("checkpoint: replay: %w", err)
	}
	c := &Checkpoint{Meta: Meta{Stream: pos.Stream, Created: pos.Created, Seq: pos.Last, Dates: dates,
		State: shadow != nil, Written: start, Records: stats.Records, Day: rs.Day, LastSTAN: rs.LastSTAN},
		Open: rs.Open}
	c.Samples = w.samples(samples, Sample{At: start, Seq: pos.Last})
	c.From = pos.Last
	if shadow == nil {
		c.From = w.from(c.Samples, start)
	}
	err = securefile.ReplaceWith(w.cfg.Path, 0o600, func(f io.Writer) error { return write(f, c, shadow) })
	if err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", w.cfg.Path, err)
	}
	w.last = pos
	took := w.cfg.Now().Sub(start)
	w.mu.Lock()
	w.stats.Written, w.stats.Seq, w.stats.Records, w.stats.Took = start, pos.Last, stats.Records, took
	w.mu.Unlock()
	w.log.Debug("checkpoint written", zap.Uint64("seq", pos.Last), zap.Int("records", stats.Records),
		zap.Int("open_intents", len(rs.Open)), zap.Duration("took", took))
	return nil
}

func (w *Writer) newShadow() (*memstate.State, error) {
	if w.cfg.NewState == nil {
		return nil, nil
	}
	st, err := w.cfg.NewState()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: shadow state: %w", err)
	}
	return st, nil
}

// samples appends s and keeps the newest sample at least Overlap old and those after it.
func (w *Writer) samples(prev []Sample, s Sample) []Sample {
	out := append(append([]Sample(nil), prev...), s)
	keep := 0
	for i, x := range out {
		if !x.At.After(s.At.Add(-w.cfg.Overlap)) {
			keep = i
		}
	}
	out = out[keep:]
	if len(out) > maxSamples { // keep the one that is old enough, and the newest
		out = append(out[:1], out[len(out)-maxSamples+1:]...)
	}
	return out
}

// from is the newest sampled position at least Overlap before now (0: none is that old).
func (w *Writer) from(samples []Sample, now time.Time) uint64 {
	var seq uint64
	for _, s := range samples {
		if !s.At.After(now.Add(-w.cfg.Overlap)) {
			seq = s.Seq
		}
	}
	return seq
}
