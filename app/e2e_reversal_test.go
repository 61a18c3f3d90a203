package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/routing/issuersim"
)

// An issuer that never answers: the purchase gets 98 and posgate owes the issuer a reversal.
// The reversal reaches the issuer (its ledger records it although it drops the answer), stays
// queued while unacknowledged, and is delivered once an answering issuer takes over.
func testUpstreamTimeout(t *testing.T, redisURL string) {
	zpk := randomKey(t)
	e := startNode(t, redisURL, func(c *app.Config) {
		c.RoutesFile = routesFile(t, 300*time.Millisecond)
		c.SimDrop = 1
		c.ZPK = map[string][]byte{"*": zpk}
	})
	ctx := e.ctx
	term := e.ready(testTID, testSN, nil)

	p, err := term.Purchase(ctx, card(), 4321)
	declined(t, "purchase the issuer does not answer", p, err, "98")
	if term.ReversalPending() {
		t.Fatal("an answered 98 left the terminal owing a reversal")
	}
	if got := e.ledger().Purchases; got.Count != 1 || got.Fen != 4321 {
		t.Fatalf("issuer saw purchases %+v, want the one", got)
	}
	eventually(t, "the reversal to reach the issuer", func() bool { return e.ledger().Reversals.Count >= 1 })
	if got := e.ledger().ReversedApprovals; got.Count != 1 || got.Fen != 4321 {
		t.Fatalf("issuer reversed approvals %+v, want the purchase", got)
	}
	if n := e.reversalDepth(); n != 1 {
		t.Fatalf("reversal queue depth %d while the issuer drops answers, want 1", n)
	}

	// An issuer that answers replaces the dropping one: the queued reversal is delivered.
	sim := e.replaceSimulator(zpk)
	eventually(t, "the reversal to be acknowledged", func() bool {
		return e.reversalDepth() == 0 && sim.Ledger().Total().Reversals.Count >= 1
	})

	// The timed-out purchase is not in the batch: a void finds no original, the batch is empty.
	res, err := term.Void(ctx, card(), p)
	declined(t, "void of the timed-out purchase", res, err, "25")
	p2, err := term.Purchase(ctx, card(), 1000)
	expect(t, "purchase with an answering issuer", p2, err, "00")
	st, err := term.Settle(ctx)
	if err != nil || st.Flag != codec.SettleBalanced {
		t.Fatalf("settle: flag %d err %v", st.Flag, err)
	}
}

func TestUpstreamTimeoutMemory(t *testing.T) { checkNoLeak(t); testUpstreamTimeout(t, "") }

func TestUpstreamTimeoutRedis(t *testing.T) { testUpstreamTimeout(t, redistest.Start(t).URL()) }

// A terminal's 0400 of an approved purchase reverses it upstream and takes it out of the batch
// totals; a 0400 of an unknown original is answered 00 and makes the original, should it come
// later, decline and reverse itself.
func testTerminalReversal(t *testing.T, redisURL string) {
	e := startNode(t, redisURL, nil)
	ctx := e.ctx
	term := e.ready(testTID, testSN, nil)

	p1, err := term.Purchase(ctx, card(), 1000)
	expect(t, "purchase", p1, err, "00")
	p2, err := term.Purchase(ctx, card(), 2500)
	expect(t, "purchase to reverse", p2, err, "00")

	rev := codec.NewMessage(codec.Terminal)
	must(t, rev.SetMTI("0400"))
	must(t, rev.SetString(2, testPAN))
	must(t, rev.SetString(3, "000000"))
	must(t, rev.SetNumber(4, 2500))
	must(t, rev.SetNumber(11, uint64(p2.STAN)))
	must(t, rev.SetString(22, "021"))
	must(t, rev.SetString(25, "00"))
	must(t, rev.SetString(39, "98"))
	must(t, rev.SetString(41, term.TID()))
	must(t, rev.SetString(42, term.MID()))
	must(t, rev.SetString(49, "156"))
	must(t, rev.Set(60, codec.AppendField60(nil, codec.Field60{MessageType: 22, Batch: p2.Batch, Digits: 11})))
	var zero [8]byte
	must(t, rev.Set(64, zero[:]))
	resp, err := term.Exchange(ctx, rev)
	if err != nil || string(resp.Field(39)) != "00" {
		t.Fatalf("reversal: %v (response MAC or exchange error %v)", resp, err)
	}
	eventually(t, "the reversal upstream", func() bool { return e.ledger().ReversedApprovals.Count == 1 })
	if got := e.ledger().ReversedApprovals.Fen; got != 2500 {
		t.Fatalf("issuer reversed %d fen, want 2500", got)
	}
	eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })

	res, err := term.Void(ctx, card(), p2)
	declined(t, "void of a reversed purchase", res, err, "25")

	// The terminal's book still holds the reversed purchase; posgate's totals do not.
	settle := codec.NewMessage(codec.Terminal)
	must(t, settle.SetMTI("0500"))
	must(t, settle.SetNumber(11, 900001))
	must(t, settle.SetString(41, term.TID()))
	must(t, settle.SetString(42, term.MID()))
	f48, err := codec.AppendSettlementTotals(nil, codec.SettlementTotals{Domestic: codec.Totals{DebitAmount: 1000, DebitCount: 1}})
	must(t, err)
	must(t, settle.Set(48, f48))
	must(t, settle.SetString(49, "156"))
	must(t, settle.Set(60, codec.AppendField60(nil, codec.Field60{Batch: p2.Batch, NetworkCode: 201, Digits: 11})))
	must(t, settle.SetString(63, "01 "))
	must(t, settle.Set(64, zero[:]))
	resp, err = term.Exchange(ctx, settle)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	tot, err := codec.ParseSettlementTotals(resp.Field(48))
	if err != nil || tot.Domestic.Flag != codec.SettleBalanced {
		t.Fatalf("settle without the reversed purchase: flag %d (%v), want balanced", tot.Domestic.Flag, err)
	}

	// A reversal of an original posgate never saw is answered 00; the original arriving later
	// is declined and reversed upstream.
	d := e.device("TERMREV2", "000002021000300002")
	before := e.ledger()
	stan := d.nextSTAN()
	purchase := d.purchase(stan, testPAN, 777, "")
	if rc := d.code(d.reversalOf(purchase, "98")); rc != "00" {
		t.Fatalf("reversal of an unknown original: %s, want 00", rc)
	}
	if rc := d.code(d.purchase(stan, testPAN, 777, "")); rc != "98" {
		t.Fatalf("purchase after its own reversal: %s, want 98", rc)
	}
	eventually(t, "the late approval's reversal upstream", func() bool {
		return e.ledger().ReversedApprovals.Count == before.ReversedApprovals.Count+1
	})
	eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })
}

func TestTerminalReversalMemory(t *testing.T) { checkNoLeak(t); testTerminalReversal(t, "") }

func TestTerminalReversalRedis(t *testing.T) { testTerminalReversal(t, redistest.Start(t).URL()) }

// A terminal that times out first: its 0400 overtakes the approval, which posgate then
// declines and reverses upstream. Terminal and posgate agree at settlement.
func TestTerminalTimeoutOvertakesApproval(t *testing.T) {
	checkNoLeak(t)
	e := startNode(t, "", func(c *app.Config) { c.SimLatency = 800 * time.Millisecond })
	ctx := e.ctx
	term := e.ready(testTID, testSN, func(c *termsim.Config) { c.Timeout = 200 * time.Millisecond })
	res, err := term.Purchase(ctx, card(), 1500)
	if !errors.Is(err, termsim.ErrTimeout) || !res.Reversed {
		t.Fatalf("purchase: %+v err %v, want a timeout and an answered reversal", res, err)
	}
	eventually(t, "posgate to reverse the late approval", func() bool {
		l := e.ledger()
		return l.Purchases.Count == 1 && l.ReversedApprovals.Count == 1
	})
	eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })
	// The batch is empty on both sides.
	st, err := term.Settle(ctx)
	if err != nil || st.Flag != codec.SettleBalanced {
		t.Fatalf("settle: flag %d err %v", st.Flag, err)
	}
}

// A reversed void gives the purchase back (it can be voided again) and leaves the batch
// totals as if the void had never been; a reversal of a declined original is answered 00.
func testReversalOfVoid(t *testing.T, redisURL string) {
	e := startNode(t, redisURL, nil)
	d := e.device("TERMREV3", "000002021000300003")

	pm := d.purchase(d.nextSTAN(), testPAN, 3000, "")
	p, _ := d.exchange(pm)
	if rc := string(p.Field(39)); rc != "00" {
		t.Fatalf("purchase: %s", rc)
	}
	vm := d.void(d.nextSTAN(), pm, p)
	if rc := d.code(vm); rc != "00" {
		t.Fatalf("void: %s", rc)
	}
	if rc := d.code(d.reversalOf(vm, "98")); rc != "00" {
		t.Fatalf("reversal of the void: %s", rc)
	}
	eventually(t, "the void's reversal upstream", func() bool { return e.ledger().Reversals.Count == 1 })
	if rc := d.code(d.void(d.nextSTAN(), pm, p)); rc != "00" {
		t.Fatalf("void after the first void was reversed: %s, want 00", rc)
	}

	dm := d.purchase(d.nextSTAN(), testPAN, 5151, "")
	if rc := d.code(dm); rc != "51" {
		t.Fatalf("purchase: %s, want 51", rc)
	}
	if rc := d.code(d.reversalOf(dm, "98")); rc != "00" {
		t.Fatalf("reversal of a declined purchase: %s, want 00", rc)
	}
	if flag := d.settle(codec.Totals{DebitAmount: 3000, DebitCount: 1, CreditAmount: 3000, CreditCount: 1}); flag != codec.SettleBalanced {
		t.Fatalf("settle: flag %d, want balanced", flag)
	}
	eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })
}

func TestReversalOfVoidMemory(t *testing.T) { checkNoLeak(t); testReversalOfVoid(t, "") }

func TestReversalOfVoidRedis(t *testing.T) { testReversalOfVoid(t, redistest.Start(t).URL()) }

// settle sends a 0500 with domestic totals tot and returns the answer's flag.
func (d *device) settle(tot codec.Totals) uint8 {
	t := d.e.t
	t.Helper()
	m := d.begin("0500", d.nextSTAN())
	d.ids(m)
	f48, err := codec.AppendSettlementTotals(nil, codec.SettlementTotals{Domestic: tot})
	must(t, err)
	must(t, m.Set(48, f48))
	must(t, m.SetString(49, "156"))
	must(t, m.Set(60, codec.AppendField60(nil, codec.Field60{Batch: d.batch, NetworkCode: 201, Digits: 11})))
	must(t, m.SetString(63, "01 "))
	must(t, m.Set(64, make([]byte, 8)))
	resp, _ := d.exchange(m)
	if rc := string(resp.Field(39)); rc != "00" {
		t.Fatalf("settle: %s", rc)
	}
	got, err := codec.ParseSettlementTotals(resp.Field(48))
	must(t, err)
	return got.Domestic.Flag
}

// replaceSimulator stops the node's issuer simulator and starts an answering one (PIN blocks
// under zpk) in its place, stopped at the end of the test.
func (e *env) replaceSimulator(zpk []byte) *issuersim.Simulator {
	t := e.t
	t.Helper()
	if err := e.node.Simulator.Shutdown(e.ctx); err != nil {
		t.Fatal(err)
	}
	sim, err := issuersim.New(e.node.NATS(), issuersim.Config{ZPK: zpk}, nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, sim.Start())
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sim.Shutdown(sctx)
	})
	return sim
}
