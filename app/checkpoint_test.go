package app_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/checkpoint"
	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/journal"
)

// TestCheckpointReplaysAsTheJournal: a State loaded from a checkpoint, replayed on with the
// records journaled after it, is the State a replay from each date's first record builds —
// after purchases, declines, partial refunds, voids and terminal reversals whose originals lie
// before, between and after two chained checkpoints — and the restart reads only the records
// after the checkpoint.
func TestCheckpointReplaysAsTheJournal(t *testing.T) {
	dir := t.TempDir()
	e := startNode(t, "", func(c *app.Config) { c.DataDir, c.CheckpointInterval, c.AdminListen = dir, time.Hour, "127.0.0.1:0" })
	ctx := e.ctx
	d := e.device(testTID, testSN)
	o := e.device(otherTID, otherSN)
	type sale struct{ req, resp *codec.Message }
	sell := func(dv *device, amount int64) sale {
		t.Helper()
		req := dv.purchase(dv.nextSTAN(), testPAN, amount, "")
		resp, _ := dv.exchange(req)
		if rc := string(resp.Field(39)); rc != "00" && amount%100 != 51 {
			t.Fatalf("purchase of %d: %s", amount, rc)
		}
		return sale{req, resp}
	}
	expect := func(what string, got, want string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %s, want %s", what, got, want)
		}
	}
	var early []sale
	for i := range 6 {
		early = append(early, sell(d, int64(1000+i)), sell(o, int64(2000+i)))
	}
	sell(d, 3351) // declined: insufficient funds
	expect("refund", d.code(d.refund(d.nextSTAN(), early[0].req, early[0].resp, 400)), "00")
	expect("reversal", d.code(d.reversalOf(early[2].req, "98")), "00")
	if err := e.node.Checkpoints.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}

	// Between the checkpoints: follow-ups of sales before the first.
	mid := []sale{sell(d, 4000), sell(o, 4100)}
	expect("second partial refund", d.code(d.refund(d.nextSTAN(), early[0].req, early[0].resp, 500)), "00")
	expect("void", d.code(d.void(d.nextSTAN(), early[4].req, early[4].resp)), "00")
	expect("reversal of an early sale", o.code(o.reversalOf(early[1].req, "98")), "00")
	if err := e.node.Checkpoints.Checkpoint(ctx); err != nil { // continues from the first
		t.Fatal(err)
	}
	before := e.node.Checkpoints.Stats()
	if err := e.node.Checkpoints.Checkpoint(ctx); err != nil { // nothing journaled since
		t.Fatal(err)
	}
	if after := e.node.Checkpoints.Stats(); after != before {
		t.Fatalf("a checkpoint with nothing new journaled rewrote the file: %+v, then %+v", before, after)
	}

	// After the last checkpoint: the tail a restart replays.
	sell(o, 5000)
	expect("refund of a sale between the checkpoints", d.code(d.refund(d.nextSTAN(), mid[0].req, mid[0].resp, 4000)), "00")
	expect("void of an early sale", o.code(o.void(o.nextSTAN(), early[3].req, early[3].resp)), "00")
	expect("over-refund", d.code(d.refund(d.nextSTAN(), early[0].req, early[0].resp, 200)), "13") // 900 of 1000 refunded
	o.settle(codec.Totals{DebitCount: 99, DebitAmount: 1})                                        // unbalanced, journaled
	if st := e.node.Checkpoints.Stats(); st.Failures != 0 || st.Seq == 0 || st.Written.IsZero() {
		t.Fatalf("checkpoint stats %+v", st)
	}
	families, err := e.node.Metrics.Gather()
	must(t, err)
	seen := map[string]float64{}
	for _, f := range families {
		if m := f.GetMetric(); len(m) == 1 {
			seen[f.GetName()] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
		}
	}
	if seen["posgate_checkpoint_records"] == 0 || seen["posgate_checkpoint_duration_seconds"] <= 0 {
		t.Errorf("checkpoint metrics: %v", seen)
	}
	if _, ok := seen["posgate_checkpoint_failures_total"]; !ok {
		t.Error("no posgate_checkpoint_failures_total")
	}

	dates := []journal.Date{journal.Calendar{}.BusinessDate(time.Now()).AddDays(-1), journal.Calendar{}.BusinessDate(time.Now())}
	fresh := func() *memstate.State {
		st, err := memstate.New(memstate.Config{SweepInterval: -1})
		must(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
	full := fresh()
	fullRS, fullStats, err := e.node.Processor.Replay(ctx, full, e.node.Journal, gateway.Recovery{Dates: dates, Rebuild: true})
	must(t, err)

	pos, err := e.node.Journal.Position(ctx)
	must(t, err)
	resumed := fresh()
	ck, err := checkpoint.Load(filepath.Join(dir, "checkpoint-node0.bin"), pos, resumed)
	must(t, err)
	if ck == nil || ck.Seq == 0 || ck.From != ck.Seq || !ck.State {
		t.Fatalf("checkpoint %+v", ck)
	}
	r, src := ck.Recovery(e.node.Journal, dates, true)
	rs, stats, err := e.node.Processor.Replay(ctx, resumed, src, r)
	must(t, err)

	fullSum, n := full.Digest()
	if sum, m := resumed.Digest(); sum != fullSum || m != n {
		t.Fatalf("checkpoint + tail: %d entries; a full replay: %d, and they differ", m, n)
	}
	if n < 40 {
		t.Fatalf("a full replay built %d entries", n)
	}
	if stats.Records == 0 || stats.Records >= fullStats.Records/2 {
		t.Fatalf("the restart replayed %d records of %d: the tail only was expected", stats.Records, fullStats.Records)
	}
	if len(rs.Open) != len(fullRS.Open) || len(rs.Open) != 0 {
		t.Fatalf("open intents: %d after the checkpoint, %d after a full replay; want none", len(rs.Open), len(fullRS.Open))
	}
	t.Logf("full replay %d records, the checkpoint's tail %d; %d entries", fullStats.Records, stats.Records, n)
}
