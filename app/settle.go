package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
	"github.com/posgate/posgate/settlement/kvruns"
	"github.com/posgate/posgate/terminal"
)

// SettlementConfig configures the node's automatic T+1 settlement.
type SettlementConfig struct {
	// Disabled turns the automatic runs off (the admin API still lists runs).
	Disabled bool
	// Delay is how long after a business date's cut-off it is settled, so that
	// transactions in flight at the cut-off are journaled first. Default DefaultSettleDelay.
	Delay time.Duration
	// Out is the settlement output directory. Default DataDir/settlement.
	Out string
	// Plans are the fee plans (default: settlement.DefaultPlan only).
	Plans []settlement.FeePlan
}

// DefaultSettleDelay is SettlementConfig.Delay's default.
const DefaultSettleDelay = 5 * time.Minute

// RegistryMerchants adapts the terminal registry to settlement.Merchants.
type RegistryMerchants struct {
	Registry interface {
		GetMerchant(ctx context.Context, mid string) (terminal.Merchant, error)
	}
}

// Merchant implements settlement.Merchants.
func (r RegistryMerchants) Merchant(ctx context.Context, mid string) (settlement.Merchant, error) {
	m, err := r.Registry.GetMerchant(ctx, mid)
	if errors.Is(err, terminal.ErrNotFound) {
		return settlement.Merchant{}, fmt.Errorf("%w: %s", settlement.ErrUnknownMerchant, mid)
	}
	if err != nil {
		return settlement.Merchant{}, err
	}
	return settlement.Merchant{MID: m.MID, Name: m.Name, Account: m.SettlementAccount, FeePlan: m.FeePlan}, nil
}

// settleLoop runs settlement after every cut-off and serves runs to the admin API.
type settleLoop struct {
	s     *settlement.Settler
	out   string
	delay time.Duration
	log   *zap.Logger
	now   func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startSettlement builds the settler (run records in a JetStream KV bucket shared by every
// node) and, unless disabled, the loop that settles each business date Delay after its
// cut-off — including, at start, the last closed date if no node has settled it yet. Of
// several nodes the first to claim a date runs it; the others see ErrRunInProgress or
// ErrAlreadySettled and skip it.
func (n *Node) startSettlement(ctx context.Context) error {
	c := n.cfg.Settlement
	if c.Delay == 0 {
		c.Delay = DefaultSettleDelay
	}
	if c.Out == "" {
		c.Out = filepath.Join(n.cfg.DataDir, "settlement")
	}
	runs, err := kvruns.New(ctx, n.nc, "", n.cfg.JournalReplicas)
	if err != nil {
		return fmt.Errorf("settlement runs: %w", err)
	}
	now := n.cfg.Processor.Now
	if now == nil {
		now = time.Now
	}
	host, _ := os.Hostname() // the run record names the host and node whose --settle-out has the files
	s, err := settlement.New(settlement.Config{Calendar: n.cfg.Processor.Calendar, Plans: c.Plans, Now: now,
		Node: fmt.Sprintf("%s/node%d", host, n.cfg.Processor.NodeID)},
		n.Journal, RegistryMerchants{Registry: n.Registry}, runs, n.log)
	if err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	l := &settleLoop{s: s, out: c.Out, delay: c.Delay, log: n.log.Named("settle"), now: now}
	n.settle = l
	if c.Disabled {
		return nil
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	l.wg.Add(1)
	go l.run(lctx)
	n.onShutdown(l.shutdown)
	return nil
}

func (l *settleLoop) run(ctx context.Context) {
	defer l.wg.Done()
	cal := l.s.Calendar()
	for {
		now := l.now()
		last := cal.BusinessDate(now).AddDays(-1) // the latest closed date
		if !now.Before(cal.CutOffTime(last).Add(l.delay)) {
			l.settleDate(ctx, last)
		}
		next := cal.CutOffTime(last.AddDays(1)).Add(l.delay)
		t := time.NewTimer(max(next.Sub(l.now()), time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (l *settleLoop) settleDate(ctx context.Context, d journal.Date) {
	rec, err := l.s.Run(ctx, d, settlement.RunOptions{Out: l.out})
	switch {
	case errors.Is(err, settlement.ErrAlreadySettled), errors.Is(err, settlement.ErrRunInProgress),
		errors.Is(err, settlement.ErrSuperseded):
		l.log.Debug("business date settled elsewhere", zap.String("date", d.String()), zap.Error(err))
	case err != nil && ctx.Err() == nil:
		l.log.Error("automatic settlement failed: run `posgate settle` by hand", zap.String("date", d.String()), zap.Error(err))
	case err == nil:
		l.log.Info("business date settled", zap.String("date", rec.BusinessDate), zap.Int64("net_fen", rec.Summary.NetFen),
			zap.String("dir", rec.Dir))
	}
}

func (l *settleLoop) shutdown(context.Context) error {
	l.cancel()
	l.wg.Wait()
	return nil
}

// Runs implements admin.Settlement.
func (l *settleLoop) Runs(ctx context.Context) ([]settlement.RunRecord, error) {
	return l.s.Runs().List(ctx)
}

// Run implements admin.Settlement.
func (l *settleLoop) Run(ctx context.Context, d journal.Date) (settlement.RunRecord, error) {
	return l.s.Runs().Get(ctx, d)
}

// OpenFile implements admin.Settlement: the file from this node's output directory.
func (l *settleLoop) OpenFile(_ context.Context, d journal.Date, name string) (io.ReadSeekCloser, error) {
	f, err := settlement.OpenFile(l.out, d.String(), name)
	if err != nil && !errors.Is(err, settlement.ErrBadFile) && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return f, err
}
