package loadtest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/loadtest/report"
	"github.com/posgate/posgate/loadtest/termsim"
)

func TestRecorderFill(t *testing.T) {
	rec := newRecorder(10 * time.Second)
	start := time.Unix(1_700_000_000, 0)
	rec.start = start
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// Ten answered purchases at 1..10 ms, scheduled in second 0; one of them declined.
	for i := 1; i <= 10; i++ {
		due := start.Add(ms(i * 10))
		rec.dispatched(due, i == 10)
		code, approved := "00", true
		if i == 5 {
			code, approved = "51", false
		}
		rec.record(outcome{kind: Purchase, due: due, done: due.Add(ms(i)), sent: true, answered: true,
			code: code, approved: approved, service: ms(i) / 2})
	}
	// A void in second 2 that timed out and was reversed; a substituted refund answered late.
	due := start.Add(2 * time.Second)
	rec.dispatched(due, false)
	rec.record(outcome{kind: Void, due: due, done: due.Add(10 * time.Second), sent: true, errKind: "timeout", reversed: true, owed: true})
	rec.dispatched(due, false)
	rec.record(outcome{kind: Purchase, due: due, done: due.Add(ms(300)), sent: true, answered: true, code: "00", approved: true, subst: true})
	rec.abandon(3)
	rec.note("book_mismatch")

	rep := &report.Report{DurationS: 10}
	rec.fill(rep)
	if rep.Scheduled != 15 || rep.Sent != 12 || rep.Completed != 11 || rep.Unanswered != 1 || rep.Abandoned != 3 || rep.Queued != 1 {
		t.Errorf("counts: scheduled %d sent %d completed %d unanswered %d abandoned %d queued %d",
			rep.Scheduled, rep.Sent, rep.Completed, rep.Unanswered, rep.Abandoned, rep.Queued)
	}
	if rep.Substituted != 1 || rep.Reversed != 1 || rep.ReversalsOwed != 1 {
		t.Errorf("substituted %d reversed %d owed %d", rep.Substituted, rep.Reversed, rep.ReversalsOwed)
	}
	if rep.ResponseCodes["00"] != 10 || rep.ResponseCodes["51"] != 1 || len(rep.ResponseCodes) != 2 {
		t.Errorf("response codes %v", rep.ResponseCodes)
	}
	if rep.Errors["timeout"] != 1 || rep.Errors["abandoned"] != 3 || rep.Errors["book_mismatch"] != 1 {
		t.Errorf("errors %v", rep.Errors)
	}
	if p, v := rep.Ops["purchase"], rep.Ops["void"]; p.Sent != 11 || p.Approved != 10 || p.Declined != 1 || v.Errors != 1 {
		t.Errorf("ops %+v", rep.Ops)
	}
	// 12.01 s from start to the last outcome (the timeout).
	if rep.ElapsedS < 12 || rep.ElapsedS > 12.1 || rep.TPS != 0.9 {
		t.Errorf("elapsed %g tps %g", rep.ElapsedS, rep.TPS)
	}
	if rep.Latency.Max < 299 || rep.Latency.Max > 301 || rep.Latency.P50 < 5 || rep.Latency.P50 > 7 {
		t.Errorf("latency %+v", rep.Latency)
	}
	if rep.ServiceLatency.Max > 6 {
		t.Errorf("service latency %+v", rep.ServiceLatency)
	}
	var total int64
	for i, b := range rep.Distribution {
		total += b.Count
		if b.ToMs <= b.FromMs || (i > 0 && b.FromMs != rep.Distribution[i-1].ToMs) {
			t.Errorf("bucket %d: %+v", i, b)
		}
	}
	if total != rep.Completed {
		t.Errorf("distribution holds %d latencies, want %d", total, rep.Completed)
	}
	if len(rep.Percentiles) != len(spectrum) || rep.Percentiles[len(spectrum)-1].Ms != rep.Latency.Max {
		t.Errorf("percentiles %+v", rep.Percentiles)
	}
	// Timeline: second 0 has ten scheduled and completed; second 2 two scheduled, the purchase
	// completed; the timeout's error lands in second 12.
	if len(rep.Timeline) != 13 || rep.IntervalS != 1 {
		t.Fatalf("timeline of %d intervals of %g s", len(rep.Timeline), rep.IntervalS)
	}
	if iv := rep.Timeline[0]; iv.Scheduled != 10 || iv.Completed != 10 || iv.P99 < 9 || iv.P99 > 11 {
		t.Errorf("interval 0: %+v", iv)
	}
	if iv := rep.Timeline[2]; iv.Scheduled != 2 || iv.Completed != 1 || iv.Max < 299 {
		t.Errorf("interval 2: %+v", iv)
	}
	if iv := rep.Timeline[12]; iv.Errors != 1 {
		t.Errorf("interval 12: %+v", iv)
	}
}

func TestRecorderIntervalWidth(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want time.Duration
	}{{time.Minute, time.Second}, {10 * time.Minute, time.Second}, {11 * time.Minute, 2 * time.Second}, {time.Hour, 6 * time.Second}} {
		if got := newRecorder(tc.d).width; got != tc.want {
			t.Errorf("interval of a %s run = %s, want %s", tc.d, got, tc.want)
		}
	}
}

func TestProgressSnapshot(t *testing.T) {
	rec := newRecorder(time.Minute)
	now := time.Now()
	rec.start = now
	for i := range 100 {
		rec.dispatched(now, false)
		rec.record(outcome{kind: Balance, due: now, done: now.Add(time.Duration(i+1) * time.Millisecond), sent: true, answered: true, code: "00", approved: true})
	}
	p := rec.snapshot(2 * time.Second)
	if p.sent != 100 || p.completed != 100 || p.rate != 50 || p.p99 < 98*time.Millisecond || p.p99 > 100*time.Millisecond {
		t.Errorf("snapshot %+v", p)
	}
	if p := rec.snapshot(time.Second); p.rate != 0 || p.p99 != 0 || p.completed != 100 {
		t.Errorf("second snapshot %+v: the tick was not reset", p)
	}
	line := progressLine(1500*time.Millisecond, time.Minute, p)
	bar := progressBar(30*time.Second, time.Minute, p)
	if line == "" || len(bar) < 32 || bar[0] != '[' || bar[16] != '-' || bar[15] != '#' {
		t.Errorf("progress line %q bar %q", line, bar)
	}
}

func TestParallel(t *testing.T) {
	var n atomic.Int64
	if err := parallel(context.Background(), 100, 7, func(context.Context, int) error { n.Add(1); return nil }); err != nil || n.Load() != 100 {
		t.Fatalf("parallel ran %d of 100: %v", n.Load(), err)
	}
	boom := errors.New("boom")
	n.Store(0)
	err := parallel(context.Background(), 1000, 4, func(_ context.Context, i int) error {
		n.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n.Load() == 1000 {
		t.Errorf("parallel after an error: %v, ran %d", err, n.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := parallel(ctx, 10, 2, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("parallel with a cancelled context: %v", err)
	}
}

func TestRecorderSettled(t *testing.T) {
	rec := newRecorder(time.Minute)
	rec.settled("T1", termsim.Settlement{Flag: codec.SettleBalanced, ForeignFlag: codec.SettleBalanced}, nil, true)
	rec.settled("T2", termsim.Settlement{Flag: codec.SettleNotBalanced, Uploaded: 17}, nil, true)
	rec.settled("T3", termsim.Settlement{}, &termsim.ExchangeError{Op: termsim.OpSettle, Err: termsim.ErrTimeout}, false)
	rec.settled("T4", termsim.Settlement{Flag: codec.SettleError}, termsim.ErrSettlement, true)
	b, first := rec.batchCounts()
	want := report.Batches{Settled: 2, Balanced: 1, Unbalanced: 1, Failed: 2, Uploaded: 17}
	if b != want {
		t.Errorf("batches %+v, want %+v", b, want)
	}
	if !strings.HasPrefix(first, "terminal T3: ") {
		t.Errorf("first failure %q", first)
	}
	if rec.errs["settlement_timeout"] != 1 || rec.errs["settlement_error_flag"] != 1 || rec.errs["book_mismatch"] != 1 {
		t.Errorf("errors %v", rec.errs)
	}
}
