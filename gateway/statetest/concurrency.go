package statetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/posgate/posgate/gateway"
)

// racers is how many goroutines race in the concurrency cases (gateway nodes, in effect).
const racers = 16

// testConcurrentReserve: of many simultaneous Reserves of one key exactly one owns it; the others
// see it busy (same content) or conflicting (other content).
func testConcurrentReserve(t *testing.T, e *env) {
	k := rkey(100)
	hashes := make([]gateway.ContentHash, racers)
	for i := range hashes {
		hashes[i] = hash(0x10)
		if i%4 == 3 {
			hashes[i] = hash(0x20 + byte(i)) // some racers retransmit with other content
		}
	}
	got := make([]gateway.Reservation, racers)
	errs := race(racers, func(i int) error {
		var err error
		got[i], _, err = e.Reserve(e.ctx, k, hashes[i], ttl)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: Reserve: %v", i, err)
		}
	}
	winner := slices.Index(got, gateway.ReserveNew)
	if winner < 0 || slices.Index(got[winner+1:], gateway.ReserveNew) >= 0 {
		t.Fatalf("outcomes %v: want exactly one ReserveNew", got)
	}
	for i, r := range got {
		want := gateway.ReserveConflict
		if hashes[i] == hashes[winner] {
			want = gateway.ReserveBusy
		}
		if i != winner && r != want {
			t.Errorf("racer %d: Reserve = %s, want %s", i, name(r), name(want))
		}
	}
}

// testConcurrentUpdateTxn: of many updates from the same version exactly one wins; the others
// get ErrConflict, and the stored record is the winner's.
func testConcurrentUpdateTxn(t *testing.T, e *env) {
	rec := record(tid1, 10, 1)
	rec.Status, rec.Refunded = gateway.TxnApproved, 0
	e.mustPut(t, rec)
	results := make([]gateway.TxnRecord, racers)
	errs := race(racers, func(i int) error {
		r := rec
		r.Refunded = int64(i + 1)
		var err error
		results[i], err = e.UpdateTxn(e.ctx, r)
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("racers %d and %d both updated version 0", winner, i)
			}
			winner = i
		case !errors.Is(err, gateway.ErrConflict):
			t.Fatalf("racer %d: UpdateTxn: %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer updated the record")
	}
	got := e.mustGet(t, rec.Key())
	if got.Version != 1 || got.Refunded != int64(winner+1) {
		t.Errorf("stored version %d, refunded %d; want 1, %d (the winner's)", got.Version, got.Refunded, winner+1)
	}
	sameRecord(t, "winner's result", results[winner], got)
}

// testConcurrentAddTotalsSameEntry: one entry added by many racers counts once, and every racer
// is told the same totals.
func testConcurrentAddTotalsSameEntry(t *testing.T, e *env) {
	d := gateway.Totals{DebitAmount: 12345, DebitCount: 1}
	got := make([]gateway.Totals, racers)
	errs := race(racers, func(i int) error {
		var err error
		got[i], err = e.AddTotals(e.ctx, tid1, 3, "same", d)
		return err
	})
	for i := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: AddTotals: %v", i, errs[i])
		}
		if got[i] != d {
			t.Errorf("racer %d: AddTotals = %+v, want %+v", i, got[i], d)
		}
	}
	if total := e.totals(t, tid1, 3); total != d {
		t.Errorf("GetTotals = %+v, want %+v", total, d)
	}
}

// testConcurrentAddTotalsDistinct: distinct entries added at once all count, each exactly once
// (every racer also repeats its entry).
func testConcurrentAddTotalsDistinct(t *testing.T, e *env) {
	errs := race(2*racers, func(i int) error {
		j := i % racers
		d := gateway.Totals{DebitAmount: int64(j + 1), DebitCount: 1}
		if j%2 == 1 {
			d = gateway.Totals{CreditAmount: int64(j + 1), CreditCount: 1}
		}
		_, err := e.AddTotals(e.ctx, tid2, 4, fmt.Sprintf("e%d", j), d)
		return err
	})
	var want gateway.Totals
	for j := range racers {
		if errs[j] != nil || errs[j+racers] != nil {
			t.Fatalf("racer %d: AddTotals: %v, %v", j, errs[j], errs[j+racers])
		}
		if j%2 == 1 {
			want = want.Add(gateway.Totals{CreditAmount: int64(j + 1), CreditCount: 1})
		} else {
			want = want.Add(gateway.Totals{DebitAmount: int64(j + 1), DebitCount: 1})
		}
	}
	if got := e.totals(t, tid2, 4); got != want {
		t.Errorf("GetTotals = %+v, want %+v", got, want)
	}
}

// testConcurrentCountDaily: simultaneous increments are each counted: the racers see 1..n.
func testConcurrentCountDaily(t *testing.T, e *env) {
	got := make([]int64, racers)
	errs := race(racers, func(i int) error {
		var err error
		got[i], err = e.CountDaily(e.ctx, tid1, today())
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: CountDaily: %v", i, err)
		}
	}
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("CountDaily results %v, want 1..%d each once", got, racers)
		}
	}
}
