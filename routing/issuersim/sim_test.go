package issuersim_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/routing/issuersim"
)

func TestLedgerMatchesWhatWasSent(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		ns := natstest.Start(t)
		sim, err := issuersim.New(natstest.Connect(t, ns), issuersim.Config{Instance: "one", Latency: time.Millisecond}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		c, err := routing.New(natstest.Connect(t, ns), routing.Config{Table: routing.DefaultTable()}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		n := 0
		send := func(typ routing.TxnType, amount int64, orig *routing.Result, repeat bool) routing.Result {
			t.Helper()
			n++
			req := &routing.Request{Type: typ, Txn: "t" + strconv.Itoa(n), PAN: []byte("6212345678901234"), Amount: amount,
				TID: []byte("10400067"), MID: []byte("000000000000004"), AcquirerID: []byte("48021000"), Repeat: repeat}
			if orig != nil {
				req.Original = &routing.Original{MTI: orig.RequestMTI, STAN: orig.STAN, Transmission: orig.Transmission}
			}
			if typ == routing.TxnReversal {
				req.PAN = nil
				req.ProcessingCode = []byte("000000")
			}
			res, err := c.Authorize(ctx, "cup", req)
			if err != nil {
				t.Fatalf("%v: %v", typ, err)
			}
			return res
		}
		p1 := send(routing.TxnPurchase, 1000, nil, false)
		send(routing.TxnPurchase, 1051, nil, false) // declined 51
		pre := send(routing.TxnPreAuth, 2000, nil, false)
		comp := send(routing.TxnCompletion, 2000, &pre, false)
		send(routing.TxnVoid, 1000, &p1, false)
		send(routing.TxnRefund, 300, &p1, false)
		send(routing.TxnBalance, 0, nil, false)
		p2 := send(routing.TxnPurchase, 700, nil, false)
		send(routing.TxnReversal, 700, &p2, false)
		send(routing.TxnReversal, 700, &p2, true) // repeat
		send(routing.TxnReversal, 2000, &comp, true)
		unknown := routing.Result{RequestMTI: "0200", STAN: 999_999, Transmission: "0101000000"}
		send(routing.TxnReversal, 55, &unknown, false)

		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, err := issuersim.QueryLedgers(qctx, natstest.Connect(t, ns), "", 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("QueryLedgers: %v (%d)", err, len(got))
		}
		want := issuersim.RouteLedger{
			Requests:          int64(n),
			Approvals:         issuersim.Amount{Count: 4, Fen: 1000 + 2000 + 2000 + 700},
			Purchases:         issuersim.Amount{Count: 2, Fen: 1700},
			PreAuths:          issuersim.Amount{Count: 1, Fen: 2000},
			Completions:       issuersim.Amount{Count: 1, Fen: 2000},
			Voids:             issuersim.Amount{Count: 1, Fen: 1000},
			Refunds:           issuersim.Amount{Count: 1, Fen: 300},
			Declines:          issuersim.Amount{Count: 1, Fen: 1051},
			Balances:          1,
			Reversals:         issuersim.Amount{Count: 3, Fen: 700 + 2000 + 55},
			ReversalRepeats:   1,
			ReversedApprovals: issuersim.Amount{Count: 2, Fen: 2700},
			ReversalsUnknown:  issuersim.Amount{Count: 1, Fen: 55},
		}
		if l := got[0].Routes["cup"]; l != want {
			t.Errorf("ledger\n got %+v\nwant %+v", l, want)
		}
		if got[0].Instances[0] != "one" || sim.Ledger().Routes["cup"] != want {
			t.Errorf("instance %v / in-process ledger differs", got[0].Instances)
		}
		shutdown := func() error {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return sim.Shutdown(sctx)
		}
		if err := shutdown(); err != nil {
			t.Fatal(err)
		}
		if err := shutdown(); err != nil { // idempotent
			t.Fatal(err)
		}
		if err := sim.Start(); !errors.Is(err, issuersim.ErrStopped) {
			t.Errorf("Start after Shutdown: %v", err)
		}
	})
	before2 := before
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before2 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  issuersim.Config
		ok   bool
	}{
		{"zero", issuersim.Config{}, true},
		{"full", issuersim.Config{Routes: []string{"cup", "visa"}, ZPK: make([]byte, 16), ExpectedPIN: "1234",
			LatencyMin: time.Millisecond, LatencyMax: 5 * time.Millisecond, DropRate: 0.5}, true},
		{"bad route", issuersim.Config{Routes: []string{"cup.x"}}, false},
		{"short ZPK", issuersim.Config{ZPK: make([]byte, 10)}, false},
		{"PIN letters", issuersim.Config{ExpectedPIN: "12ab"}, false},
		{"lost card not a PAN", issuersim.Config{LostCards: []string{"123"}}, false},
		{"latency and bounds", issuersim.Config{Latency: time.Millisecond, LatencyMax: time.Second}, false},
		{"bounds upside down", issuersim.Config{LatencyMin: time.Second, LatencyMax: time.Millisecond}, false},
		{"negative latency", issuersim.Config{Latency: -time.Millisecond}, false},
		{"drop above 1", issuersim.Config{DropRate: 1.5}, false},
		{"negative balance", issuersim.Config{Balance: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, issuersim.ErrConfig) {
				t.Errorf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestDurableLedgerSurvivesRestart: with a ledger stream, every booked request is stored before
// its answer; a simulator started again under the same instance name books them again, so its
// ledger is whole and it recognises a reversal of an approval made before the restart.
func TestDurableLedgerSurvivesRestart(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // injected: entries are stamped with it
	cfg := issuersim.Config{LedgerStream: issuersim.DefaultLedgerStream, Now: func() time.Time { return clock }}
	start := func() *issuersim.Simulator {
		t.Helper()
		sim, err := issuersim.New(natstest.Connect(t, ns), cfg, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		return sim
	}
	stop := func(sim *issuersim.Simulator) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := sim.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
	}
	c, err := routing.New(natstest.Connect(t, ns), routing.Config{Table: routing.DefaultTable()}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	send := func(typ routing.TxnType, amount int64, orig *routing.Result) routing.Result {
		t.Helper()
		n++
		req := &routing.Request{Type: typ, Txn: "d" + strconv.Itoa(n), PAN: []byte("6212345678901234"), Amount: amount,
			TID: []byte("10400067"), MID: []byte("000000000000004"), AcquirerID: []byte("48021000")}
		if orig != nil {
			req.Original = &routing.Original{MTI: orig.RequestMTI, STAN: orig.STAN, Transmission: orig.Transmission}
		}
		if typ == routing.TxnReversal {
			req.PAN, req.ProcessingCode = nil, []byte("000000")
		}
		res, err := c.Authorize(ctx, "cup", req)
		if err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		return res
	}

	first := start()
	if first.Instance() != issuersim.DefaultDurableInstance {
		t.Errorf("durable default instance = %q", first.Instance())
	}
	p1 := send(routing.TxnPurchase, 1000, nil)
	p2 := send(routing.TxnPurchase, 2500, nil)
	send(routing.TxnPurchase, 1051, nil) // 51
	send(routing.TxnRefund, 300, &p1)
	// Requests at once: their entries are group-committed, several to a message.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			req := &routing.Request{Type: routing.TxnPurchase, Txn: "c" + strconv.Itoa(i), PAN: []byte("6212345678901234"),
				Amount: 100, TID: []byte("10400067"), MID: []byte("000000000000004"), AcquirerID: []byte("48021000")}
			if _, err := c.Authorize(ctx, "cup", req); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n += 40
	before := first.Ledger()
	stop(first)

	second := start()
	if got := second.Ledger(); got.Routes["cup"] != before.Routes["cup"] {
		t.Fatalf("restarted ledger\n got %+v\nwant %+v", got.Routes["cup"], before.Routes["cup"])
	}
	send(routing.TxnReversal, 2500, &p2) // of an approval booked before the restart
	after := second.Ledger().Routes["cup"]
	if after.ReversedApprovals != (issuersim.Amount{Count: 1, Fen: 2500}) || after.ReversalsUnknown.Count != 0 {
		t.Errorf("reversal after restart: reversed %+v, unknown %+v", after.ReversedApprovals, after.ReversalsUnknown)
	}
	if after.Approvals != (issuersim.Amount{Count: 42, Fen: 7500}) || after.Requests != int64(n) {
		t.Errorf("approvals %+v requests %d (sent %d)", after.Approvals, after.Requests, n)
	}
	stop(second)

	var entries []issuersim.Entry
	if err := issuersim.ReadEntries(ctx, natstest.Connect(t, ns), "", "", func(e issuersim.Entry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("%d entries stored, %d requests sent", len(entries), n)
	}
	e := entries[1]
	if e.Type != "purchase" || e.STAN != p2.STAN || e.Transmission != p2.Transmission || e.Amount != 2500 ||
		e.ResponseCode != "00" || e.AuthCode != p2.AuthCode || !e.Booked.Equal(clock) || e.TID != "10400067" {
		t.Errorf("entry %+v does not describe purchase %+v", e, p2)
	}
	if r := entries[n-1]; r.Type != "reversal" || r.OriginalKey() != e.Key() {
		t.Errorf("reversal entry %+v: original key %q, want %q", r, r.OriginalKey(), e.Key())
	}
}
