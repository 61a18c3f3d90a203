package statetest

import (
	"context"
	"testing"

	"github.com/posgate/posgate/gateway"
)

func (e *env) add(t *testing.T, tid string, batch uint32, entry string, d gateway.Totals) gateway.Totals {
	t.Helper()
	got, err := e.AddTotals(e.ctx, tid, batch, entry, d)
	if err != nil {
		t.Fatalf("AddTotals(%s, %d, %s): %v", tid, batch, entry, err)
	}
	return got
}

func (e *env) totals(t *testing.T, tid string, batch uint32) gateway.Totals {
	t.Helper()
	got, err := e.GetTotals(e.ctx, tid, batch)
	if err != nil {
		t.Fatalf("GetTotals(%s, %d): %v", tid, batch, err)
	}
	return got
}

// testTotalsIdempotent: an entry id counts once, whatever delta comes with its repetition;
// negative deltas (a void taking back a count) are allowed; batches and terminals are apart.
func testTotalsIdempotent(t *testing.T, e *env) {
	purchase := gateway.Totals{DebitAmount: 10000, DebitCount: 1}
	refund := gateway.Totals{CreditAmount: 2500, CreditCount: 1}
	correction := gateway.Totals{DebitAmount: -10000, DebitCount: -1}
	steps := []struct {
		entry string
		delta gateway.Totals
		want  gateway.Totals
	}{
		{"t1", purchase, purchase},
		{"t1", purchase, purchase},
		{"t1", refund, purchase}, // a repeated id never counts, even with another delta
		{"t2", refund, purchase.Add(refund)},
		{"t3", purchase, purchase.Add(refund).Add(purchase)},
		{"t1-void", correction, purchase.Add(refund)},
		{"t1-void", correction, purchase.Add(refund)},
		{"", purchase, purchase.Add(refund).Add(purchase)}, // the empty id is an id like any other
		{"", purchase, purchase.Add(refund).Add(purchase)},
	}
	for i, s := range steps {
		if got := e.add(t, tid1, 1, s.entry, s.delta); got != s.want {
			t.Fatalf("step %d: AddTotals(%q) = %+v, want %+v", i, s.entry, got, s.want)
		}
	}
	want := steps[len(steps)-1].want
	if got := e.totals(t, tid1, 1); got != want {
		t.Errorf("GetTotals = %+v, want %+v", got, want)
	}
	// Entry ids belong to their batch: the same id elsewhere counts again.
	if got := e.add(t, tid1, 2, "t1", refund); got != refund {
		t.Errorf("AddTotals in batch 2 = %+v, want %+v", got, refund)
	}
	if got := e.add(t, tid2, 1, "t1", purchase); got != purchase {
		t.Errorf("AddTotals of tid2 = %+v, want %+v", got, purchase)
	}
	if got := e.totals(t, tid1, 1); got != want {
		t.Errorf("GetTotals of batch 1 after other batches = %+v, want %+v", got, want)
	}
	neg := gateway.Totals{DebitAmount: -7, DebitCount: -2, CreditAmount: -5, CreditCount: -1}
	if got := e.add(t, tid2, 9, "n", neg); got != neg {
		t.Errorf("AddTotals negative into an empty batch = %+v, want %+v", got, neg)
	}
}

// testTotalsUnknownBatch: totals never added are zero, not an error.
func testTotalsUnknownBatch(t *testing.T, e *env) {
	e.add(t, tid1, 1, "x", gateway.Totals{DebitAmount: 1, DebitCount: 1})
	for _, k := range []struct {
		tid   string
		batch uint32
	}{{tid1, 2}, {tid2, 1}, {"99999999", 0}} {
		if got := e.totals(t, k.tid, k.batch); got != (gateway.Totals{}) {
			t.Errorf("GetTotals(%s, %d) = %+v, want zero", k.tid, k.batch, got)
		}
	}
}

// testCountDaily: counters count per terminal and per date.
func testCountDaily(t *testing.T, e *env) {
	d := today()
	steps := []struct {
		tid  string
		days int
		want int64
	}{
		{tid1, 0, 1}, {tid1, 0, 2}, {tid2, 0, 1}, {tid1, 0, 3},
		{tid1, 1, 1}, {tid1, -1, 1}, {tid2, 1, 1}, {tid1, 1, 2}, {tid2, 0, 2},
	}
	for i, s := range steps {
		got, err := e.CountDaily(e.ctx, s.tid, d.AddDays(s.days))
		if err != nil {
			t.Fatalf("step %d: CountDaily: %v", i, err)
		}
		if got != s.want {
			t.Errorf("step %d: CountDaily(%s, %v) = %d, want %d", i, s.tid, d.AddDays(s.days), got, s.want)
		}
	}
}

// testCanceled: every method honours a canceled ctx with an error that wraps ctx's.
func testCanceled(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	k := rkey(1)
	calls := []struct {
		name string
		call func() error
	}{
		{"Reserve", func() error { _, _, err := e.Reserve(ctx, k, hash(1), ttl); return err }},
		{"Complete", func() error { return e.Complete(ctx, k, frame(0), ttl) }},
		{"Release", func() error { return e.Release(ctx, k) }},
		{"PutTxn", func() error { return e.PutTxn(ctx, record(tid1, 1, 1)) }},
		{"GetTxn", func() error { _, err := e.GetTxn(ctx, gateway.TxnKey{TID: tid1, Batch: 1, STAN: 1}); return err }},
		{"UpdateTxn", func() error { _, err := e.UpdateTxn(ctx, record(tid1, 1, 1)); return err }},
		{"AddTotals", func() error { _, err := e.AddTotals(ctx, tid1, 1, "e", gateway.Totals{}); return err }},
		{"GetTotals", func() error { _, err := e.GetTotals(ctx, tid1, 1); return err }},
		{"CountDaily", func() error { _, err := e.CountDaily(ctx, tid1, today()); return err }},
	}
	for _, c := range calls {
		wantErr(t, c.name, c.call(), context.Canceled)
	}
	// Nothing was done.
	e.wantReserve(t, k, hash(2), gateway.ReserveNew)
	_, err := e.GetTxn(e.ctx, gateway.TxnKey{TID: tid1, Batch: 1, STAN: 1})
	wantErr(t, "GetTxn", err, gateway.ErrNotFound)
}
