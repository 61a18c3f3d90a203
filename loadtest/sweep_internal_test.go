package loadtest

import (
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/loadtest/report"
)

// meets judges a step by what the rate asked for over its window: a short run whose last
// answers came after the window (30 requests at 30/s answered over 1.07 s) keeps up.
func TestMeets(t *testing.T) {
	rep := func(completed int64, elapsed, p99 float64) *report.Report {
		r := &report.Report{Completed: completed, Sent: completed, DurationS: 1, ElapsedS: elapsed,
			TPS: float64(completed) / elapsed}
		r.Latency.P99 = p99
		return r
	}
	tests := []struct {
		name string
		rep  *report.Report
		why  string // "" when met
	}{
		{"kept up, last answers after the window", rep(30, 1.07, 68), ""},
		{"fell behind", rep(25, 1.0, 10), "answered 25 of the 30"},
		{"slow", rep(30, 1.0, 25), "p99 25.0 ms above 20ms"},
		{"errors", func() *report.Report { r := rep(30, 1, 5); r.Errors = map[string]int64{"timeout": 1}; return r }(), "1 errors"},
		{"unanswered", func() *report.Report { r := rep(29, 1, 5); r.Sent, r.Unanswered = 30, 1; return r }(), "never answered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objective := 20 * time.Millisecond
			if tc.name == "kept up, last answers after the window" {
				objective = 5 * time.Second
			}
			ok, why := meets(tc.rep, 30, objective)
			if ok != (tc.why == "") || !strings.Contains(why, tc.why) {
				t.Fatalf("meets = %v %q, want %q", ok, why, tc.why)
			}
		})
	}
}

// The host's stolen CPU share comes from /proc/stat's steal column between two readings.
func TestStealShare(t *testing.T) {
	if got := stealShare(1000, 10, true, 1400, 110, true); got != 25 {
		t.Fatalf("stealShare = %v, want 25", got)
	}
	for _, tc := range [][6]uint64{{1000, 10, 0, 1000, 10, 1}, {1000, 10, 1, 900, 10, 1}} {
		if got := stealShare(tc[0], tc[1], tc[2] == 1, tc[3], tc[4], tc[5] == 1); got != -1 {
			t.Fatalf("stealShare%v = %v, want -1 (unknown)", tc, got)
		}
	}
	if total, steal, ok := cpuTimes(); ok && (total == 0 || steal > total) {
		t.Fatalf("cpuTimes = %d total, %d stolen", total, steal)
	}
}
