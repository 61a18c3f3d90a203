package redisstate_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/redisstate"
	"github.com/posgate/posgate/gateway/statetest"
	"github.com/posgate/posgate/internal/redistest"
)

// prefixes gives every State of a test run its own key space on the shared server.
var prefixes atomic.Int64

func newState(t testing.TB, srv *redistest.Server) *redisstate.State {
	t.Helper()
	s, err := redisstate.New(redisstate.Config{
		URL:    srv.URL(),
		Prefix: "test" + strconv.FormatInt(prefixes.Add(1), 10) + ":",
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	statetest.Run(t, func(t *testing.T) gateway.State { return newState(t, srv) })
}

// CompleteWithTotals stores the response and adds the totals once per entry, in one pipeline,
// also after Redis lost its scripts.
func TestCompleteWithTotals(t *testing.T) {
	srv := redistest.Start(t)
	s := newState(t, srv)
	ctx := context.Background()
	key := gateway.RetransmitKey{TID: "TERM0001", Batch: 1, STAN: 7, MTI: "0200"}
	hash := gateway.ContentHash{1, 2, 3}
	add := gateway.TotalsAdd{TID: "TERM0001", Batch: 1, Entry: "txn-1", Delta: gateway.Totals{DebitCount: 1, DebitAmount: 1200}}
	for i, flush := range []bool{false, true} {
		if flush {
			if err := redis.NewClient(&redis.Options{Addr: srv.Addr}).ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		key.STAN = uint32(10 + i)
		if res, _, err := s.Reserve(ctx, key, hash, time.Minute); err != nil || res != gateway.ReserveNew {
			t.Fatalf("Reserve: %v %v", res, err)
		}
		if err := s.CompleteWithTotals(ctx, key, []byte("answer"), time.Hour, add); err != nil {
			t.Fatalf("CompleteWithTotals (scripts flushed: %v): %v", flush, err)
		}
		res, resp, err := s.Reserve(ctx, key, hash, time.Minute)
		if err != nil || res != gateway.ReserveDone || string(resp) != "answer" {
			t.Fatalf("retransmission after CompleteWithTotals: %v %q %v", res, resp, err)
		}
	}
	// The same entry twice: counted once.
	if got, err := s.GetTotals(ctx, "TERM0001", 1); err != nil || got != add.Delta {
		t.Fatalf("totals %+v %v, want %+v", got, err, add.Delta)
	}
}
