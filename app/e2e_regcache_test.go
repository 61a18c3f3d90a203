package app_test

import (
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/terminal"
)

// TestRegistryCacheInvalidated: two cluster nodes serve terminals from their registry caches
// (a minute long, so only an invalidation can explain a fresh read). A block made through node
// 1 holds on node 2 as soon as the call returns, and so do its unblock and the working keys of
// a sign-on made through node 1: the terminal's next purchase through node 2 is refused 58,
// then approved under the new keys.
func TestRegistryCacheInvalidated(t *testing.T) {
	ns := natstest.Start(t)
	rs := redistest.Start(t)
	lmk := hsm.GenerateLMK()
	tokenKey, zpk := append(randomKey(t), randomKey(t)...), randomKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(id int) *app.Node {
		c := app.Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: t.TempDir(), NATS: ns.ClientURL(),
			Redis: rs.URL(), LMK: lmk, TokenKey: tokenKey, ZPK: map[string][]byte{"*": zpk}, Simulator: id == 1,
			SimMemoryLedger: true, CheckpointInterval: -1, NodeLease: time.Second, RegistryCache: time.Minute}
		c.Processor.NodeID = id
		c.Settlement.Disabled = true
		n, err := app.Start(ctx, c, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
		if err != nil {
			t.Fatalf("start node %d: %v", id, err)
		}
		t.Cleanup(func() {
			sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
			defer c()
			_ = n.Shutdown(sctx)
		})
		return n
	}
	n1, n2 := start(1), start(2)
	for _, n := range []*app.Node{n1, n2} {
		eventually(t, "each node to see the other's lease", func() bool { return gathered(t, n)["posgate_registry_peers"] == 1 })
	}

	var via atomic.Value // the gateway address the terminal dials next
	via.Store(n1.GatewayAddr().String())
	dial := func(c *termsim.Config) {
		c.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, via.Load().(string))
		}
	}
	term, err := provisionReadyWith(ctx, n1, testTID, testSN, dial) // activated and signed on via node 1
	must(t, err)
	defer term.Close()
	through := func(n *app.Node) {
		_ = term.Close()
		via.Store(n.GatewayAddr().String())
	}

	through(n2)
	res, err := term.Purchase(ctx, card(), 1200)
	expect(t, "purchase via node 2 (now cached there)", res, err, "00")
	res, err = term.Purchase(ctx, card(), 1250)
	expect(t, "purchase via node 2 from its cache", res, err, "00")
	if m := gathered(t, n2); m["posgate_registry_cache_hits_total"] == 0 {
		t.Errorf("node 2 did not answer from its cache: hits %v, misses %v",
			m["posgate_registry_cache_hits_total"], m["posgate_registry_cache_misses_total"])
	}

	_, err = n1.Registry.Block(ctx, testTID, terminal.ReasonLost)
	must(t, err)
	res, err = term.Purchase(ctx, card(), 1300)
	if res.Code != "58" {
		t.Fatalf("purchase via node 2 right after node 1 blocked the terminal: %q %v, want 58", res.Code, err)
	}
	_, err = n1.Registry.Unblock(ctx, testTID)
	must(t, err)
	res, err = term.Purchase(ctx, card(), 1400)
	expect(t, "purchase via node 2 after node 1 unblocked the terminal", res, err, "00")

	through(n1)
	res, err = term.SignOn(ctx)
	expect(t, "sign-on via node 1 (new working keys)", res, err, "00")
	through(n2)
	res, err = term.Purchase(ctx, card(), 1500)
	expect(t, "purchase via node 2 under the keys of node 1's sign-on", res, err, "00")

	if m := gathered(t, n1); m["posgate_registry_invalidations_total"] < 3 || m["posgate_registry_invalidations_unconfirmed_total"] != 0 {
		t.Errorf("node 1's changes: %v announced, %v not confirmed; want ≥ 3 and 0",
			m["posgate_registry_invalidations_total"], m["posgate_registry_invalidations_unconfirmed_total"])
	}

	// A node that renews its lease but does not answer (hung, or cut off from the invalidation
	// subject): a change waits for it no longer than the bound, and is counted unconfirmed.
	js, err := jetstream.New(n1.NATS())
	must(t, err)
	kv, err := js.KeyValue(ctx, app.NodesBucket)
	must(t, err)
	mute, stopMute := context.WithCancel(ctx)
	defer stopMute()
	go func() {
		for mute.Err() == nil {
			v, _ := json.Marshal(map[string]any{"node": 7, "instance": "mute", "state": "serving", "renewed": time.Now().UTC()})
			_, _ = kv.Put(mute, "node.7", v)
			select {
			case <-mute.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	eventually(t, "node 1 to count the mute node as a peer", func() bool { return gathered(t, n1)["posgate_registry_peers"] == 2 })
	began := time.Now()
	_, err = n1.Registry.Block(ctx, testTID, terminal.ReasonStolen)
	must(t, err)
	took := time.Since(began)
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("a change with a mute peer took %v, want the 2 s bound", took)
	}
	if m := gathered(t, n1); m["posgate_registry_invalidations_unconfirmed_total"] != 1 {
		t.Errorf("unconfirmed changes %v, want 1", m["posgate_registry_invalidations_unconfirmed_total"])
	}
	res, err = term.Purchase(ctx, card(), 1600)
	if res.Code != "58" {
		t.Fatalf("purchase via node 2 after a block node 7 never confirmed: %q %v, want 58 (node 2 did)", res.Code, err)
	}
	stopMute()
	_ = kv.Delete(ctx, "node.7")
}

// gathered returns the node's single-series metrics by name.
func gathered(t *testing.T, n *app.Node) map[string]float64 {
	t.Helper()
	families, err := n.Metrics.Gather()
	must(t, err)
	seen := map[string]float64{}
	for _, f := range families {
		if m := f.GetMetric(); len(m) == 1 {
			seen[f.GetName()] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
		}
	}
	return seen
}
