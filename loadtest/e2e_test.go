package loadtest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest"
	"github.com/posgate/posgate/loadtest/report"
	"github.com/posgate/posgate/reconcile"
	"github.com/posgate/posgate/settlement"
)

// startNode runs an embedded-default node (in-process NATS, memory registry, issuer simulator)
// on loopback ports and returns it with an admin client.
func startNode(t *testing.T) (*app.Node, *adminapi.Client) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	n, err := app.Start(ctx, app.Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: dir},
		zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
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
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return n, &adminapi.Client{BaseURL: "http://" + n.AdminAddr().String(), Token: strings.TrimSpace(string(tok)),
		HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// The load generator against a real node: a few seconds of the default mix from 10 terminals,
// every request answered, every batch balanced, and the fleet's approved amount equal to what
// the issuer simulator approved minus what it voided and refunded.
func TestLoadAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	node, client := startNode(t)
	var progress strings.Builder
	var books bytes.Buffer
	cfg := loadtest.Config{
		Target: node.GatewayAddr().String(), Admin: client,
		Terminals: 10, Rate: 40, Duration: 5 * time.Second, Timeout: 10 * time.Second,
		IdleConnections: 20, Progress: &progress, Seed: 42, Books: &books,
		BatchLimit: 8, // terminals settle during the run too, as devices with a full batch do
	}
	r, err := loadtest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if f := rep.Failures(); len(f) > 0 {
		t.Errorf("run failed: %v", f)
	}
	if rep.Scheduled != 200 || rep.Sent != 200 || rep.Completed != 200 || rep.Unanswered != 0 {
		t.Errorf("scheduled %d sent %d completed %d unanswered %d, want 200 answered", rep.Scheduled, rep.Sent, rep.Completed, rep.Unanswered)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors %v", rep.Errors)
	}
	// 200 requests, about 18 approved debits and credits per terminal: each settles once or
	// twice during the run and once at the end.
	if b := rep.Batches; b.Settled <= 10 || b.Balanced != b.Settled || b.Unbalanced != 0 || b.Failed != 0 {
		t.Errorf("batches %+v, want more than 10, all balanced", b)
	}
	for _, op := range []string{"purchase", "void", "refund"} {
		if rep.Ops[op].Approved == 0 {
			t.Errorf("no approved %s in 200 requests of the default mix: %+v", op, rep.Ops)
		}
	}
	if rep.Idle == nil || rep.Idle.Opened != 20 || rep.Idle.AliveAtEnd != 20 {
		t.Errorf("idle connections %+v, want 20 opened and alive", rep.Idle)
	}

	// The terminals' books: a line per financial request sent, and their standing approvals
	// add up to what the report counted.
	entries, err := reconcile.ReadBooks(&books)
	if err != nil {
		t.Fatal(err)
	}
	financial, net := int64(0), int64(0)
	for op, st := range rep.Ops {
		if op != "balance" {
			financial += st.Sent
		}
	}
	for _, e := range entries {
		if e.ResponseCode != "00" || e.ReversedLater {
			continue
		}
		switch e.Type {
		case "purchase", "completion":
			net += e.Amount
		case "void", "refund":
			net -= e.Amount
		}
	}
	if int64(len(entries)) != financial || net != rep.ApprovedAmountFen {
		t.Errorf("books: %d lines for %d financial requests, net %d fen against the report's %d", len(entries), financial, net, rep.ApprovedAmountFen)
	}
	if rep.ReversalsOwed != rep.Reversed+rep.ReversalsDeliveredLater+rep.ReversalsPending {
		t.Errorf("reversals owed %d != at once %d + later %d + pending %d", rep.ReversalsOwed, rep.Reversed,
			rep.ReversalsDeliveredLater, rep.ReversalsPending)
	}

	l := node.Simulator.Ledger().Total()
	if l.Reversals.Count != 0 {
		t.Fatalf("the simulator saw reversals at a modest rate: %+v", l.Reversals)
	}
	want := l.Purchases.Fen + l.Completions.Fen - l.Voids.Fen - l.Refunds.Fen
	if rep.ApprovedAmountFen != want || want <= 0 {
		t.Errorf("approved_amount_fen %d, simulator ledger %d (purchases %d + completions %d - voids %d - refunds %d)",
			rep.ApprovedAmountFen, want, l.Purchases.Fen, l.Completions.Fen, l.Voids.Fen, l.Refunds.Fen)
	}
	if approved := rep.Ops["purchase"].Approved + rep.Ops["completion"].Approved; approved != l.Purchases.Count+l.Completions.Count {
		t.Errorf("%d approved purchases and completions, simulator %d", approved, l.Purchases.Count+l.Completions.Count)
	}

	// The day settles to the fleet's own books, to the fen (issue 7): gross − refunds of the
	// settlement equals the approved amount the load generator counted; a re-run is identical.
	settler, err := settlement.New(settlement.Config{}, node.Journal, app.RegistryMerchants{Registry: node.Registry},
		&settlement.MemRuns{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	day := journal.Calendar{}.BusinessDate(time.Now())
	out := t.TempDir()
	run, err := settler.Run(context.Background(), day, settlement.RunOptions{Out: out, AllowOpen: true})
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	if sum := run.Summary; sum == nil || sum.GrossFen-sum.RefundsFen != rep.ApprovedAmountFen || sum.NetFen != sum.GrossFen-sum.RefundsFen-sum.FeesFen {
		t.Fatalf("settlement %+v, load generator approved_amount_fen %d", run.Summary, rep.ApprovedAmountFen)
	}
	again, err := settler.Run(context.Background(), day, settlement.RunOptions{Out: out, AllowOpen: true, Rerun: true})
	if err != nil || again.Identical == nil || !*again.Identical {
		t.Fatalf("re-run: %v identical %v", err, again.Identical)
	}

	dir := t.TempDir()
	if err := report.WriteDir(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{report.JSONFile, report.HTMLFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(progress.String(), "p99") || !strings.Contains(progress.String(), "settled 10 batches") {
		t.Errorf("progress output:\n%s", progress.String())
	}

	// A second run against the same server gets other identities; reusing the first run's id
	// is refused before anything is created.
	cfg.Terminals, cfg.Duration, cfg.IdleConnections, cfg.Progress, cfg.BatchLimit = 2, time.Second, 0, nil, 0
	r2, _ := loadtest.New(cfg)
	rep2, err := r2.Run(context.Background())
	if err != nil || rep2.RunID == rep.RunID || rep2.Batches.Balanced != 2 {
		t.Errorf("second run: %v, run id %s after %s, batches %+v", err, rep2.RunID, rep.RunID, rep2.Batches)
	}
	cfg.RunID = rep.RunID
	r3, _ := loadtest.New(cfg)
	if _, err := r3.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already provisioned") {
		t.Errorf("run with a used run id: %v", err)
	}
	if _, err := r3.Run(context.Background()); !errors.Is(err, loadtest.ErrRan) {
		t.Errorf("second Run: %v", err)
	}
}

// A target off loopback is refused before any traffic.
func TestRefusesRemoteTarget(t *testing.T) {
	r, err := loadtest.New(loadtest.Config{Target: "192.0.2.1:8583",
		Admin: &adminapi.Client{BaseURL: "http://127.0.0.1:1", Token: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background()); !errors.Is(err, loadtest.ErrNotLoopback) {
		t.Fatalf("Run against 192.0.2.1: %v, want ErrNotLoopback", err)
	}
}
