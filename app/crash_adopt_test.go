package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/internal/proctest"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/routing/issuersim"
)

// TestDeadNodeIntentsAdopted: two gateway nodes (NATS and Redis shared, the issuer simulator in
// the test process). Node 2 is killed with SIGKILL after the issuer approved a purchase and
// before the outcome was journaled — only the write-ahead intent is durable — and stays dead.
// Node 1 finds node 2's lease run out, adopts its open intent and reverses the approval at the
// issuer on its own; the terminal's 0400 through node 1 is answered 00 without a second
// reversal; the books agree; and node 2, restarted much later, finds the intent closed.
func TestDeadNodeIntentsAdopted(t *testing.T) {
	ns := natstest.Start(t)
	rs := redistest.Start(t)
	lmk, token := secretFiles(t)
	const lease = 2 * time.Second
	node := func(id int, env ...string) *proctest.Node {
		return proctest.StartNode(t, proctest.NodeConfig{NATS: ns.ClientURL(), Env: env,
			Args: []string{"--log-level", "warn", "--redis", rs.URL(), "--lmk-file", lmk, "--token-key-file", token,
				"--node-id", fmt.Sprint(id), "--node-lease", lease.String(), "--checkpoint-interval", "0"}})
	}
	n1 := node(1)
	n2 := node(2, "POSGATE_FAULT=answered:purchase:1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc, err := nats.Connect(ns.ClientURL())
	must(t, err)
	defer nc.Close()
	sim, err := issuersim.New(nc, issuersim.Config{}, zap.NewNop())
	must(t, err)
	must(t, sim.Start())
	defer func() { _ = sim.Shutdown(context.Background()) }()
	ledger := func() issuersim.RouteLedger { return sim.Ledger().Total() }

	tok, err := os.ReadFile(filepath.Join(n1.DataDir, "admin.token"))
	must(t, err)
	api := &adminapi.Client{BaseURL: "http://" + n1.AdminAddr, Token: strings.TrimSpace(string(tok))}
	const tid, sn = "ADPT0001", "000002021ADPT00001"
	created, err := api.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid, MID: merchant, SN: sn,
		Merchant: &adminapi.NewMerchant{Name: "POSGATE ADOPT SHOP", MCC: "5812", SettlementAccount: "6222000000000001"}})
	must(t, err)
	link := func(n *proctest.Node) *termsim.Terminal {
		l, err := termsim.New(termsim.Config{Addr: n.GatewayAddr, SN: sn, KeyPool: keys, Timeout: 10 * time.Second})
		must(t, err)
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	d := &device{e: &env{t: t, ctx: ctx}, sn: sn, link: link(n2), batch: 1}
	if rc := d.activate(created.ActivationCode); rc != "00" {
		t.Fatalf("activate on node 2: %s", rc)
	}
	resp, _ := d.exchange(d.signOnMsg("01 ", d.sn, nil, false))
	if rc := string(resp.Field(39)); rc != "00" {
		t.Fatalf("sign on on node 2: %s", rc)
	}
	d.installKeys(resp)

	pm := d.purchase(d.nextSTAN(), testPAN, 6600, "")
	answered := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := d.link.SendRaw(sctx, d.frame(pm))
		answered <- err
	}()
	n2.WaitLog("posgate: fault: stopped at answered purchase", 30*time.Second)
	n2.Kill()
	killed := time.Now()
	if err := <-answered; err == nil {
		t.Fatal("the terminal got an answer from a node killed before answering")
	}

	// Node 2 stays dead: node 1 reverses the approval at the issuer by itself.
	for l := ledger(); l.ReversedApprovals.Count != 1 || l.ReversedApprovals.Fen != 6600; l = ledger() {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the dead node's approval was not reversed by the other node: issuer %+v", l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("approval of the dead node reversed at the issuer %v after the kill (lease %v)", time.Since(killed).Round(10*time.Millisecond), lease)
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	must(t, err)
	defer j.Close(context.Background())
	var intents, purchases, reversals int
	var reversedBy uint8
	must(t, j.Read(ctx, journal.Calendar{}.BusinessDate(time.Now()), func(r journal.Record) error {
		if r.TID != tid {
			return nil
		}
		switch r.Type {
		case journal.TypeIntent:
			intents++
		case journal.TypePurchase:
			purchases++
		case journal.TypeReversal:
			reversals, reversedBy = reversals+1, r.Node
		}
		return nil
	}))
	if intents != 1 || purchases != 0 || reversals != 1 || reversedBy != 1 {
		t.Fatalf("journal: %d intents, %d purchases, %d reversals (by node %d); want 1, 0, 1 by node 1",
			intents, purchases, reversals, reversedBy)
	}
	js, err := jetstream.New(nc)
	must(t, err)
	kv, err := js.KeyValue(ctx, app.NodesBucket)
	must(t, err)
	if _, err := kv.Get(ctx, "node.2"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the dead node's lease after its intents were adopted: %v, want deleted", err)
	}

	// The terminal, reconnected (through the balancer, here straight) to node 1, reverses it
	// too: answered 00 from the shared state, no second reversal at the issuer.
	d.link = link(n1)
	if rc := d.code(d.reversalOf(pm, "98")); rc != "00" {
		t.Fatalf("terminal reversal through node 1: %s", rc)
	}
	if flag := d.settle(codec.Totals{}); flag != codec.SettleBalanced {
		t.Fatalf("0500 through node 1: flag %d, want balanced", flag)
	}
	time.Sleep(300 * time.Millisecond) // a second reversal, if one were queued, would arrive now
	if l := ledger(); l.Reversals.Count != 1 || l.Purchases.Count != 1 {
		t.Fatalf("issuer: %d purchases, %d distinct reversals; want 1 and 1", l.Purchases.Count, l.Reversals.Count)
	}

	// Node 2 comes back without the fault: its own recovery finds the intent closed.
	n2.SetEnv()
	n2.Restart(t)
	if strings.Contains(n2.LogTail(), "reversed a request left open by a crash") {
		t.Fatal("the restarted node 2 reversed the intent node 1 had closed")
	}
	d.link = link(n2)
	if rc := d.code(d.purchase(d.nextSTAN(), testPAN, 1500, "")); rc != "00" {
		t.Fatalf("purchase on the restarted node 2: %s", rc)
	}
	if l := ledger(); l.Reversals.Count != 1 || l.ReversedApprovals.Count != 1 {
		t.Fatalf("issuer after node 2's restart: %d reversals, %d reversed approvals; want 1 and 1 (recovery reversed again?)",
			l.Reversals.Count, l.ReversedApprovals.Count)
	}
}
