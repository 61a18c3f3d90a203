package app_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
)

// TestLeaseLostWhileUpstream: a cluster node (Redis) whose lease is taken while a purchase is at
// the issuer — as another node claims the lease of one it believes dead, to reverse its open
// intents — must not book the approval: the terminal gets 96 and the approval is reversed at the
// issuer and in the journal, as the adopter would reverse it. The node then takes its lease again
// and serves.
func TestLeaseLostWhileUpstream(t *testing.T) {
	e := startNode(t, redistest.Start(t).URL(), func(c *app.Config) {
		c.NodeLease = time.Second
		c.SimLatency = 2 * time.Second
	})
	ctx := e.ctx
	term := e.ready(testTID, testSN, nil)
	js, err := jetstream.New(e.node.NATS())
	must(t, err)
	kv, err := js.KeyValue(ctx, app.NodesBucket)
	must(t, err)

	done := make(chan struct{})
	var code string
	go func() {
		defer close(done)
		res, _ := term.Purchase(ctx, card(), 5200) // a decline is an error too: the code says which
		code = res.Code
	}()
	eventually(t, "the purchase to reach the issuer", func() bool { return e.ledger().Purchases.Count == 1 })
	entry, err := kv.Get(ctx, "node.0")
	must(t, err)
	claim, _ := json.Marshal(map[string]any{"node": 0, "state": "adopting", "by": 5, "renewed": time.Now().UTC()})
	if _, err := kv.Update(ctx, "node.0", claim, entry.Revision()); err != nil {
		t.Fatalf("claiming node 0's lease: %v", err)
	}
	<-done
	if code != "96" {
		t.Fatalf("purchase answered %q after the node lost its lease while it was upstream, want 96", code)
	}
	eventually(t, "the approval reversed at the issuer", func() bool {
		l := e.ledger()
		return l.ReversedApprovals.Count == 1 && l.ReversedApprovals.Fen == 5200
	})
	var purchases, reversals int
	must(t, e.node.Journal.Read(ctx, journal.Calendar{}.BusinessDate(time.Now()), func(r journal.Record) error {
		switch r.Type {
		case journal.TypePurchase:
			purchases++
		case journal.TypeReversal:
			reversals++
		}
		return nil
	}))
	if purchases != 0 || reversals != 1 {
		t.Fatalf("journal: %d purchases, %d reversals; want 0 and 1", purchases, reversals)
	}

	// The claim was not of a dead node: it takes its lease again and serves.
	eventually(t, "the node to take its lease again", func() bool { return e.node.Ready(ctx) == nil })
	res, err := term.Purchase(ctx, card(), 1200)
	expect(t, "purchase once the lease is held again", res, err, "00")
	var v struct{ State string }
	entry, err = kv.Get(ctx, "node.0")
	must(t, err)
	if json.Unmarshal(entry.Value(), &v) != nil || v.State != "serving" {
		t.Fatalf("node 0's lease after it took it again: %s", entry.Value())
	}
}
