package loadtest

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/posgate/posgate/loadtest/report"
)

// A sweep runs the load at rising rates, each with a fleet of its own, and finds the highest rate
// that meets a latency objective: every request answered without error, at least 99 % of the
// requests the rate asks for over the window sent and answered, and the p99 within the objective. It stops at the first rate that
// misses (beyond it the latency only grows), so a sweep past the ceiling costs one step.

// SweepStep is one rate of a sweep.
type SweepStep struct {
	Rate   float64
	Report *report.Report
	// Met tells whether the step met the objective; Why says how it missed.
	Met bool
	Why string
}

// ParseSweep parses "FROM:TO:STEP" (requests per second, FROM ≤ TO, STEP > 0; at most 100 steps).
func ParseSweep(s string) ([]float64, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: --sweep %q: want FROM:TO:STEP, e.g. 1000:12000:1000", ErrConfig, s)
	}
	var v [3]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 1e6 {
			return nil, fmt.Errorf("%w: --sweep %q: %q is not a rate between 0 and 1,000,000", ErrConfig, s, p)
		}
		v[i] = f
	}
	from, to, step := v[0], v[1], v[2]
	if from > to {
		return nil, fmt.Errorf("%w: --sweep %q: FROM is above TO", ErrConfig, s)
	}
	n := int((to-from)/step) + 1
	if n > 100 {
		return nil, fmt.Errorf("%w: --sweep %q: %d steps, at most 100", ErrConfig, s, n)
	}
	rates := make([]float64, 0, n)
	for i := range n {
		rates = append(rates, from+float64(i)*step)
	}
	return rates, nil
}

// Sweep runs cfg at each rate in turn (cfg.Rate is replaced; every step provisions a fleet of its
// own) until a step misses the objective p99, calling each after every step. It returns the steps
// run; the best is the last one met (Best).
func Sweep(ctx context.Context, cfg Config, rates []float64, p99 time.Duration, each func(SweepStep)) ([]SweepStep, error) {
	if p99 <= 0 {
		return nil, fmt.Errorf("%w: the latency objective must be positive", ErrConfig)
	}
	var steps []SweepStep
	for _, rate := range rates {
		c := cfg
		c.Rate = rate
		c.RunID = "" // a fresh fleet per step: batches and STANs start clean
		r, err := New(c)
		if err != nil {
			return steps, err
		}
		rep, err := r.Run(ctx)
		if err != nil {
			return steps, fmt.Errorf("sweep at %g/s: %w", rate, err)
		}
		st := SweepStep{Rate: rate, Report: rep}
		st.Met, st.Why = meets(rep, rate, p99)
		steps = append(steps, st)
		if each != nil {
			each(st)
		}
		if !st.Met || ctx.Err() != nil {
			break
		}
	}
	return steps, nil
}

// Verdict is "met", or "missed: " and why.
func (s SweepStep) Verdict() string {
	if s.Met {
		return "met"
	}
	return "missed: " + s.Why
}

// errorCount is the number of requests of rep that ended in an error.
func errorCount(rep *report.Report) int64 {
	var n int64
	for _, c := range rep.Errors {
		n += c
	}
	return n
}

// meets tells whether rep, a run at rate, meets the objective p99, and if not why.
func meets(rep *report.Report, rate float64, p99 time.Duration) (bool, string) {
	errs := errorCount(rep)
	switch {
	case len(rep.Failures()) > 0:
		return false, strings.Join(rep.Failures(), "; ")
	case errs > 0:
		return false, fmt.Sprintf("%d errors", errs)
	case float64(rep.Completed) < 0.99*rate*rep.DurationS:
		// Counted over the scheduled window: the last answers' latency is the p99's to judge,
		// and at a few requests per second it would drag the wall-clock rate below 99 %.
		return false, fmt.Sprintf("answered %d of the %.0f the rate asks for", rep.Completed, rate*rep.DurationS)
	case rep.Latency.P99 > float64(p99)/float64(time.Millisecond):
		return false, fmt.Sprintf("p99 %.1f ms above %v", rep.Latency.P99, p99)
	}
	return true, ""
}

// Best is the highest rate of steps that met the objective (nil when none did).
func Best(steps []SweepStep) *SweepStep {
	var best *SweepStep
	for i := range steps {
		if steps[i].Met && (best == nil || steps[i].Rate > best.Rate) {
			best = &steps[i]
		}
	}
	return best
}

// WriteSweepTable writes steps as a Markdown table (the one BENCHMARKS.md keeps) and the verdict.
func WriteSweepTable(w io.Writer, steps []SweepStep, p99 time.Duration) error {
	var b strings.Builder
	b.WriteString("| rate | achieved | p50 ms | p99 ms | max ms | errors | CPU stolen | objective |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range steps {
		stolen := "—"
		if s.Report.CPUStealPct >= 0 {
			stolen = fmt.Sprintf("%.1f %%", s.Report.CPUStealPct)
		}
		fmt.Fprintf(&b, "| %.0f/s | %.0f | %.1f | %.1f | %.1f | %d | %s | %s |\n", s.Rate, s.Report.TPS,
			s.Report.Latency.P50, s.Report.Latency.P99, s.Report.Latency.Max, errorCount(s.Report), stolen, s.Verdict())
	}
	if best := Best(steps); best != nil {
		fmt.Fprintf(&b, "\nhighest rate meeting p99 ≤ %v with no error: %.0f/s\n", p99, best.Rate)
	} else {
		fmt.Fprintf(&b, "\nno rate met p99 ≤ %v with no error\n", p99)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
