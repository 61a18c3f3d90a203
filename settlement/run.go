package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
)

// Source is the journal as settlement reads it; *journal.Journal satisfies it.
type Source interface {
	// ReadRaw calls fn with every stored record of business date d in stream order,
	// duplicates included.
	ReadRaw(ctx context.Context, d journal.Date, fn func(journal.Record) error) error
}

// FileInfo describes one settlement file in the summary.
type FileInfo struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	Rows   int64  `json:"rows"`
}

// Summary is summary.json. Totals satisfy NetFen = GrossFen − RefundsFen − FeesFen, and so
// does every merchants.csv row. It holds nothing that differs between two runs over the
// same journal (no run time), so a re-run writes it byte for byte again.
type Summary struct {
	BusinessDate string `json:"business_date"`
	// CutOff is the end of the business date (its last instant is just before).
	CutOff string `json:"cut_off"`
	// Records counts the journal records read, duplicates included; Duplicates how many of
	// them repeated a TxnID already read and were skipped.
	Records    int64 `json:"records"`
	Duplicates int64 `json:"duplicates"`
	// Transactions counts the rows of transactions.csv (Settled + Deducted + Excluded).
	Transactions int64 `json:"transactions"`
	Settled      int64 `json:"settled"`
	Deducted     int64 `json:"deducted"`
	Excluded     int64 `json:"excluded"`
	GrossFen     int64 `json:"gross_fen"`
	RefundsFen   int64 `json:"refunds_fen"`
	FeesFen      int64 `json:"fees_fen"`
	NetFen       int64 `json:"net_fen"`
	Merchants    int64 `json:"merchants"`
	// UnknownMerchants counts MIDs without master data (settled on the default plan, with
	// empty name and account: finance must resolve them before paying).
	UnknownMerchants int64 `json:"unknown_merchants"`
	// NegativeMerchants counts merchants whose net is negative (refunds exceed the day's
	// sales): they owe the acquirer.
	NegativeMerchants int64 `json:"negative_merchants"`
	Batches           int64 `json:"batches"`
	// BatchesNotBalanced counts 0500 results whose totals did not match posgate's.
	BatchesNotBalanced int64 `json:"batches_not_balanced"`
	// BatchDifferences counts 0320 differences.
	BatchDifferences int64      `json:"batch_differences"`
	Files            []FileInfo `json:"files"`
}

// RunOptions are the choices of one run.
type RunOptions struct {
	// Out is the directory the run's directory OUT/YYYYMMDD is created in. Required.
	Out string
	// Rerun allows settling a date that has a finished run (the files are replaced; the run
	// record says it was a re-run and whether the files came out identical).
	Rerun bool
	// AllowOpen allows a date whose cut-off has not passed. Such a run is provisional: it
	// is recorded as open and does not count as the date's settlement.
	AllowOpen bool
}

// Settler runs settlements. Create it with New; Run may be called concurrently for
// different dates (the RunStore serialises a date).
type Settler struct {
	cfg       Config
	plans     map[string]*FeePlan
	src       Source
	merchants Merchants
	runs      RunStore
	log       *zap.Logger
}

// New validates cfg and returns a Settler reading src. merchants and runs are required;
// log may be nil.
func New(cfg Config, src Source, merchants Merchants, runs RunStore, log *zap.Logger) (*Settler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil || merchants == nil || runs == nil {
		return nil, &ConfigError{Field: "Source, Merchants and RunStore", Err: errRequired}
	}
	cfg = cfg.withDefaults()
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Settler{cfg: cfg, plans: cfg.plans(), src: src, merchants: merchants, runs: runs, log: log.Named("settlement")}, nil
}

// Calendar is the settler's calendar (defaults applied by the journal).
func (s *Settler) Calendar() journal.Calendar { return s.cfg.Calendar }

// Runs is the settler's run store.
func (s *Settler) Runs() RunStore { return s.runs }

// Closed reports whether business date d's cut-off has passed at now.
func (s *Settler) Closed(d journal.Date, now time.Time) bool {
	return !now.Before(s.cfg.Calendar.CutOffTime(d))
}

// Run settles business date d into opt.Out/YYYYMMDD and records the run. It returns the
// finished run record, or an error: ErrNotClosed, ErrAlreadySettled, ErrRunInProgress,
// ErrSuperseded (another run took the stale claim over; nothing was published), a
// *FeePlanError, ErrInvariant, or an I/O, journal or context error (the run is then
// recorded as failed and no file of it is published).
func (s *Settler) Run(ctx context.Context, d journal.Date, opt RunOptions) (RunRecord, error) {
	if d.IsZero() {
		return RunRecord{}, journal.ErrInvalidDate
	}
	if opt.Out == "" {
		return RunRecord{}, &ConfigError{Field: "RunOptions.Out", Err: errRequired}
	}
	now := s.cfg.Now()
	open := !s.Closed(d, now)
	if open && !opt.AllowOpen {
		return RunRecord{}, fmt.Errorf("%w: %s closes at %s", ErrNotClosed, isoDate(d),
			s.cfg.Calendar.CutOffTime(d).Format(time.RFC3339))
	}
	final := filepath.Join(opt.Out, d.String())
	rec, prev, err := s.runs.Begin(ctx, RunRecord{BusinessDate: isoDate(d), Open: open, Node: s.cfg.Node,
		Dir: final, StartedAt: now.UTC()}, opt.Rerun, s.cfg.StaleAfter)
	if err != nil {
		return rec, err
	}
	if rec.Rerun {
		s.log.Warn("re-running a settled business date", zap.String("date", rec.BusinessDate), zap.Int("run", rec.Run))
	}
	// Only the holder of the claim publishes: the commit is a compare-and-set on the record,
	// so a run that outlived a stale-claim takeover discards its files instead.
	commit := func() error {
		rec.State, rec.PublishingAt = StatePublishing, s.cfg.Now().UTC()
		var err error
		rec, err = s.runs.Update(ctx, rec)
		return err
	}
	sum, sumHash, err := s.settle(ctx, d, opt.Out, final, commit)
	rec.FinishedAt = s.cfg.Now().UTC()
	if errors.Is(err, ErrSuperseded) {
		s.log.Error("settlement run superseded by another run of the date: nothing published",
			zap.String("date", rec.BusinessDate), zap.Int("run", rec.Run))
		return rec, err
	}
	if err != nil {
		rec.State, rec.Error = StateFailed, err.Error()
		if ferr := s.runs.Finish(context.WithoutCancel(ctx), rec); ferr != nil {
			s.log.Error("run record not updated", zap.Error(ferr))
		}
		return rec, err
	}
	rec.State, rec.Summary, rec.SummarySHA256 = StateFinished, &sum, sumHash
	if !rec.Open && rec.SettledRun == 0 {
		rec.SettledRun = rec.Run
	}
	if prev != nil && prev.State == StateFinished && prev.SummarySHA256 != "" {
		same := prev.SummarySHA256 == sumHash // the summary holds every CSV's SHA-256
		rec.Identical = &same
	}
	if err := s.runs.Finish(ctx, rec); err != nil {
		return rec, fmt.Errorf("settlement: record run: %w", err)
	}
	s.log.Info("settlement run finished", zap.String("date", rec.BusinessDate), zap.Int("run", rec.Run),
		zap.Int64("transactions", sum.Transactions), zap.Int64("net_fen", sum.NetFen), zap.Bool("open", rec.Open))
	return rec, nil
}

// merchantAgg is a merchant's running totals: the only state that grows during a run.
type merchantAgg struct {
	m                       Merchant
	known                   bool
	plan                    *FeePlan
	sales, refunds, exclude int64
	gross, refundFen, fees  int64
	net                     int64
}

// settle does the work of a run and publishes the files once commit (the run's claim
// re-asserted) succeeds.
func (s *Settler) settle(ctx context.Context, d journal.Date, out, final string, commit func() error) (Summary, string, error) {
	if err := os.MkdirAll(out, 0o750); err != nil {
		return Summary{}, "", fmt.Errorf("settlement: output directory: %w", err)
	}
	tmp := filepath.Join(out, "."+d.String()+".tmp-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return Summary{}, "", fmt.Errorf("settlement: output directory: %w", err)
	}
	published := false
	defer func() {
		if !published {
			_ = os.RemoveAll(tmp)
		}
	}()

	sum := Summary{BusinessDate: isoDate(d), CutOff: s.cfg.Calendar.CutOffTime(d).Format(time.RFC3339)}
	sp, err := newSpill(s.cfg.TempDir, s.cfg.Partitions)
	if err != nil {
		return sum, "", err
	}
	defer sp.remove()
	// Pass 1: stream the journal into partitions.
	t1 := time.Now()
	err = s.src.ReadRaw(ctx, d, func(r journal.Record) error {
		if !r.Type.MovesMoney() && !r.Type.IsBatch() {
			return nil // write-ahead intents and declines: no money moved
		}
		r.Answer = "" // the terminal's answer is for retransmissions, not for settlement
		sum.Records++
		return sp.add(&r)
	})
	if err == nil {
		err = sp.close()
	}
	if err != nil {
		return sum, "", err
	}
	s.log.Info("journal read and spilled", zap.String("date", isoDate(d)), zap.Int64("records", sum.Records),
		zap.Duration("took", time.Since(t1)))
	t2 := time.Now()
	// Pass 2: net each partition, stream rows.
	txf, err := createHashed(tmp, FileTransactions)
	if err != nil {
		return sum, "", err
	}
	defer txf.abort()
	btf, err := createHashed(tmp, FileBatches)
	if err != nil {
		return sum, "", err
	}
	defer btf.abort()
	if err := txf.header(transactionsHeader); err != nil {
		return sum, "", err
	}
	if err := btf.header(batchesHeader); err != nil {
		return sum, "", err
	}
	p := &partitionRun{s: s, date: d, tx: txf, bt: btf, sum: &sum, merchants: map[string]*merchantAgg{},
		seen: map[string]struct{}{}, loc: s.cfg.Calendar.CutOffTime(d).Location()}
	// The next partition is read and decoded while the current one is settled.
	type loaded struct {
		recs []journal.Record
		err  error
	}
	parts := make(chan loaded, 1)
	stop := make(chan struct{})
	var loader sync.WaitGroup
	loader.Add(1)
	go func() {
		defer loader.Done()
		defer close(parts)
		for part := range sp.n {
			recs, err := sp.load(part, make([]journal.Record, 0, sp.n[part]))
			select {
			case parts <- loaded{recs, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		loader.Wait()
	}()
	for l := range parts {
		if l.err != nil {
			return sum, "", l.err
		}
		if err := ctx.Err(); err != nil {
			return sum, "", err
		}
		if err := p.run(ctx, l.recs); err != nil {
			return sum, "", err
		}
	}
	s.log.Info("partitions settled", zap.String("date", isoDate(d)), zap.Duration("took", time.Since(t2)))
	txInfo, err := txf.close()
	if err != nil {
		return sum, "", err
	}
	btInfo, err := btf.close()
	if err != nil {
		return sum, "", err
	}
	mInfo, err := s.writeMerchants(tmp, d, p.merchants, &sum)
	if err != nil {
		return sum, "", err
	}
	if err := checkTotals(&sum, p); err != nil {
		return sum, "", err
	}
	sum.Files = []FileInfo{mInfo, txInfo, btInfo}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return sum, "", fmt.Errorf("settlement: summary: %w", err)
	}
	js = append(js, '\n')
	if err := writeFileSynced(tmp, FileSummary, js); err != nil {
		return sum, "", err
	}
	if err := commit(); err != nil {
		return sum, "", err
	}
	if err := publish(tmp, final); err != nil {
		return sum, "", err
	}
	published = true
	h := sha256.Sum256(js)
	return sum, hex.EncodeToString(h[:]), nil
}

// checkTotals verifies the invariants over independently accumulated figures: the rows'
// sums equal the merchants' sums, and net = gross − refunds − fees overall and per merchant.
func checkTotals(sum *Summary, p *partitionRun) error {
	var g, r, f, n int64
	for mid, m := range p.merchants {
		if m.net != m.gross-m.refundFen-m.fees {
			return fmt.Errorf("%w: merchant %s", ErrInvariant, mid)
		}
		g, r, f, n = g+m.gross, r+m.refundFen, f+m.fees, n+m.net
	}
	sum.GrossFen, sum.RefundsFen, sum.FeesFen, sum.NetFen = g, r, f, n
	if n != g-r-f || n != p.rowNet || f != p.rowFees {
		return fmt.Errorf("%w: totals", ErrInvariant)
	}
	if sum.Transactions != sum.Settled+sum.Deducted+sum.Excluded {
		return fmt.Errorf("%w: row counts", ErrInvariant)
	}
	return nil
}

// writeMerchants writes merchants.csv, one row per merchant with rows in the run, by MID.
func (s *Settler) writeMerchants(dir string, d journal.Date, ms map[string]*merchantAgg, sum *Summary) (FileInfo, error) {
	hf, err := createHashed(dir, FileMerchants)
	if err != nil {
		return FileInfo{}, err
	}
	defer hf.abort()
	if err := hf.header(merchantsHeader); err != nil {
		return FileInfo{}, err
	}
	mids := make([]string, 0, len(ms))
	for mid := range ms {
		mids = append(mids, mid)
	}
	slices.Sort(mids)
	date := isoDate(d)
	for _, mid := range mids {
		m := ms[mid]
		sum.Merchants++
		if !m.known {
			sum.UnknownMerchants++
		}
		if m.net < 0 {
			sum.NegativeMerchants++
		}
		hf.field(date)
		hf.field(mid)
		hf.field(m.m.Name)
		hf.field(m.m.Account)
		hf.field(m.plan.Name)
		hf.int(m.sales)
		hf.int(m.gross)
		hf.int(m.refunds)
		hf.int(m.refundFen)
		hf.int(m.fees)
		hf.int(m.net)
		hf.int(m.exclude)
		if err := hf.endRow(true); err != nil {
			return FileInfo{}, fmt.Errorf("settlement: write %s: %w", FileMerchants, err)
		}
	}
	return hf.close()
}

// merchant returns the aggregate of mid, looking its master data up once.
func (p *partitionRun) merchant(ctx context.Context, mid string) (*merchantAgg, error) {
	if m, ok := p.merchants[mid]; ok {
		return m, nil
	}
	agg := &merchantAgg{m: Merchant{MID: mid}}
	m, err := p.s.merchants.Merchant(ctx, mid)
	switch {
	case err == nil:
		agg.m, agg.known = m, true
		agg.m.MID = mid
	case errors.Is(err, ErrUnknownMerchant):
		p.s.log.Warn("merchant without master data: default fee plan, no account", zap.String("mid", mid))
	default:
		return nil, fmt.Errorf("settlement: merchant %s: %w", mid, err)
	}
	name := agg.m.FeePlan
	if name == "" {
		name = DefaultPlanName
	}
	plan, ok := p.s.plans[name]
	if !ok {
		return nil, &FeePlanError{MID: mid, Plan: name}
	}
	agg.plan = plan
	p.merchants[mid] = agg
	return agg, nil
}
