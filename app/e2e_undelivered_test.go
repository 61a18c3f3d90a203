package app_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
)

// An approval whose answer cannot be written (the terminal's connection is reset while the
// issuer approves) is reversed upstream, journaled as reversed — so settlement does not pay
// the merchant — and taken out of the batch totals; the terminal's own 0400 then finds it
// reversed, is answered 00, and queues nothing more. Before, the reversal reached the issuer
// but not the journal, and the merchant was paid for a sale the issuer had reversed.
func TestUndeliveredApprovalIsJournaledReversed(t *testing.T) {
	checkNoLeak(t)
	var (
		mu      sync.Mutex
		armed   bool
		reached = make(chan struct{})
		reset   = make(chan struct{})
	)
	e := startNode(t, "", func(c *app.Config) {
		c.Processor.Fault = func(at gateway.FaultPoint, k gateway.Kind) {
			mu.Lock()
			fire := armed && at == gateway.FaultAnswered && k == gateway.KindPurchase
			if fire {
				armed = false
			}
			mu.Unlock()
			if fire {
				close(reached)
				<-reset
			}
		}
	})
	d := e.device("TERMUND1", "000002021000400001")

	// The purchase goes out on a connection of its own, reset (RST) once the issuer has
	// approved and before posgate answers.
	pm := d.purchase(d.nextSTAN(), testPAN, 4321, "")
	conn, err := net.Dial("tcp", e.node.GatewayAddr().String())
	must(t, err)
	mu.Lock()
	armed = true
	mu.Unlock()
	if _, err := conn.Write(d.frame(pm)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the purchase never reached the issuer")
	}
	must(t, conn.(*net.TCPConn).SetLinger(0))
	must(t, conn.Close())
	time.Sleep(50 * time.Millisecond) // let the RST land before posgate writes
	close(reset)

	eventually(t, "the issuer to see the approval reversed", func() bool {
		l := e.ledger()
		return l.Purchases.Count == 1 && l.ReversedApprovals.Count == 1
	})
	date := journal.Calendar{}.BusinessDate(time.Now())
	recs := readJournal(t, e, date)
	var capture, reversal *journal.Record
	for i := range recs {
		switch r := &recs[i]; {
		case r.Type == journal.TypePurchase && r.TID == "TERMUND1":
			capture = r
		case r.Type == journal.TypeReversal && r.TID == "TERMUND1":
			reversal = r
		}
	}
	if capture == nil || reversal == nil {
		t.Fatalf("journal: capture %v, reversal %v; want both", capture != nil, reversal != nil)
	}
	if reversal.Original.TxnID != capture.TxnID || reversal.Upstream != capture.Upstream || reversal.Upstream.IsZero() {
		t.Fatalf("reversal names %q upstream %+v; capture %q upstream %+v", reversal.Original.TxnID, reversal.Upstream,
			capture.TxnID, capture.Upstream)
	}

	// The terminal, which heard nothing, reverses; posgate answers 00 and queues nothing new.
	if rc := d.code(d.reversalOf(pm, "98")); rc != "00" {
		t.Fatalf("terminal reversal: %s", rc)
	}
	eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })
	if l := e.ledger(); l.Reversals.Count != 1 {
		t.Fatalf("issuer saw %d distinct reversals, want 1", l.Reversals.Count)
	}
	// The terminal's batch is empty, and so is posgate's.
	if flag := d.settle(codec.Totals{}); flag != codec.SettleBalanced {
		t.Fatalf("0500 flag %d, want balanced", flag)
	}
	// Settlement pays nothing for it.
	sum := settleDate(t, e, date)
	if sum.Settled != 0 || sum.GrossFen != 0 {
		t.Fatalf("settlement: %d settled, gross %d fen; want none", sum.Settled, sum.GrossFen)
	}
}

// readJournal returns every record of date (de-duplicated by transaction id).
func readJournal(t *testing.T, e *env, date journal.Date) []journal.Record {
	t.Helper()
	var out []journal.Record
	must(t, e.node.Journal.Read(e.ctx, date, func(r journal.Record) error {
		out = append(out, r)
		return nil
	}))
	return out
}

// settleDate runs a provisional settlement of date over the node's journal and returns its
// summary.
func settleDate(t *testing.T, e *env, date journal.Date) settlement.Summary {
	t.Helper()
	s, err := settlement.New(settlement.Config{}, e.node.Journal, app.RegistryMerchants{Registry: e.node.Registry},
		&settlement.MemRuns{}, nil)
	must(t, err)
	run, err := s.Run(e.ctx, date, settlement.RunOptions{Out: t.TempDir(), AllowOpen: true})
	must(t, err)
	if run.Summary == nil {
		t.Fatal("settlement run without a summary")
	}
	return *run.Summary
}
