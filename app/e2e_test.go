package app_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/terminal"
)

// Test cards. PANs are made up; the simulator declines 6200000000000041 (lost) and
// …043 (stolen), amounts ending in 51 (insufficient funds) and 61 (over limit).
const (
	testPAN   = "6222021234567890123"
	testPIN   = "123456"
	lostPAN   = "6200000000000041"
	merchant  = "898310048160001"
	testSN    = "000002021000001234"
	testTID   = "TERM0001"
	otherTID  = "TERM0002"
	otherSN   = "000002021000009999"
	blockedSN = "000002021000005555"
)

var keys = termsim.NewKeyPool(4)

type env struct {
	t    *testing.T
	node *app.Node
	ctx  context.Context
}

func startNode(t *testing.T, redisURL string, tweak func(*app.Config)) *env {
	t.Helper()
	cfg := app.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Redis: redisURL}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	n, err := app.Start(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		if err := n.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, node: n, ctx: ctx}
}

// provision creates the merchant (once) and a terminal bound to sn, and returns a fresh
// activation code for it.
func (e *env) provision(tid, sn string) string {
	e.t.Helper()
	reg := e.node.Registry
	if _, err := reg.GetMerchant(e.ctx, merchant); errors.Is(err, terminal.ErrNotFound) {
		if _, err := reg.CreateMerchant(e.ctx, terminal.Merchant{MID: merchant, Name: "POSGATE TEST SHOP", MCC: "5812",
			City: "SHANGHAI", SettlementAccount: "6222000000000001"}); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := reg.CreateTerminal(e.ctx, terminal.Terminal{TID: tid, MID: merchant, SN: sn}); err != nil {
		e.t.Fatal(err)
	}
	code, err := e.node.HSM.NewActivationCode(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := reg.IssueActivationCode(e.ctx, tid, code.Verifier, 0); err != nil {
		e.t.Fatal(err)
	}
	return code.Code
}

func (e *env) terminal(sn string, tweak func(*termsim.Config)) *termsim.Terminal {
	e.t.Helper()
	cfg := termsim.Config{Addr: e.node.GatewayAddr().String(), SN: sn, KeyPool: keys, Timeout: 10 * time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	term, err := termsim.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = term.Close() })
	return term
}

// provisionReady creates a terminal in node's registry and activates and signs it on.
func provisionReady(ctx context.Context, node *app.Node, tid, sn string) (*termsim.Terminal, error) {
	return provisionReadyWith(ctx, node, tid, sn, nil)
}

// provisionReadyWith is provisionReady with tweak applied to the terminal's configuration.
func provisionReadyWith(ctx context.Context, node *app.Node, tid, sn string, tweak func(*termsim.Config)) (*termsim.Terminal, error) {
	reg := node.Registry
	if _, err := reg.GetMerchant(ctx, merchant); errors.Is(err, terminal.ErrNotFound) {
		if _, err := reg.CreateMerchant(ctx, terminal.Merchant{MID: merchant, Name: "POSGATE TEST SHOP", MCC: "5812"}); err != nil &&
			!errors.Is(err, terminal.ErrExists) {
			return nil, err
		}
	}
	if _, err := reg.CreateTerminal(ctx, terminal.Terminal{TID: tid, MID: merchant, SN: sn}); err != nil {
		return nil, err
	}
	code, err := node.HSM.NewActivationCode(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := reg.IssueActivationCode(ctx, tid, code.Verifier, 0); err != nil {
		return nil, err
	}
	tc := termsim.Config{Addr: node.GatewayAddr().String(), SN: sn, KeyPool: keys, Timeout: 10 * time.Second}
	if tweak != nil {
		tweak(&tc)
	}
	term, err := termsim.New(tc)
	if err != nil {
		return nil, err
	}
	if res, err := term.Activate(ctx, code.Code, nil); err != nil || res.Code != "00" {
		return nil, fmt.Errorf("activate: %s %w", res.Code, err)
	}
	if res, err := term.SignOn(ctx); err != nil || res.Code != "00" {
		return nil, fmt.Errorf("sign on: %s %w", res.Code, err)
	}
	return term, nil
}

// ready provisions, activates and signs on a terminal.
func (e *env) ready(tid, sn string, tweak func(*termsim.Config)) *termsim.Terminal {
	e.t.Helper()
	code := e.provision(tid, sn)
	term := e.terminal(sn, tweak)
	res, err := term.Activate(e.ctx, code, nil)
	if err != nil || res.Code != "00" {
		e.t.Fatalf("activate: %+v %v", res, err)
	}
	if term.TID() != tid {
		e.t.Fatalf("activation gave TID %q", term.TID())
	}
	if res, err := term.SignOn(e.ctx); err != nil || res.Code != "00" {
		e.t.Fatalf("sign on: %+v %v", res, err)
	}
	return term
}

func expect(t *testing.T, what string, res termsim.Result, err error, code string) termsim.Result {
	t.Helper()
	if res.Code != code {
		t.Fatalf("%s: code %q (err %v), want %s", what, res.Code, err, code)
	}
	if code == "00" && err != nil {
		t.Fatalf("%s: approved with error %v", what, err)
	}
	return res
}

func card() termsim.Card {
	return termsim.Card{PAN: testPAN, Expiry: "3012", PIN: testPIN, Track2: testPAN + "D30122011234567890"}
}

// The whole life of a terminal: activation, sign-on, every transaction type, settlement.
func testLifecycle(t *testing.T, redisURL string) {
	e := startNode(t, redisURL, nil)
	term := e.ready(testTID, testSN, func(c *termsim.Config) { c.SignOnLayout = hsm.SignOn004 })
	ctx := e.ctx

	bal, err := term.Balance(ctx, card())
	expect(t, "balance", bal, err, "00")
	if !bal.HasBalance {
		t.Fatalf("balance inquiry without a balance")
	}
	p1, err := term.Purchase(ctx, card(), 1500)
	expect(t, "purchase", p1, err, "00")
	if len(p1.RRN) != 12 || len(p1.AuthCode) != 6 || p1.SettlementDate == "" {
		t.Fatalf("purchase result %+v", p1)
	}
	p2, err := term.Purchase(ctx, card(), 2000)
	expect(t, "second purchase", p2, err, "00")
	v, err := term.Void(ctx, card(), p2)
	expect(t, "void", v, err, "00")
	v2, err := term.Void(ctx, card(), p2)
	expect(t, "second void of the same purchase", v2, err, "22")
	r, err := term.Refund(ctx, card(), 500, p1)
	expect(t, "refund", r, err, "00")
	r2, err := term.Refund(ctx, card(), 1001, p1)
	expect(t, "refund above what is left", r2, err, "13")

	pa, err := term.PreAuth(ctx, card(), 10000)
	expect(t, "pre-auth", pa, err, "00")
	c1, err := term.Completion(ctx, card(), 8000, pa)
	expect(t, "completion", c1, err, "00")
	cv, err := term.CompletionVoid(ctx, card(), c1)
	expect(t, "completion void", cv, err, "00")
	pa2, err := term.PreAuth(ctx, card(), 3000)
	expect(t, "second pre-auth", pa2, err, "00")
	pav, err := term.PreAuthVoid(ctx, card(), pa2)
	expect(t, "pre-auth void", pav, err, "00")

	enc := card()
	enc.EncryptTrack, enc.OmitPAN = true, true
	p3, err := term.Purchase(ctx, enc, 700)
	expect(t, "purchase with an encrypted track and no field 2", p3, err, "00")

	wrongPIN := card()
	wrongPIN.PIN = "654321"
	d1, err := term.Purchase(ctx, wrongPIN, 100)
	expect(t, "wrong PIN", d1, err, "55")
	d2, err := term.Purchase(ctx, card(), 5151)
	expect(t, "insufficient funds", d2, err, "51")
	lost := termsim.Card{PAN: lostPAN}
	d3, err := term.Purchase(ctx, lost, 100)
	expect(t, "lost card", d3, err, "41")

	// Settlement: 1500 + 700 + 8000 debit (completion voided: credit 8000), 2000 voided
	// (debit 2000, credit 2000), refund 500 credit — the terminal's book and posgate's agree.
	st, err := term.Settle(ctx)
	if err != nil || st.Flag != codec.SettleBalanced {
		t.Fatalf("settle: flag %d uploaded %d err %v (terminal totals %+v)", st.Flag, st.Uploaded, err, st.Totals)
	}

	// The 0500's result is journaled for the settlement report, balanced.
	var settled int
	err = e.node.Journal.Read(ctx, journal.Calendar{}.BusinessDate(time.Now()), func(r journal.Record) error {
		if r.Type == journal.TypeBatchSettlement && r.TID == testTID {
			settled++
			if !r.BatchResult.Balanced() || r.BatchResult.Posgate.DebitCount == 0 {
				t.Errorf("journaled batch result %+v", r.BatchResult)
			}
		}
		return nil
	})
	if err != nil || settled != 1 {
		t.Fatalf("batch settlement records: %d (%v)", settled, err)
	}

	// The journal holds the captured events of the day; the simulator saw the approvals.
	ledger := e.node.Simulator.Ledger()
	if ledger.Total().Approvals.Count == 0 {
		t.Fatalf("simulator ledger empty: %+v", ledger)
	}
}

func TestLifecycleMemory(t *testing.T) { checkNoLeak(t); testLifecycle(t, "") }

func TestLifecycleRedis(t *testing.T) {
	srv := redistest.Start(t)
	testLifecycle(t, srv.URL())
}

func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before+2 {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines left after shutdown:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}
