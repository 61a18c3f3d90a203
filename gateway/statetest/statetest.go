// Package statetest is the contract test suite every gateway.State implementation passes
// (litestream's RunWithReplicaClient pattern): an implementation's test calls Run with a factory
// that returns a fresh, empty State, and every case runs as a subtest against its own State.
//
// The cases cover every method and every Reservation outcome, expiry with a short real ttl
// (polled, never timed), and races of many goroutines standing in for many gateway nodes; run
// them under -race.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// Factory returns a new, empty State and registers its Close with t.Cleanup. States made by
// separate calls must not share entries.
type Factory func(t *testing.T) gateway.State

// Run runs the contract suite against States made by newState.
func Run(t *testing.T, newState Factory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"ReserveNewCompleteDone", testReserveNewCompleteDone},
		{"ReserveBusy", testReserveBusy},
		{"ReserveConflict", testReserveConflict},
		{"ReserveKeyParts", testReserveKeyParts},
		{"Release", testRelease},
		{"Restore", testRestore},
		{"CompleteUnreserved", testCompleteUnreserved},
		{"ReserveInvalidTTL", testReserveInvalidTTL},
		{"ReserveExpiry", testReserveExpiry},
		{"TxnRoundTrip", testTxnRoundTrip},
		{"TxnExists", testTxnExists},
		{"TxnNotFound", testTxnNotFound},
		{"TxnUpdate", testTxnUpdate},
		{"TotalsIdempotent", testTotalsIdempotent},
		{"TotalsUnknownBatch", testTotalsUnknownBatch},
		{"CountDaily", testCountDaily},
		{"Canceled", testCanceled},
		{"ConcurrentReserve", testConcurrentReserve},
		{"ConcurrentUpdateTxn", testConcurrentUpdateTxn},
		{"ConcurrentAddTotalsSameEntry", testConcurrentAddTotalsSameEntry},
		{"ConcurrentAddTotalsDistinct", testConcurrentAddTotalsDistinct},
		{"ConcurrentCountDaily", testConcurrentCountDaily},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, &env{State: newState(t), ctx: context.Background()})
		})
	}
}

// env is one case's State.
type env struct {
	gateway.State
	ctx context.Context
}

// Fixtures.
const (
	tid1 = "10000001"
	tid2 = "10000002"
	mid1 = "898310048161234"
	day  = 24 * time.Hour
)

// ttl is the retransmission ttl of the cases that do not test expiry.
const ttl = time.Hour

// rkey returns the retransmission key of a purchase of tid1 in batch 1 with the given STAN.
func rkey(stan uint32) gateway.RetransmitKey {
	return gateway.RetransmitKey{TID: tid1, Batch: 1, STAN: stan, MTI: "0200"}
}

// hash returns a content hash whose every byte is b.
func hash(b byte) gateway.ContentHash {
	var h gateway.ContentHash
	for i := range h {
		h[i] = b
	}
	return h
}

// frame returns a response frame holding every byte value, so binary safety is tested.
func frame(n int) []byte {
	b := make([]byte, 256+n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func (e *env) reserve(t *testing.T, key gateway.RetransmitKey, h gateway.ContentHash) (gateway.Reservation, []byte) {
	t.Helper()
	r, resp, err := e.Reserve(e.ctx, key, h, ttl)
	if err != nil {
		t.Fatalf("Reserve(%+v): %v", key, err)
	}
	return r, resp
}

func (e *env) wantReserve(t *testing.T, key gateway.RetransmitKey, h gateway.ContentHash, want gateway.Reservation) []byte {
	t.Helper()
	got, resp := e.reserve(t, key, h)
	if got != want {
		t.Fatalf("Reserve(%+v) = %s, want %s", key, name(got), name(want))
	}
	if want != gateway.ReserveDone && resp != nil {
		t.Errorf("Reserve(%+v) = %s with a response of %d bytes, want none", key, name(got), len(resp))
	}
	return resp
}

// name returns a readable name of a Reservation for failure messages.
func name(r gateway.Reservation) string {
	switch r {
	case gateway.ReserveNew:
		return "ReserveNew"
	case gateway.ReserveDone:
		return "ReserveDone"
	case gateway.ReserveBusy:
		return "ReserveBusy"
	case gateway.ReserveConflict:
		return "ReserveConflict"
	}
	return fmt.Sprintf("Reservation(%d)", r)
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// today is the business date the counter cases use: counters of dates long past expire at once.
func today() journal.Date { return journal.DateOf(time.Now().UTC()) }

// eventually polls cond until it holds or the deadline passes; it asserts an outcome, never how
// long it took.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: did not happen within 20 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// race runs fn(i) in n goroutines released together and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
