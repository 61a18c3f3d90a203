package routing_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/routing/issuersim"
)

func testReversal(i int) *routing.Reversal {
	return &routing.Reversal{
		ID: fmt.Sprintf("rev-%d", i), Route: "cup", ProcessingCode: "000000", Amount: int64(100 + i),
		Original:   routing.Original{MTI: "0200", STAN: uint32(1000 + i), Transmission: "0307130405"},
		AcquirerID: "48021000", RRN: "000000000001", TID: "10400067", MID: "000000000000004", Reason: "98",
	}
}

func fastConfig() routing.ForwarderConfig {
	return routing.ForwarderConfig{InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		PollWait: 200 * time.Millisecond, RetryBudget: 3, Workers: 2}
}

func newForwarder(t *testing.T, c *routing.Client, cfg routing.ForwarderConfig) *routing.Forwarder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := routing.NewForwarder(ctx, c, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewForwarder: %v", err)
	}
	return f
}

func stats(t *testing.T, f *routing.Forwarder) routing.ReversalStats {
	t.Helper()
	s, err := f.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

// TestForwarder0400Then0420 sends a reversal to a route whose only listener never answers,
// then lets the simulator answer: the first attempt is a 0400, every repeat a 0420 with the
// same STAN and field 90, the alert is raised past the budget, and the 0430 removes it.
func TestForwarder0400Then0420(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		e := newEnv(t)
		spy := e.conn()
		var mu sync.Mutex
		var seen []*codec.Message
		sub, err := spy.Subscribe(routing.SubjectPrefix+"cup", func(m *nats.Msg) {
			up := codec.NewMessage(codec.Upstream)
			if err := up.Unpack(m.Data); err == nil {
				mu.Lock()
				seen = append(seen, up)
				mu.Unlock()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = spy.Flush()
		c := e.client(shortTable)
		f := newForwarder(t, c, fastConfig())
		rev := testReversal(1)
		if err := f.Enqueue(context.Background(), rev); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		if rev.STAN == 0 || rev.CreatedAt.IsZero() {
			t.Errorf("Enqueue did not set STAN/CreatedAt: %+v", rev)
		}
		if s := stats(t, f); s.Depth != 1 {
			t.Fatalf("depth %d after Enqueue, want 1", s.Depth)
		}
		f.Start()
		eventually(t, "three attempts and the alert", func() bool {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			return n >= 3 && stats(t, f).Alerts == 1
		})
		if s := stats(t, f); s.OverBudget != 1 || s.Depth != 1 || s.OldestAge <= 0 {
			t.Errorf("stats while over budget: %+v", s)
		}
		sim := e.sim(issuersim.Config{})
		// The queue empties when the message is acked; the counters follow a moment later.
		eventually(t, "acknowledgement", func() bool { s := stats(t, f); return s.Depth == 0 && s.Acknowledged == 1 })
		_ = sub.Unsubscribe()
		s := stats(t, f)
		if s.Acknowledged != 1 || s.OverBudget != 0 || s.Alerts != 1 || s.OldestAge != 0 {
			t.Errorf("stats after ack: %+v", s)
		}
		mu.Lock()
		for i, m := range seen {
			want := "0420"
			if i == 0 {
				want = "0400"
			}
			stan, _ := m.Number(11)
			if !m.IsMTI(want) || uint32(stan) != rev.STAN || string(m.Field(90)) != "0200"+"001001"+"0307130405"+"00048021000"+"00000000000" {
				t.Errorf("attempt %d: MTI %s STAN %d 90 %s, want %s STAN %d", i+1, m.MTI(), stan, m.Field(90), want, rev.STAN)
			}
			if m.Has(2) || m.Has(35) || m.Has(52) {
				t.Errorf("attempt %d carries card data", i+1)
			}
		}
		mu.Unlock()
		l := sim.Ledger().Routes["cup"]
		if l.Reversals.Count != 1 || l.Reversals.Fen != 101 || l.ReversalsUnknown.Count != 1 {
			t.Errorf("ledger %+v, want one reversal of an unknown original", l)
		}
		shutdown(t, f.Shutdown)
		shutdown(t, f.Shutdown) // idempotent
	})
	noLeak(t, before)
}

// TestForwarderRestartLosesNothing stops a forwarder halfway through the queue; a new one on
// the same stream forwards the rest, and the simulator receives every reversal once.
func TestForwarderRestartLosesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		e := newEnv(t)
		sim := e.sim(issuersim.Config{Latency: 30 * time.Millisecond})
		const n = 30
		c1 := e.client("")
		f1 := newForwarder(t, c1, routing.ForwarderConfig{Workers: 1, PollWait: 200 * time.Millisecond})
		for i := 0; i < n; i++ {
			if err := f1.Enqueue(context.Background(), testReversal(i)); err != nil {
				t.Fatalf("Enqueue %d: %v", i, err)
			}
		}
		f1.Start()
		eventually(t, "some reversals forwarded", func() bool { return stats(t, f1).Acknowledged >= 5 })
		shutdown(t, f1.Shutdown)
		s1 := stats(t, f1)
		if s1.Depth == 0 || s1.Depth+s1.Acknowledged != n {
			t.Fatalf("after first forwarder: depth %d + acknowledged %d, want %d with some left", s1.Depth, s1.Acknowledged, n)
		}
		f2 := newForwarder(t, e.client(""), routing.ForwarderConfig{Workers: 3, PollWait: 200 * time.Millisecond})
		f2.Start()
		eventually(t, "queue drained", func() bool { return stats(t, f2).Depth == 0 })
		shutdown(t, f2.Shutdown)
		if got := s1.Acknowledged + stats(t, f2).Acknowledged; got != n {
			t.Errorf("acknowledged %d in total, want %d", got, n)
		}
		l := sim.Ledger().Routes["cup"]
		if l.Reversals.Count != n || l.ReversalRepeats != 0 {
			t.Errorf("simulator saw %d distinct reversals and %d repeats, want %d and 0", l.Reversals.Count, l.ReversalRepeats, n)
		}
		var fen int64
		for i := 0; i < n; i++ {
			fen += testReversal(i).Amount
		}
		if l.Reversals.Fen != fen {
			t.Errorf("reversed %d fen, want %d", l.Reversals.Fen, fen)
		}
		// Each delivered reversal is recorded once, whichever forwarder delivered it.
		d, err := f2.Delivered(context.Background(), routing.DeliveredQuery{Limit: routing.MaxQueryLimit})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range d {
			if seen[r.Reversal.ID] || r.ResponseCode != "00" {
				t.Errorf("record %+v repeated or not 00", r)
			}
			seen[r.Reversal.ID] = true
		}
		if len(seen) != n {
			t.Errorf("%d reversals recorded, want %d", len(seen), n)
		}
	})
	noLeak(t, before)
}

// TestReversalsSurviveServerRestart stores reversals, restarts the NATS server on the same
// data directory, and forwards them from there.
func TestReversalsSurviveServerRestart(t *testing.T) {
	dir := t.TempDir()
	ns := natstest.StartWithConfig(t, natsembed.Config{DataDir: dir})
	nc := natstest.Connect(t, ns)
	c, err := routing.New(nc, routing.Config{Table: routing.DefaultTable()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newForwarder(t, c, fastConfig())
	for i := 0; i < 3; i++ {
		if err := f.Enqueue(context.Background(), testReversal(i)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	shutdown(t, ns.Shutdown)

	e := &env{t: t, ns: natstest.StartWithConfig(t, natsembed.Config{DataDir: dir})}
	sim := e.sim(issuersim.Config{})
	f2 := newForwarder(t, e.client(""), fastConfig())
	if s := stats(t, f2); s.Depth != 3 {
		t.Fatalf("depth after restart %d, want 3", s.Depth)
	}
	f2.Start()
	eventually(t, "queue drained", func() bool { return stats(t, f2).Depth == 0 })
	shutdown(t, f2.Shutdown)
	if got := sim.Ledger().Routes["cup"].Reversals.Count; got != 3 {
		t.Errorf("simulator saw %d reversals, want 3", got)
	}
	if got := delivered(t, f2, routing.DeliveredQuery{}); len(got) != 3 {
		t.Errorf("%d delivered reversals recorded, want 3", len(got))
	}
}

func TestEnqueueRejects(t *testing.T) {
	e := newEnv(t)
	f := newForwarder(t, e.client(""), fastConfig())
	tests := []struct {
		name string
		edit func(r *routing.Reversal)
		want error
	}{
		{"no id", func(r *routing.Reversal) { r.ID = "" }, routing.ErrNoTxnID},
		{"unknown route", func(r *routing.Reversal) { r.Route = "amex" }, routing.ErrUnknownRoute},
		{"no processing code", func(r *routing.Reversal) { r.ProcessingCode = "" }, routing.ErrMissing},
		{"bad original", func(r *routing.Reversal) { r.Original.Transmission = "x" }, routing.ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testReversal(1)
			tt.edit(r)
			err := f.Enqueue(context.Background(), r)
			if !errors.Is(err, routing.ErrReversal) || !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want ErrReversal and %v", err, tt.want)
			}
		})
	}
	if s := stats(t, f); s.Depth != 0 {
		t.Errorf("rejected reversals stored: depth %d", s.Depth)
	}
	// The same reversal enqueued twice is stored once (Nats-Msg-Id de-duplication).
	for i := 0; i < 2; i++ {
		if err := f.Enqueue(context.Background(), testReversal(7)); err != nil {
			t.Fatal(err)
		}
	}
	if s := stats(t, f); s.Depth != 1 {
		t.Errorf("depth %d after enqueueing one reversal twice, want 1", s.Depth)
	}
}

func TestForwarderConfig(t *testing.T) {
	cfg := routing.ForwarderConfig{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 50: 10 * time.Second} {
		if got := cfg.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
	bad := []routing.ForwarderConfig{
		{Workers: -1}, {RetryBudget: -1}, {InitialBackoff: time.Minute, MaxBackoff: time.Second},
		{AckWait: 10 * time.Second}, {Replicas: 7}, {PollWait: time.Millisecond},
		{LogMaxAge: 6 * 24 * time.Hour}, {LogStream: routing.DefaultReversalStream},
		{LogSubject: routing.DefaultReversalSubject + ".log"}, {LogSubject: "posgate"},
	}
	for i, c := range bad {
		if err := c.Validate(); !errors.Is(err, routing.ErrForwarderConfig) {
			t.Errorf("config %d: %v, want ErrForwarderConfig", i, err)
		}
	}
	if err := (routing.ForwarderConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
}
