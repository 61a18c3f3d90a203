package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/gateway/checkpoint"
	"github.com/posgate/posgate/internal/proctest"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/routing/issuersim"
	"github.com/posgate/posgate/settlement"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// crashRig is a posgate serve child process on the embedded default (its NATS, journal and
// in-memory state die with it) with the issuer simulator in the test process, so the issuer's
// ledger survives every kill -9 of the node.
type crashRig struct {
	t    *testing.T
	ctx  context.Context
	node *proctest.Node
	sim  *issuersim.Simulator
	nc   *nats.Conn
	demo [][]string // tid, mid, sn, activation code
	// checkpoints: the node checkpoints every 50 ms, and crashDuring waits, before the kill,
	// until a checkpoint covers what the crash point journaled.
	checkpoints bool
}

// checkpointArgs are the node's flags with checkpoints on (every 50 ms) or off.
func checkpointArgs(on bool) []string {
	if on {
		return []string{"--checkpoint-interval", "50ms", "--log-level", "info"}
	}
	return []string{"--checkpoint-interval", "0"}
}

// startCrashRig starts the node with the fault spec armed (POSGATE_FAULT; "" for none). With
// withRedis the node runs the production topology instead — NATS and Redis in the test
// process, which the crash leaves running — and its terminals are provisioned through the
// admin API.
func startCrashRig(t *testing.T, fault string, withRedis bool, args ...string) *crashRig {
	t.Helper()
	var env []string
	if fault != "" {
		env = append(env, "POSGATE_FAULT="+fault)
	}
	cfg := proctest.NodeConfig{DemoTerminals: 2, Env: env, Args: append([]string{"--log-level", "warn"}, args...)}
	if withRedis {
		ns := natstest.Start(t)
		rs := redistest.Start(t)
		lmk, token := secretFiles(t)
		cfg.NATS = ns.ClientURL()
		cfg.Args = append(cfg.Args, "--redis", rs.URL(), "--lmk-file", lmk, "--token-key-file", token)
	}
	node := proctest.StartNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	nc, err := nats.Connect(node.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	must(t, err)
	sim, err := issuersim.New(nc, issuersim.Config{}, zap.NewNop())
	must(t, err)
	must(t, sim.Start())
	t.Cleanup(func() { _ = sim.Shutdown(context.Background()); nc.Close() })
	r := &crashRig{t: t, ctx: ctx, node: node, sim: sim, nc: nc, checkpoints: slices.Contains(args, "50ms")}
	if !withRedis {
		f, err := os.Open(filepath.Join(node.DataDir, "demo-terminals.csv"))
		must(t, err)
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		must(t, err)
		r.demo = rows[1:]
		return r
	}
	token, err := os.ReadFile(filepath.Join(node.DataDir, "admin.token"))
	must(t, err)
	api := &adminapi.Client{BaseURL: "http://" + node.AdminAddr, Token: strings.TrimSpace(string(token))}
	for i := 1; i <= 2; i++ {
		tid, sn := fmt.Sprintf("CRSH%04d", i), fmt.Sprintf("000002021CRSH%05d", i)
		res, err := api.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid, MID: merchant, SN: sn,
			Merchant: &adminapi.NewMerchant{Name: "POSGATE CRASH SHOP", MCC: "5812", SettlementAccount: "6222000000000001"}})
		must(t, err)
		r.demo = append(r.demo, []string{tid, merchant, sn, res.ActivationCode})
	}
	return r
}

// secretFiles writes an LMK and a PAN token key for nodes that must share them (Redis mode).
func secretFiles(t *testing.T) (lmk, token string) {
	secrets := t.TempDir()
	lmk, token = filepath.Join(secrets, "lmk.hex"), filepath.Join(secrets, "token.key")
	must(t, os.WriteFile(lmk, []byte(strings.Repeat("4c", 32)), 0o600))
	must(t, os.WriteFile(token, []byte(strings.Repeat("7a", 32)), 0o600))
	return lmk, token
}

// device activates and signs on demo terminal i (0-based) over its own connection.
func (r *crashRig) device(i int) *device {
	t := r.t
	t.Helper()
	row := r.demo[i]
	link, err := termsim.New(termsim.Config{Addr: r.node.GatewayAddr, SN: row[2], KeyPool: keys, Timeout: 10 * time.Second})
	must(t, err)
	t.Cleanup(func() { _ = link.Close() })
	d := &device{e: &env{t: t, ctx: r.ctx}, sn: row[2], link: link, batch: 1}
	if rc := d.activate(row[3]); rc != "00" {
		t.Fatalf("activate %s: %s", row[0], rc)
	}
	resp, _ := d.exchange(d.signOnMsg("01 ", d.sn, nil, false))
	if rc := string(resp.Field(39)); rc != "00" {
		t.Fatalf("sign on %s: %s", row[0], rc)
	}
	d.installKeys(resp)
	return d
}

// crashDuring sends frame, waits until the node stops at its armed fault point, kills it with
// SIGKILL, and restarts it without the fault. The terminal never gets an answer.
func (r *crashRig) crashDuring(d *device, frame []byte, marker string) {
	t := r.t
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
		defer cancel()
		_, err := d.link.SendRaw(ctx, frame)
		done <- err
	}()
	r.node.WaitLog("posgate: fault: stopped at "+marker, 30*time.Second)
	if r.checkpoints {
		r.awaitCheckpoint()
	}
	r.node.Kill()
	if err := <-done; err == nil {
		t.Fatal("the terminal got an answer from a node killed before answering")
	}
	r.node.SetEnv()
	r.restart()
	if loaded := strings.Contains(r.node.LogTail(), "checkpoint loaded"); loaded != r.checkpoints {
		t.Fatalf("restart loaded a checkpoint: %t, want %t", loaded, r.checkpoints)
	}
}

// restart starts the killed node again and waits until the issuer simulator is back on its
// NATS server (with the embedded default, NATS died with the node): until then a request would
// find no responders (91).
func (r *crashRig) restart() {
	t := r.t
	t.Helper()
	r.node.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for !r.nc.IsConnected() || r.nc.FlushTimeout(time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the issuer simulator did not reconnect to the restarted node's NATS")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitCheckpoint waits until the node's checkpoint covers everything journaled so far.
func (r *crashRig) awaitCheckpoint() { awaitCheckpoint(r.t, r.nc, r.node.DataDir, 30*time.Second) }

// awaitCheckpoint waits until the checkpoint in dataDir of the node on nc covers everything
// journaled so far, and returns it.
func awaitCheckpoint(tb testing.TB, nc *nats.Conn, dataDir string, timeout time.Duration) *checkpoint.Checkpoint {
	tb.Helper()
	ctx := context.Background()
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer j.Close(ctx)
	pos, err := j.Position(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dataDir, "checkpoint-node0.bin")
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		ck, err := checkpoint.Inspect(path)
		if err != nil {
			tb.Fatal(err)
		}
		if ck != nil && ck.Seq >= pos.Last {
			return ck
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no checkpoint up to %d after %v", pos.Last, timeout)
		}
	}
}

// ledger is the issuer's record so far.
func (r *crashRig) ledger() issuersim.RouteLedger { return r.sim.Ledger().Total() }

// journal returns the node's journal records of today's business date, de-duplicated.
func (r *crashRig) journal() []journal.Record {
	t := r.t
	t.Helper()
	j, err := journal.New(r.ctx, r.nc, journal.Config{}, nil)
	must(t, err)
	defer j.Close(context.Background())
	var out []journal.Record
	must(t, j.Read(r.ctx, journal.Calendar{}.BusinessDate(time.Now()), func(rec journal.Record) error {
		out = append(out, rec)
		return nil
	}))
	return out
}

// settle runs a provisional settlement of today over the node's journal.
func (r *crashRig) settle() settlement.Summary {
	t := r.t
	t.Helper()
	j, err := journal.New(r.ctx, r.nc, journal.Config{}, nil)
	must(t, err)
	defer j.Close(context.Background())
	s, err := settlement.New(settlement.Config{}, j, settlement.MerchantTable{}, &settlement.MemRuns{}, nil)
	must(t, err)
	run, err := s.Run(r.ctx, journal.Calendar{}.BusinessDate(time.Now()), settlement.RunOptions{Out: t.TempDir(), AllowOpen: true})
	must(t, err)
	return *run.Summary
}

func count(recs []journal.Record, tid string, typ journal.TxnType) int {
	n := 0
	for _, r := range recs {
		if r.TID == tid && r.Type == typ {
			n++
		}
	}
	return n
}

func eventuallyLedger(t *testing.T, r *crashRig, what string, ok func(issuersim.RouteLedger) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(r.ledger()) {
		if time.Now().After(deadline) {
			t.Fatalf("issuer ledger: %s not reached: %+v", what, r.ledger())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Killed between "journaled" and "answered": the approval is in the journal, the terminal never
// heard it. After the restart the node knows the purchase (its index is rebuilt from the
// journal), the terminal's 0400 reverses it at the issuer, the batch balances at zero, and
// settlement pays nothing: terminal, journal and issuer agree.
func TestCrashAfterJournalBeforeAnswerMemory(t *testing.T) {
	testCrashAfterJournalBeforeAnswer(t, false, false)
}
func TestCrashAfterJournalBeforeAnswerRedis(t *testing.T) {
	testCrashAfterJournalBeforeAnswer(t, true, false)
}

// The crash tests again, each with a checkpoint covering the crash point: the restart finds the
// journaled purchase, the open intent, the refund's answer in the checkpoint, not in the tail.
func TestCheckpointedCrashAfterJournalBeforeAnswerMemory(t *testing.T) {
	testCrashAfterJournalBeforeAnswer(t, false, true)
}
func TestCheckpointedCrashAfterJournalBeforeAnswerRedis(t *testing.T) {
	testCrashAfterJournalBeforeAnswer(t, true, true)
}
func TestCheckpointedCrashAfterUpstreamBeforeOutcomeMemory(t *testing.T) {
	testCrashAfterUpstreamBeforeOutcome(t, false, true)
}
func TestCheckpointedCrashAfterUpstreamBeforeOutcomeRedis(t *testing.T) {
	testCrashAfterUpstreamBeforeOutcome(t, true, true)
}
func TestCheckpointedCrashDuringRefundMemory(t *testing.T) { testCrashDuringRefund(t, false, true) }
func TestCheckpointedCrashDuringRefundRedis(t *testing.T)  { testCrashDuringRefund(t, true, true) }

func testCrashAfterJournalBeforeAnswer(t *testing.T, withRedis, checkpoints bool) {
	r := startCrashRig(t, "journaled:purchase:1", withRedis, checkpointArgs(checkpoints)...)
	d := r.device(0)
	pm := d.purchase(d.nextSTAN(), testPAN, 8800, "")
	r.crashDuring(d, d.frame(pm), "journaled purchase")

	if rc := d.code(d.reversalOf(pm, "98")); rc != "00" {
		t.Fatalf("terminal reversal after the restart: %s", rc)
	}
	eventuallyLedger(t, r, "the approval reversed", func(l issuersim.RouteLedger) bool {
		return l.Purchases.Count == 1 && l.ReversedApprovals.Count == 1 && l.ReversedApprovals.Fen == 8800
	})
	recs := r.journal()
	if p, rv := count(recs, d.tid, journal.TypePurchase), count(recs, d.tid, journal.TypeReversal); p != 1 || rv != 1 {
		t.Fatalf("journal: %d purchases, %d reversals; want 1 and 1", p, rv)
	}
	if flag := d.settle(codec.Totals{}); flag != codec.SettleBalanced {
		t.Fatalf("0500 of an empty batch after the restart: flag %d, want balanced", flag)
	}
	if sum := r.settle(); sum.Settled != 0 || sum.GrossFen != 0 || sum.BatchesNotBalanced != 0 {
		t.Fatalf("settlement: %+v; want nothing paid and every batch balanced", sum)
	}
}

// Killed between "sent upstream" and "answered": only the write-ahead intent is durable; the
// issuer approved. The restarted node reverses it before it listens, and journals the
// reversal; the terminal's own 0400 is then answered without a second reversal.
func TestCrashAfterUpstreamBeforeOutcomeMemory(t *testing.T) {
	testCrashAfterUpstreamBeforeOutcome(t, false, false)
}
func TestCrashAfterUpstreamBeforeOutcomeRedis(t *testing.T) {
	testCrashAfterUpstreamBeforeOutcome(t, true, false)
}

func testCrashAfterUpstreamBeforeOutcome(t *testing.T, withRedis, checkpoints bool) {
	r := startCrashRig(t, "answered:purchase:1", withRedis, checkpointArgs(checkpoints)...)
	d := r.device(0)
	pm := d.purchase(d.nextSTAN(), testPAN, 6600, "")
	r.crashDuring(d, d.frame(pm), "answered purchase")

	// The node reversed it on its own, before the terminal said anything.
	eventuallyLedger(t, r, "the open intent reversed", func(l issuersim.RouteLedger) bool {
		return l.Purchases.Count == 1 && l.ReversedApprovals.Count == 1 && l.ReversedApprovals.Fen == 6600
	})
	recs := r.journal()
	if i, p, rv := count(recs, d.tid, journal.TypeIntent), count(recs, d.tid, journal.TypePurchase),
		count(recs, d.tid, journal.TypeReversal); i != 1 || p != 0 || rv != 1 {
		t.Fatalf("journal: %d intents, %d purchases, %d reversals; want 1, 0, 1", i, p, rv)
	}
	if rc := d.code(d.reversalOf(pm, "98")); rc != "00" {
		t.Fatalf("terminal reversal after the restart: %s", rc)
	}
	if flag := d.settle(codec.Totals{}); flag != codec.SettleBalanced {
		t.Fatalf("0500: flag %d, want balanced", flag)
	}
	time.Sleep(300 * time.Millisecond) // a second reversal, if one were queued, would arrive now
	if l := r.ledger(); l.Reversals.Count != 1 {
		t.Fatalf("issuer saw %d distinct reversals, want 1", l.Reversals.Count)
	}
	if sum := r.settle(); sum.Settled != 0 || sum.GrossFen != 0 {
		t.Fatalf("settlement: %+v; want nothing paid", sum)
	}
}

// The terminal's reversal overtakes its request: the issuer has approved, the node has not
// booked the answer yet (stopped at the fault point), the terminal times out and sends its 0400
// on another connection — answered 00 with a tombstone — and the node dies before the approval
// lands. The reversal record of the overtaken request carries no upstream identifiers, so it
// must not close the intent: the restarted node reverses the approval at the issuer. (Before
// the fix the approval stood at the issuer: found by the fault suite.)
func TestCrashReversalOvertookRequestMemory(t *testing.T) { testCrashReversalOvertook(t, false) }
func TestCrashReversalOvertookRequestRedis(t *testing.T)  { testCrashReversalOvertook(t, true) }

func testCrashReversalOvertook(t *testing.T, withRedis bool) {
	r := startCrashRig(t, "answered:purchase:1", withRedis, checkpointArgs(false)...)
	d := r.device(0)
	pm := d.purchase(d.nextSTAN(), testPAN, 7100, "")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(r.ctx, 20*time.Second)
		defer cancel()
		_, err := d.link.SendRaw(ctx, d.frame(pm))
		done <- err
	}()
	r.node.WaitLog("posgate: fault: stopped at answered purchase", 30*time.Second)
	link2, err := termsim.New(termsim.Config{Addr: r.node.GatewayAddr, SN: d.sn, KeyPool: keys, Timeout: 10 * time.Second})
	must(t, err)
	defer link2.Close()
	d2 := *d
	d2.link = link2
	if rc := d2.code(d2.reversalOf(pm, "98")); rc != "00" {
		t.Fatalf("terminal reversal of the request in flight: %s", rc)
	}
	r.node.Kill()
	if err := <-done; err == nil {
		t.Fatal("the terminal got an answer from a node killed before answering")
	}
	r.node.SetEnv()
	r.restart()

	eventuallyLedger(t, r, "the approval reversed at the issuer", func(l issuersim.RouteLedger) bool {
		return l.Purchases.Count == 1 && l.ReversedApprovals.Count == 1 && l.ReversedApprovals.Fen == 7100
	})
	if sum := r.settle(); sum.Settled != 0 || sum.GrossFen != 0 {
		t.Fatalf("settlement: %+v; want nothing paid", sum)
	}
	if flag := d2.settle(codec.Totals{}); flag != codec.SettleBalanced {
		t.Fatalf("0500: flag %d, want balanced", flag)
	}
}

// Killed during a refund (journaled, unanswered): refunds are not reversible, so the terminal
// retransmits it. The restarted node answers the retransmission from the journal — not a second
// refund at the issuer — byte for byte every time; the batch balances and settlement deducts
// the refund once.
func TestCrashDuringRefundMemory(t *testing.T) { testCrashDuringRefund(t, false, false) }
func TestCrashDuringRefundRedis(t *testing.T)  { testCrashDuringRefund(t, true, false) }

func testCrashDuringRefund(t *testing.T, withRedis, checkpoints bool) {
	r := startCrashRig(t, "journaled:refund:1", withRedis, checkpointArgs(checkpoints)...)
	d := r.device(0)
	pm := d.purchase(d.nextSTAN(), testPAN, 10000, "")
	p, _ := d.exchange(pm)
	if rc := string(p.Field(39)); rc != "00" {
		t.Fatalf("purchase: %s", rc)
	}
	rm := d.refund(d.nextSTAN(), pm, p, 4000)
	frame := d.frame(rm)
	r.crashDuring(d, frame, "journaled refund")

	resp, raw := d.send(frame)
	if rc := string(resp.Field(39)); rc != "00" {
		t.Fatalf("retransmitted refund after the restart: %s", rc)
	}
	if _, again := d.send(frame); !bytes.Equal(again, raw) {
		t.Fatalf("second retransmission answered differently")
	}
	if l := r.ledger(); l.Refunds.Count != 1 || l.Refunds.Fen != 4000 {
		t.Fatalf("issuer refunds: %+v; want exactly one of 4000 fen", l.Refunds)
	}
	recs := r.journal()
	if n := count(recs, d.tid, journal.TypeRefund); n != 1 {
		t.Fatalf("journal: %d refunds, want 1", n)
	}
	tot := codec.Totals{DebitCount: 1, DebitAmount: 10000, CreditCount: 1, CreditAmount: 4000}
	if flag := d.settle(tot); flag != codec.SettleBalanced {
		t.Fatalf("0500 after the restart: flag %d, want balanced", flag)
	}
	if sum := r.settle(); sum.GrossFen != 10000 || sum.RefundsFen != 4000 || sum.BatchesNotBalanced != 0 {
		t.Fatalf("settlement: %+v; want gross 10000, refunds 4000, balanced", sum)
	}
}

// A node killed at rest loses nothing its terminals rely on: a purchase retransmitted after the
// restart gets the first answer byte for byte and is not sent upstream again; a void of a
// pre-crash purchase finds its original; the batch balances; a batch upload raises no
// difference.
func TestRestartKeepsTransactionStateMemory(t *testing.T) {
	testRestartKeepsTransactionState(t, false, false)
}
func TestRestartKeepsTransactionStateRedis(t *testing.T) {
	testRestartKeepsTransactionState(t, true, false)
}

// The same from a checkpoint: the first purchase is in the checkpoint the restart loads, the
// second (most likely) only in the journal after it.
func TestRestartFromCheckpointMemory(t *testing.T) { testRestartKeepsTransactionState(t, false, true) }
func TestRestartFromCheckpointRedis(t *testing.T)  { testRestartKeepsTransactionState(t, true, true) }

func testRestartKeepsTransactionState(t *testing.T, withRedis, checkpoints bool) {
	r := startCrashRig(t, "", withRedis, checkpointArgs(checkpoints)...)
	d := r.device(0)
	pm := d.purchase(d.nextSTAN(), testPAN, 2500, "")
	first, firstRaw := d.exchange(pm)
	if rc := string(first.Field(39)); rc != "00" {
		t.Fatalf("purchase: %s", rc)
	}
	if checkpoints {
		r.awaitCheckpoint()
	}
	keep := d.purchase(d.nextSTAN(), testPAN, 700, "")
	if k, _ := d.exchange(keep); string(k.Field(39)) != "00" {
		t.Fatalf("second purchase: %s", k.Field(39))
	}
	r.node.Kill()
	r.restart()
	if loaded := strings.Contains(r.node.LogTail(), "checkpoint loaded"); loaded != checkpoints {
		t.Fatalf("restart loaded a checkpoint: %t, want %t", loaded, checkpoints)
	}

	if _, raw := d.send(d.frame(pm)); !bytes.Equal(raw, firstRaw) {
		t.Fatalf("retransmission after the restart answered differently")
	}
	if l := r.ledger(); l.Purchases.Count != 2 {
		t.Fatalf("issuer saw %d purchases, want 2 (the retransmission must not go upstream)", l.Purchases.Count)
	}
	if rc := d.code(d.void(d.nextSTAN(), pm, first)); rc != "00" {
		t.Fatalf("void of a pre-crash purchase: %s", rc)
	}
	tot := codec.Totals{DebitCount: 2, DebitAmount: 3200, CreditCount: 1, CreditAmount: 2500}
	if flag := d.settle(tot); flag != codec.SettleBalanced {
		t.Fatalf("0500 after the restart: flag %d, want balanced", flag)
	}
	if sum := r.settle(); sum.GrossFen != 700 || sum.BatchDifferences != 0 || sum.BatchesNotBalanced != 0 {
		t.Fatalf("settlement: %+v; want gross 700 (the voided sale excluded), balanced", sum)
	}
}

// refund builds the refund (0220 200000/00/25) of amount for the purchase request orig
// answered by resp.
func (d *device) refund(stan uint32, orig, resp *codec.Message, amount int64) *codec.Message {
	return d.followUp("0220", 25, stan, orig, resp, amount, false)
}
