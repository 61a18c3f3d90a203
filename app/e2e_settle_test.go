package app_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/settlement"
	"github.com/posgate/posgate/settlement/kvruns"
)

// A node settles by itself: at start, the latest closed business date that no node has settled
// is run into DATA/settlement.
func TestNodeSettlesClosedDate(t *testing.T) {
	checkNoLeak(t)
	dir := t.TempDir()
	startNode(t, "", func(c *app.Config) { c.DataDir = dir })
	last := journal.Calendar{}.BusinessDate(time.Now()).AddDays(-1)
	summary := filepath.Join(dir, "settlement", last.String(), "summary.json")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(summary); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settlement of %s in %s", last, filepath.Dir(summary))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, f := range []string{"merchants.csv", "transactions.csv", "batches.csv"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(summary), f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestClusterSettlesOnce: two nodes on one NATS server and one Redis take purchases on the
// previous business date (their clock a day back); started again on today, both automatic
// settlement loops go for that closed date at once. Exactly one settles it — one run record,
// files in one node's output directory only — and its files are byte-identical to a
// single-node settlement of the same journal.
func TestClusterSettlesOnce(t *testing.T) {
	ns := natstest.Start(t)
	rs := redistest.Start(t)
	lmk := hsm.GenerateLMK()
	tokenKey, zpk := append(randomKey(t), randomKey(t)...), randomKey(t)
	clk := &fakeClock{}
	clk.Advance(-24 * time.Hour)
	yesterday := journal.Calendar{}.BusinessDate(time.Now()).AddDays(-1)
	outs := []string{t.TempDir(), t.TempDir()}
	config := func(id int, settle bool) app.Config {
		c := app.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), NATS: ns.ClientURL(), Redis: rs.URL(),
			LMK: lmk, TokenKey: tokenKey, ZPK: map[string][]byte{"*": zpk}, Simulator: id == 1,
			SimMemoryLedger: true, CheckpointInterval: -1}
		c.Processor.NodeID, c.Processor.Now = id, clk.Now
		c.Settlement = app.SettlementConfig{Disabled: !settle, Delay: time.Millisecond, Out: outs[id-1]}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(cfg app.Config) *app.Node {
		n, err := app.Start(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
		if err != nil {
			t.Errorf("start node %d: %v", cfg.Processor.NodeID, err)
			return nil
		}
		return n
	}
	stop := func(n *app.Node) {
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		if err := n.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}

	// Yesterday: purchases through both nodes.
	n1, n2 := start(config(1, false)), start(config(2, false))
	if n1 == nil || n2 == nil {
		t.FailNow()
	}
	var want int64
	for i, n := range []*app.Node{n1, n2} {
		tid, sn := fmt.Sprintf("CLST%04d", i+1), fmt.Sprintf("000002021CLST%05d", i+1)
		term, err := provisionReady(ctx, n, tid, sn)
		must(t, err)
		for k := range 5 {
			amount := int64(1000*(i+1) + 10*k) // cents 51 and 61 are the simulator's declines
			res, err := term.Purchase(ctx, card(), amount)
			expect(t, "purchase on node "+fmt.Sprint(i+1), res, err, "00")
			want += amount
		}
		_ = term.Close()
	}
	stop(n1)
	stop(n2)

	// Today: both nodes start at once, and both settlement loops find yesterday unsettled.
	clk.Advance(24 * time.Hour)
	nodes := make([]*app.Node, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); nodes[i] = start(config(i+1, true)) }()
	}
	wg.Wait()
	for _, n := range nodes {
		if n == nil {
			t.FailNow()
		}
		defer stop(n)
	}
	nc, err := nats.Connect(ns.ClientURL())
	must(t, err)
	defer nc.Close()
	runs, err := kvruns.New(ctx, nc, "", 1)
	must(t, err)
	var rec settlement.RunRecord
	eventually(t, "yesterday settled by the cluster", func() bool {
		rec, err = runs.Get(ctx, yesterday)
		return err == nil && rec.State == settlement.StateFinished
	})
	if rec.Run != 1 || rec.Summary == nil || rec.Summary.GrossFen != want {
		t.Fatalf("run record %+v; want run 1 settling %d fen", rec, want)
	}
	var settledIn []string
	for i, out := range outs {
		if _, err := os.Stat(filepath.Join(out, yesterday.String(), "summary.json")); err == nil {
			settledIn = append(settledIn, fmt.Sprintf("node%d", i+1))
		}
	}
	if len(settledIn) != 1 || !strings.HasSuffix(rec.Node, "/"+settledIn[0]) {
		t.Fatalf("files written by %v, run record names %q: want one node, the one named", settledIn, rec.Node)
	}
	all, err := runs.List(ctx)
	must(t, err)
	if len(all) != 1 {
		t.Fatalf("%d run records, want 1: %+v", len(all), all)
	}

	// A single node's settlement of the same journal writes the same bytes.
	alone, err := settlement.New(settlement.Config{Now: time.Now}, nodes[0].Journal,
		app.RegistryMerchants{Registry: nodes[0].Registry}, &settlement.MemRuns{}, nil)
	must(t, err)
	single := t.TempDir()
	_, err = alone.Run(ctx, yesterday, settlement.RunOptions{Out: single})
	must(t, err)
	winner := outs[0]
	if settledIn[0] == "node2" {
		winner = outs[1]
	}
	for _, f := range []string{"merchants.csv", "transactions.csv", "batches.csv", "summary.json"} {
		a, err := os.ReadFile(filepath.Join(winner, yesterday.String(), f))
		must(t, err)
		b, err := os.ReadFile(filepath.Join(single, yesterday.String(), f))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the cluster's run and a single node's", f)
		}
	}
}
