package settlement

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/journal"
)

func TestRerunIsByteIdenticalAndRecorded(t *testing.T) {
	tj := startJournal(t)
	d := day0
	p := txn(d, "p", journal.TypePurchase, journal.CardDebit, 12345)
	appendAll(t, tj.j, p, reversal(d, txn(d, "x", journal.TypePurchase, journal.CardQR, 1)),
		txn(d, "r", journal.TypeRefund, journal.CardCredit, 100, of("old", d.AddDays(-1))))
	runs := &MemRuns{}
	s := newSettler(t, tj.j, Config{}, nil, runs)
	out := t.TempDir()
	ctx := context.Background()
	first, err := s.Run(ctx, d, RunOptions{Out: out})
	if err != nil || first.Run != 1 || first.State != StateFinished || first.Rerun || first.SettledRun != 1 {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	before := snapshot(t, filepath.Join(out, d.String()))
	if _, err := s.Run(ctx, d, RunOptions{Out: out}); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("second run without Rerun: err = %v, want ErrAlreadySettled", err)
	}
	again, err := s.Run(ctx, d, RunOptions{Out: out, Rerun: true})
	if err != nil || again.Run != 2 || !again.Rerun || again.Identical == nil || !*again.Identical || again.SettledRun != 1 {
		t.Fatalf("re-run: %+v, %v", again, err)
	}
	after := snapshot(t, filepath.Join(out, d.String()))
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("%s differs after re-run", name)
		}
	}
	// A late record changes the files; the re-run says so.
	appendAll(t, tj.j, txn(d, "late", journal.TypePurchase, journal.CardDebit, 1))
	third, err := s.Run(ctx, d, RunOptions{Out: out, Rerun: true})
	if err != nil || third.Identical == nil || *third.Identical {
		t.Fatalf("re-run after a late record: %+v, %v", third, err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("output holds %d entries, want only the date directory (no temporaries)", len(entries))
	}
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range Files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

type failingMerchants struct{}

func (failingMerchants) Merchant(context.Context, string) (Merchant, error) {
	return Merchant{}, errors.New("registry down")
}

func TestFailedRunPublishesNothing(t *testing.T) {
	tj := startJournal(t)
	d := day0
	appendAll(t, tj.j, txn(d, "p", journal.TypePurchase, journal.CardDebit, 100))
	runs := &MemRuns{}
	out := t.TempDir()
	s := newSettler(t, tj.j, Config{}, failingMerchants{}, runs)
	rec, err := s.Run(context.Background(), d, RunOptions{Out: out})
	if err == nil || rec.State != StateFailed {
		t.Fatalf("run with failing merchants: %+v, %v", rec, err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Fatalf("failed run left %d entries in the output", len(entries))
	}
	// Unknown fee plan: a typed error naming the merchant.
	s = newSettler(t, tj.j, Config{}, MerchantTable{testMID: {MID: testMID, FeePlan: "gold"}}, runs)
	_, err = s.Run(context.Background(), d, RunOptions{Out: out})
	var fe *FeePlanError
	if !errors.As(err, &fe) || fe.Plan != "gold" || !errors.Is(err, ErrUnknownFeePlan) {
		t.Fatalf("unknown plan: err = %v", err)
	}
	// A failed run does not count as settled: the next one needs no Rerun. An unknown
	// merchant settles on the default plan and is counted.
	s = newSettler(t, tj.j, Config{}, MerchantTable{}, runs)
	rec, err = s.Run(context.Background(), d, RunOptions{Out: out})
	if err != nil || rec.Rerun || rec.Run != 3 || rec.Summary.UnknownMerchants != 1 || rec.Summary.FeesFen != 1 {
		t.Fatalf("run after failures: %+v, %v", rec, err)
	}
}

func TestBatchesFile(t *testing.T) {
	tj := startJournal(t)
	d := day0
	p1 := txn(d, "p1", journal.TypePurchase, journal.CardDebit, 1000)
	p2 := txn(d, "p2", journal.TypePurchase, journal.CardDebit, 2000)
	r1 := txn(d, "r1", journal.TypeRefund, journal.CardDebit, 300, of("p1", d))
	settle := txn(d, "s", journal.TypeBatchSettlement, 0, 0, func(r *journal.Record) {
		r.MTI, r.ProcessingCode, r.Currency, r.MaskedPAN, r.PANToken, r.RRN, r.AuthCode, r.Route = "0500", "", "", "", "", "", "", ""
		r.BatchResult.Terminal = journal.Totals{DebitCount: 2, DebitAmount: 3000, CreditCount: 1, CreditAmount: 300}
		r.BatchResult.Posgate = journal.Totals{DebitCount: 2, DebitAmount: 3000, CreditCount: 1, CreditAmount: 300}
	})
	diff := settle
	diff.TxnID, diff.Type, diff.MTI, diff.STAN, diff.Amount = diff.TxnID+"-d", journal.TypeBatchDifference, "0320", "000077", 5
	diff.BatchResult = journal.BatchResult{Difference: journal.DiffAmount}
	other := txn(d, "o", journal.TypePurchase, journal.CardCredit, 10, func(r *journal.Record) { r.Batch = "000002" })
	appendAll(t, tj.j, p1, p2, r1, settle, diff, other)
	s := newSettler(t, tj.j, Config{}, nil, nil)
	out := t.TempDir()
	if _, err := s.Run(context.Background(), d, RunOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	sum := checkFiles(t, filepath.Join(out, d.String()))
	rows := readCSV(t, filepath.Join(out, d.String(), FileBatches))
	if len(rows) != 2 || sum.Batches != 2 || sum.BatchDifferences != 1 || sum.Transactions != 4 {
		t.Fatalf("batches %v, summary %+v", rows, sum)
	}
	b1, b2 := rows[0], rows[1]
	if b1["batch"] != "000001" || b1["result"] != BatchBalanced || b1["journal_debit_fen"] != "3000" ||
		b1["journal_credit_fen"] != "300" || b1["terminal_debit_count"] != "2" || b1["differences"] != "000077:amount" {
		t.Errorf("batch 1 row: %v", b1)
	}
	if b2["batch"] != "000002" || b2["result"] != BatchNoSettlement || b2["journal_debit_fen"] != "10" {
		t.Errorf("batch 2 row: %v", b2)
	}
}

// TestEndToEnd journals a random day of traffic over many terminals and merchants through
// two journal writers (so some records are stored twice), keeps its own books the way the
// fleet would, and checks that settlement's totals match them to the fen; the files do
// not depend on the number of partitions.
func TestEndToEnd(t *testing.T) {
	tj := startJournal(t)
	j2 := openJournal(t, tj.nc)
	d := day0
	rng := rand.New(rand.NewPCG(7, 7))
	merchants := MerchantTable{}
	var approved, refunded, wantFees int64 // the fleet's books
	plan := DefaultPlan()
	var recs []journal.Record
	for term := 0; term < 40; term++ {
		tid := fmt.Sprintf("T%07d", term)
		mid := fmt.Sprintf("M%014d", term%7)
		merchants[mid] = Merchant{MID: mid, Name: "m" + mid, Account: "acct"}
		for i := 0; i < 60; i++ {
			kind := journal.CardKind(1 + rng.IntN(3))
			amt := int64(1 + rng.IntN(800000))
			set := func(r *journal.Record) { r.TID, r.MID, r.STAN = tid, mid, fmt.Sprintf("%06d", i) }
			id := fmt.Sprintf("%s-%d", tid, i)
			p := txn(d, id, journal.TypePurchase, kind, amt, set)
			recs = append(recs, p)
			switch rng.IntN(10) {
			case 0: // voided
				recs = append(recs, txn(d, id+"v", journal.TypeVoid, kind, amt, of(id, d), set))
			case 1: // reversed
				recs = append(recs, reversal(d, p))
			case 2: // partly refunded
				ref := amt / 2
				recs = append(recs, txn(d, id+"r", journal.TypeRefund, kind, ref, of(id, d), set))
				approved, refunded, wantFees = approved+amt, refunded+ref, wantFees+plan.Rate(kind).Fee(amt)
			default:
				approved, wantFees = approved+amt, wantFees+plan.Rate(kind).Fee(amt)
			}
		}
	}
	rng.Shuffle(len(recs), func(i, k int) { recs[i], recs[k] = recs[k], recs[i] })
	appendAll(t, tj.j, recs...)
	appendAll(t, j2, recs[:100]...) // another node re-sends some
	var dirs []string
	for _, parts := range []int{1, 64} {
		s := newSettler(t, tj.j, Config{Partitions: parts}, merchants, nil)
		out := t.TempDir()
		rec, err := s.Run(context.Background(), d, RunOptions{Out: out})
		if err != nil {
			t.Fatal(err)
		}
		sum := checkFiles(t, filepath.Join(out, d.String()))
		if sum.GrossFen-sum.RefundsFen != approved-refunded || sum.FeesFen != wantFees || sum.Duplicates != 100 {
			t.Fatalf("partitions %d: gross−refunds %d, fees %d, dups %d; fleet books %d, %d, 100",
				parts, sum.GrossFen-sum.RefundsFen, sum.FeesFen, sum.Duplicates, approved-refunded, wantFees)
		}
		if rec.Summary.Records != int64(len(recs)+100) || sum.Merchants != 7 {
			t.Fatalf("records %d merchants %d", rec.Summary.Records, sum.Merchants)
		}
		dirs = append(dirs, filepath.Join(out, d.String()))
	}
	a, b := snapshot(t, dirs[0]), snapshot(t, dirs[1])
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between 1 and 64 partitions", name)
		}
	}
}

func TestRunValidation(t *testing.T) {
	tj := startJournal(t)
	s := newSettler(t, tj.j, Config{}, nil, nil)
	if _, err := s.Run(context.Background(), journal.Date{}, RunOptions{Out: t.TempDir()}); !errors.Is(err, journal.ErrInvalidDate) {
		t.Errorf("zero date: %v", err)
	}
	if _, err := s.Run(context.Background(), day0, RunOptions{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("no Out: %v", err)
	}
	// An empty day settles to empty files.
	out := t.TempDir()
	rec, err := s.Run(context.Background(), day0.AddDays(-30), RunOptions{Out: out})
	if err != nil || rec.Summary.Transactions != 0 || len(rec.Summary.Files) != 3 {
		t.Fatalf("empty day: %+v %v", rec, err)
	}
	_ = time.Second
}

// stalledSource holds a run inside its journal read until released, as a node stalled past
// the stale-claim limit (a long GC pause, a frozen VM) would.
type stalledSource struct {
	Source
	entered, release chan struct{}
}

func (s *stalledSource) ReadRaw(ctx context.Context, d journal.Date, fn func(journal.Record) error) error {
	close(s.entered)
	<-s.release
	return s.Source.ReadRaw(ctx, d, fn)
}

// A run that outlives the stale-claim takeover publishes nothing: the run that took the date
// over publishes, records the date once, and the stalled one returns ErrSuperseded.
func TestSupersededRunPublishesNothing(t *testing.T) {
	tj := startJournal(t)
	d := day0.AddDays(40)
	appendAll(t, tj.j, txn(d, "p", journal.TypePurchase, journal.CardDebit, 100))
	runs := &MemRuns{}
	out := t.TempDir()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	stalled := &stalledSource{Source: tj.j, entered: make(chan struct{}), release: make(chan struct{})}
	slow := newSettler(t, stalled, Config{Node: "slow", Now: func() time.Time { return start }}, nil, runs)
	type result struct {
		rec RunRecord
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := slow.Run(context.Background(), d, RunOptions{Out: out})
		done <- result{rec, err}
	}()
	<-stalled.entered
	later := start.Add(DefaultStaleAfter + time.Minute)
	fast := newSettler(t, tj.j, Config{Node: "fast", Now: func() time.Time { return later }}, nil, runs)
	rec, err := fast.Run(context.Background(), d, RunOptions{Out: out})
	if err != nil || rec.Run != 2 || rec.State != StateFinished {
		t.Fatalf("takeover run: %+v, %v", rec, err)
	}
	published, err := os.Stat(filepath.Join(out, d.String()))
	if err != nil {
		t.Fatal(err)
	}
	close(stalled.release)
	res := <-done
	if !errors.Is(res.err, ErrSuperseded) {
		t.Fatalf("stalled run: %+v, %v; want ErrSuperseded", res.rec, res.err)
	}
	got, err := runs.Get(context.Background(), d)
	if err != nil || got.Node != "fast" || got.Run != 2 || got.State != StateFinished || got.SettledRun != 2 {
		t.Errorf("run record after both: %+v, %v", got, err)
	}
	if now, err := os.Stat(filepath.Join(out, d.String())); err != nil || !os.SameFile(now, published) {
		t.Errorf("the stalled run published its files over the takeover's (%v)", err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("output holds %d entries, want only the published date", len(entries))
	}
}
