package loadtest

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/posgate/posgate/loadtest/report"
	"github.com/posgate/posgate/loadtest/termsim"
)

// Latencies are recorded in microseconds, from 1 µs to an hour (longer ones are clamped), with
// 3 significant digits for the run and 2 for each timeline interval (26 KB each).
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	// maxIntervals bounds the timeline: a long run gets wider intervals.
	maxIntervals = 600
)

// outcome is what one request came to.
type outcome struct {
	kind      Kind
	due, done time.Time
	sent      bool // handed to the terminal (false: abandoned)
	answered  bool // a response arrived (any code)
	code      string
	approved  bool
	errKind   string        // "" when the request went through (approved or declined)
	service   time.Duration // write to read, when answered
	reversed  bool          // reversed, 0410 received
	owed      bool          // a reversal was owed (reversed or pending)
	// reversedLater counts reversals owed by earlier requests that were acknowledged during
	// this one's exchange.
	reversedLater int64
	subst         bool // a follow-up sent as its originating operation
}

// interval is one slice of the timeline.
type interval struct {
	scheduled, completed, errors int64
	lat                          *hdrhistogram.Histogram // by scheduled time; nil until used
}

// recorder collects the outcomes of a run. It is safe for concurrent use; one mutex is plenty
// at the rates one machine can generate (it is held for a few hundred nanoseconds).
type recorder struct {
	mu       sync.Mutex
	start    time.Time
	width    time.Duration // of a timeline interval
	lat, svc *hdrhistogram.Histogram
	tick     *hdrhistogram.Histogram // latencies since the last progress line
	timeline []interval

	codes map[string]int64
	errs  map[string]int64
	ops   [numKinds]report.OpStats

	scheduled, sent, completed, queued, abandoned int64
	substituted, reversed, owed, errors           int64
	later                                         int64 // reversals acknowledged after their exchange
	tickCompleted                                 int64
	last                                          time.Time // latest outcome

	batches     report.Batches
	firstSettle string // the first failed settlement, for the progress output
}

func newRecorder(duration time.Duration) *recorder {
	width := time.Second
	if duration > maxIntervals*time.Second {
		width = (duration + maxIntervals*time.Second - 1) / (maxIntervals * time.Second) * time.Second
	}
	return &recorder{
		width: width,
		lat:   hdrhistogram.New(histLowest, histHighest, 3),
		svc:   hdrhistogram.New(histLowest, histHighest, 3),
		tick:  hdrhistogram.New(histLowest, histHighest, 2),
		codes: map[string]int64{},
		errs:  map[string]int64{},
	}
}

func micros(d time.Duration) int64 {
	v := int64(d / time.Microsecond)
	return min(max(v, histLowest), histHighest)
}

// at returns the timeline interval of t, growing the timeline; r.mu must be held.
func (r *recorder) at(t time.Time) *interval {
	i := 0
	if d := t.Sub(r.start); d > 0 {
		i = int(d / r.width)
	}
	for len(r.timeline) <= i {
		r.timeline = append(r.timeline, interval{})
	}
	return &r.timeline[i]
}

// dispatched counts a request handed to a terminal; queued says it found none idle at its
// scheduled time.
func (r *recorder) dispatched(due time.Time, queued bool) {
	r.mu.Lock()
	r.scheduled++
	r.sent++
	if queued {
		r.queued++
	}
	r.at(due).scheduled++
	r.mu.Unlock()
}

// abandon counts n scheduled requests that were never sent.
func (r *recorder) abandon(n int64) {
	r.mu.Lock()
	r.scheduled += n
	r.abandoned += n
	r.errs["abandoned"] += n
	r.mu.Unlock()
}

func (r *recorder) record(o outcome) {
	lat := micros(o.done.Sub(o.due))
	r.mu.Lock()
	defer r.mu.Unlock()
	if o.done.After(r.last) {
		r.last = o.done
	}
	op := &r.ops[o.kind]
	op.Sent++
	if o.subst {
		r.substituted++
	}
	if o.reversed {
		r.reversed++
	}
	if o.owed {
		r.owed++
	}
	r.later += o.reversedLater
	if o.answered {
		r.completed++
		r.tickCompleted++
		r.codes[o.code]++
		_ = r.lat.RecordValue(lat)
		_ = r.tick.RecordValue(lat)
		_ = r.svc.RecordValue(micros(o.service))
		iv := r.at(o.due)
		if iv.lat == nil {
			iv.lat = hdrhistogram.New(histLowest, histHighest, 2)
		}
		_ = iv.lat.RecordValue(lat)
		r.at(o.done).completed++
	}
	switch {
	case o.errKind != "":
		op.Errors++
		r.errors++
		r.errs[o.errKind]++
		r.at(o.done).errors++
	case o.approved:
		op.Approved++
	default:
		op.Declined++
	}
}

// note counts an error that is not a request's (a settlement, a book mismatch).
func (r *recorder) note(kind string) {
	r.mu.Lock()
	r.errs[kind]++
	r.mu.Unlock()
}

// settled records one settlement: err from termsim.Settle, bookOK whether the terminal's book
// matched the approvals seen.
func (r *recorder) settled(tid string, st termsim.Settlement, err error, bookOK bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &r.batches
	b.Uploaded += int64(st.Uploaded)
	switch {
	case err != nil:
		b.Failed++
		r.errs["settlement_"+settleErrorKind(st, err)]++
		if r.firstSettle == "" {
			r.firstSettle = "terminal " + tid + ": " + err.Error()
		}
	case balanced(st):
		b.Settled++
		b.Balanced++
	default:
		b.Settled++
		b.Unbalanced++
	}
	if !bookOK {
		r.errs["book_mismatch"]++
	}
}

// settleErrorKind names a failed settlement: the error flag, a decline, or what went wrong on
// the wire.
func settleErrorKind(st termsim.Settlement, err error) string {
	switch {
	case errors.Is(err, termsim.ErrSettlement):
		return "error_flag"
	case errors.Is(err, termsim.ErrBook):
		return "book_too_large"
	case errors.Is(err, termsim.ErrDeclined) && st.Code != "":
		return "declined"
	}
	if k := errorKind(st.Result, err); k != "" {
		return k
	}
	return "other"
}

func (r *recorder) batchCounts() (report.Batches, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batches, r.firstSettle
}

// progress is a snapshot for the progress line.
type progress struct {
	sent, completed, errors, queued int64
	rate                            float64 // completions per second since the last snapshot
	p99                             time.Duration
}

// snapshot returns the counters and the p99 of the latencies since the previous snapshot,
// which it resets.
func (r *recorder) snapshot(since time.Duration) progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := progress{sent: r.sent, completed: r.completed, errors: r.errors, queued: r.queued}
	if since > 0 {
		p.rate = float64(r.tickCompleted) / since.Seconds()
	}
	p.p99 = time.Duration(r.tick.ValueAtQuantile(99)) * time.Microsecond
	r.tick.Reset()
	r.tickCompleted = 0
	return p
}

// Percentiles in the report's spectrum.
var spectrum = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}

func ms(us int64) float64 { return float64(us) / 1000 }

func summarize(h *hdrhistogram.Histogram) report.Latency {
	if h.TotalCount() == 0 {
		return report.Latency{}
	}
	return report.Latency{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: math.Round(h.Mean()) / 1000,
	}
}

// distribution rebins h into buckets a tenth of a decade wide (×1.259), from the bucket of the
// smallest value to that of the largest.
func distribution(h *hdrhistogram.Histogram) []report.Bucket {
	if h.TotalCount() == 0 {
		return nil
	}
	const step = 0.1 // decades
	idx := func(us int64) int { return int(math.Floor(math.Log10(float64(max(us, 1))) / step)) }
	lo, hi := idx(h.Min()), idx(h.Max())
	counts := make([]int64, hi-lo+1)
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := min(max(idx(bar.From)-lo, 0), len(counts)-1)
		counts[i] += bar.Count
	}
	out := make([]report.Bucket, len(counts))
	for i, c := range counts {
		from := math.Pow(10, float64(lo+i)*step) / 1000
		to := math.Pow(10, float64(lo+i+1)*step) / 1000
		out[i] = report.Bucket{FromMs: roundMs(from), ToMs: roundMs(to), Count: c}
	}
	return out
}

// roundMs keeps three significant digits.
func roundMs(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(v)))
	return math.Round(v*p) / p
}

// reversedLater counts reversals acknowledged outside a financial exchange (before a
// settlement).
func (r *recorder) reversedLater(n int64) {
	r.mu.Lock()
	r.later += n
	r.mu.Unlock()
}

// fill copies what the recorder holds into rep.
func (r *recorder) fill(rep *report.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Scheduled, rep.Sent, rep.Completed = r.scheduled, r.sent, r.completed
	rep.Unanswered = r.sent - r.completed
	rep.Abandoned, rep.Queued, rep.Substituted = r.abandoned, r.queued, r.substituted
	rep.Reversed, rep.ReversalsOwed, rep.ReversalsDeliveredLater = r.reversed, r.owed, r.later
	if !r.last.IsZero() {
		rep.ElapsedS = math.Max(r.last.Sub(r.start).Seconds(), rep.DurationS)
	} else {
		rep.ElapsedS = rep.DurationS
	}
	if rep.ElapsedS > 0 {
		rep.TPS = math.Round(float64(r.completed)/rep.ElapsedS*10) / 10
	}
	rep.Latency = summarize(r.lat)
	rep.ServiceLatency = summarize(r.svc)
	rep.ResponseCodes = map[string]int64{}
	for k, v := range r.codes {
		rep.ResponseCodes[k] = v
	}
	rep.Errors = map[string]int64{}
	for k, v := range r.errs {
		rep.Errors[k] = v
	}
	rep.Ops = map[string]report.OpStats{}
	for k, o := range r.ops {
		if o.Sent > 0 {
			rep.Ops[kindNames[k]] = o
		}
	}
	if r.lat.TotalCount() > 0 {
		for _, p := range spectrum {
			rep.Percentiles = append(rep.Percentiles, report.Percentile{Percentile: p, Ms: ms(r.lat.ValueAtQuantile(p))})
		}
	}
	rep.Distribution = distribution(r.lat)
	rep.IntervalS = r.width.Seconds()
	for i, iv := range r.timeline {
		out := report.Interval{StartS: float64(i) * r.width.Seconds(), Scheduled: iv.scheduled,
			Completed: iv.completed, Errors: iv.errors}
		if iv.lat != nil && iv.lat.TotalCount() > 0 {
			out.P50, out.P99, out.Max = ms(iv.lat.ValueAtQuantile(50)), ms(iv.lat.ValueAtQuantile(99)), ms(iv.lat.Max())
		}
		rep.Timeline = append(rep.Timeline, out)
	}
}
