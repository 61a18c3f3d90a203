package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/posgate/posgate/loadtest/report"
	"github.com/posgate/posgate/loadtest/termsim"
)

// Runner runs one load test. Make it with New and call Run once.
type Runner struct {
	cfg  Config
	seed uint64
	rng  *rand.Rand // the setup's and the scheduler's draws (one goroutine at a time)
	keys *termsim.KeyPool
	dial dialer
	rec  *recorder
	rep  *report.Report
	now  func() time.Time

	workers []*worker
	idle    idleConns

	mu  sync.Mutex
	ran bool
}

// ErrRan is returned by a second call to Run.
var ErrRan = errors.New("loadtest: Run was already called")

// New checks cfg and returns a Runner. It does no I/O.
func New(cfg Config) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64() | 1
	}
	r := &Runner{
		cfg:  cfg,
		seed: seed,
		rng:  rand.New(rand.NewPCG(seed, 0)),
		keys: termsim.NewKeyPool(min(cfg.KeyPoolSize, cfg.Terminals)),
		dial: newDialer(cfg.Target),
		rec:  newRecorder(cfg.Duration),
		now:  time.Now,
	}
	r.rep = &report.Report{
		Target: cfg.Target, Terminals: cfg.Terminals, DurationS: cfg.Duration.Seconds(),
		RequestedRate: cfg.Rate, TimeoutS: cfg.Timeout.Seconds(), Mix: cfg.Mix.weights(),
		Merchants: (cfg.Terminals + cfg.TerminalsPerMerchant - 1) / cfg.TerminalsPerMerchant,
	}
	return r, nil
}

// Run provisions the fleet through the admin API, activates and signs on every terminal,
// opens the idle connections, sends the scheduled transactions, settles every batch and
// returns the report. Every goroutine it starts has ended when it returns, and every
// connection is closed.
//
// Cancelling ctx during the traffic stops scheduling: requests in flight finish (they are not
// cancelled, which would make the terminals reverse them), the fleet still settles, and the
// report covers what was sent. Cancelling it during setup aborts the run. An error means the
// run could not take place (setup failed); a run whose batches do not balance or whose
// requests went unanswered returns its report and no error (see report.Failures).
func (r *Runner) Run(ctx context.Context) (*report.Report, error) {
	r.mu.Lock()
	if r.ran {
		r.mu.Unlock()
		return nil, ErrRan
	}
	r.ran = true
	r.mu.Unlock()
	defer r.closeAll()

	if !r.cfg.AllowRemote {
		if err := r.checkLoopback(ctx); err != nil {
			return nil, err
		}
	}
	r.rep.StartedAt = r.now().UTC()

	// RSA keys take a while: generate them while the admin API provisions.
	warmCtx, stopWarm := context.WithCancel(ctx)
	var warm sync.WaitGroup
	warm.Go(func() { _ = r.keys.Warm(warmCtx, runtime.NumCPU()) })
	defer func() { stopWarm(); warm.Wait() }()

	t0 := r.now()
	runID, err := pickRunID(ctx, r.cfg.Admin, r.cfg.RunID, r.rng)
	if err != nil {
		return nil, err
	}
	r.rep.RunID = runID
	ids := fleetIdentities(runID, r.cfg.Terminals, r.cfg.TerminalsPerMerchant)
	codes, err := provision(ctx, r.cfg.Admin, ids, r.cfg.SetupConcurrency)
	r.rep.Setup.ProvisionS = seconds(r.now().Sub(t0))
	if err != nil {
		return nil, err
	}
	r.progressf("run %s: provisioned %d terminals of %d merchants in %.2f s", runID, len(ids), r.rep.Merchants, r.rep.Setup.ProvisionS)
	warm.Wait()
	if err := r.setUp(ctx, ids, codes); err != nil {
		return nil, err
	}

	if n := r.cfg.IdleConnections; n > 0 {
		opened, err := r.idle.open(ctx, r.dial, r.cfg.Target, len(ids), n, 64, r.cfg.Timeout)
		r.rep.Idle = &report.Idle{Requested: n, Opened: opened}
		if err != nil {
			r.progressf("idle connections: %d of %d opened; first error: %v", opened, n, err)
			r.rec.note("idle_connect")
		} else {
			r.progressf("idle connections: %d opened", opened)
		}
	}

	opCtx := context.WithoutCancel(ctx)
	ct0, cs0, cok0 := cpuTimes()
	r.traffic(ctx, opCtx)
	ct1, cs1, cok1 := cpuTimes()
	r.rep.CPUStealPct = stealShare(ct0, cs0, cok0, ct1, cs1, cok1)

	if r.rep.Idle != nil {
		r.rep.Idle.AliveAtEnd = r.idle.alive(opCtx, 64)
	}
	settleCtx, cancel := context.WithTimeout(opCtx, 10*r.cfg.Timeout+time.Minute)
	defer cancel()
	r.settleAll(settleCtx)

	r.rec.fill(r.rep)
	r.rep.Batches, _ = r.rec.batchCounts()
	for _, w := range r.workers {
		r.rep.ApprovedAmountFen += w.approvedFen
		if w.term.ReversalPending() {
			r.rep.ReversalsPending++
		}
	}
	if r.cfg.Books != nil {
		if err := r.writeBooks(); err != nil {
			return r.rep, err
		}
	}
	return r.rep, nil
}

// writeBooks writes every terminal's book to Config.Books.
func (r *Runner) writeBooks() error {
	var all []BookEntry
	for _, w := range r.workers {
		all = append(all, w.entries...)
	}
	if err := WriteBooks(r.cfg.Books, all); err != nil {
		return fmt.Errorf("loadtest: books: %w", err)
	}
	return nil
}

func (r *Runner) checkLoopback(ctx context.Context) error {
	host, _, err := net.SplitHostPort(r.cfg.Target)
	if err != nil {
		return &ConfigError{"Target", "must be host:port"}
	}
	if err := CheckLoopback(ctx, host); err != nil {
		return err
	}
	u, err := url.Parse(r.cfg.Admin.BaseURL)
	if err != nil {
		return &ConfigError{"Admin", "BaseURL must be a URL"}
	}
	return CheckLoopback(ctx, u.Hostname())
}

// closeAll closes the terminals' and the idle connections.
func (r *Runner) closeAll() {
	for _, w := range r.workers {
		if w != nil {
			_ = w.term.Close()
		}
	}
	r.idle.close()
}

// traffic sends the schedule's requests to idle terminals until the schedule ends or stop is
// done, then waits for every terminal to finish. Requests run under opCtx.
func (r *Runner) traffic(stop, opCtx context.Context) {
	n := len(r.workers)
	idle := make(chan *worker, n)
	var wg sync.WaitGroup
	for _, w := range r.workers {
		idle <- w
		wg.Go(func() {
			for j := range w.jobs {
				o := w.do(opCtx, j)
				o.done = r.now()
				r.rec.record(o)
				if w.term.BookLen() >= r.cfg.BatchLimit {
					w.settleBatch(opCtx, r.rec) // the batch is full: settle before the next request
				}
				idle <- w
			}
		})
	}

	sched := Schedule{Rate: r.cfg.Rate, Duration: r.cfg.Duration}
	total := sched.Count()
	start := r.now().Add(10 * time.Millisecond)
	r.rec.start = start
	deadline := start.Add(r.cfg.Duration + r.cfg.Drain)
	r.progressf("sending %d transactions at %s/s for %s (mix %s)", total, fmtRate(r.cfg.Rate), r.cfg.Duration, r.cfg.Mix)

	done := make(chan struct{})
	var pg sync.WaitGroup
	if r.cfg.Progress != nil {
		pg.Go(func() { r.showProgress(done, start) })
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	mixTotal := r.cfg.Mix.Total()
schedule:
	for i := int64(0); i < total; i++ {
		due := start.Add(sched.Offset(i))
		if d := due.Sub(r.now()); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-stop.Done():
				break schedule
			}
		}
		kind := r.cfg.Mix.Pick(r.rng.IntN(mixTotal))
		var w *worker
		queued := false
		select {
		case w = <-idle:
		default:
			// No idle terminal: the request waits, and its latency keeps growing.
			queued = true
			timer.Reset(deadline.Sub(r.now()))
			select {
			case w = <-idle:
			case <-timer.C:
				r.rec.abandon(total - i)
				break schedule
			case <-stop.Done():
				break schedule
			}
		}
		r.rec.dispatched(due, queued)
		w.jobs <- job{kind: kind, due: due}
	}
	for range n {
		<-idle
	}
	for _, w := range r.workers {
		close(w.jobs)
	}
	wg.Wait()
	close(done)
	pg.Wait()
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func fmtRate(v float64) string { return fmt.Sprintf("%g", v) }
