// Package report holds the outcome of one load-generator run and writes it three ways:
// report.json (the machine-readable record), report.html (one self-contained page with inline
// SVG charts, nothing fetched from the network) and a plain-text summary table.
//
// A Report is plain data: the load generator fills it (latencies already reduced from its
// HdrHistograms to percentiles, buckets and per-interval series), and this package only
// renders it, so it can be tested with hand-made reports and imports nothing of posgate.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// File names written by WriteDir.
const (
	JSONFile = "report.json"
	HTMLFile = "report.html"
)

// Report is one run. Counts are requests (financial transactions), not frames: reversals,
// sign-ons and settlement messages are counted in their own fields. Latencies are milliseconds
// measured from each request's scheduled send time (open loop: time spent waiting for an idle
// terminal counts). Amounts are fen.
type Report struct {
	RunID     string    `json:"run_id"`
	Target    string    `json:"target"`
	StartedAt time.Time `json:"started_at"`
	Terminals int       `json:"terminals"`
	Merchants int       `json:"merchants"`
	// DurationS is the scheduled window; ElapsedS runs from the first scheduled send to the
	// last answer (it is longer when requests queued or answers came late).
	DurationS     float64        `json:"duration_s"`
	ElapsedS      float64        `json:"elapsed_s"`
	RequestedRate float64        `json:"requested_rate"`
	TimeoutS      float64        `json:"timeout_s"`
	Mix           map[string]int `json:"mix"`

	// Scheduled requests = Sent + Abandoned. Sent were handed to a terminal; Completed got a
	// response (any code); Unanswered = Sent − Completed. Abandoned were still waiting for an
	// idle terminal when the run stopped dispatching. Queued found no idle terminal at their
	// scheduled time and waited (their latency includes the wait).
	Scheduled  int64 `json:"scheduled"`
	Sent       int64 `json:"sent"`
	Completed  int64 `json:"completed"`
	Unanswered int64 `json:"unanswered"`
	Abandoned  int64 `json:"abandoned"`
	Queued     int64 `json:"queued"`
	// Substituted are follow-ups (void, refund, completion) drawn for a terminal that had no
	// original left, sent as a purchase (or pre-authorization) instead.
	Substituted int64 `json:"substituted"`
	// ReversalsOwed are requests whose answer was missing or unusable: the terminal owed a
	// reversal. Reversed of them were acknowledged in the same exchange,
	// ReversalsDeliveredLater on a later one (before the next transaction or the settlement),
	// and ReversalsPending were still owed when the run ended:
	// ReversalsOwed = Reversed + ReversalsDeliveredLater + ReversalsPending.
	Reversed                int64 `json:"reversed"`
	ReversalsOwed           int64 `json:"reversals_owed"`
	ReversalsDeliveredLater int64 `json:"reversals_delivered_later"`
	ReversalsPending        int64 `json:"reversals_pending"`

	// CPUStealPct is the share of the machine's CPU time its hypervisor stole during the
	// traffic (from /proc/stat; -1 when unknown). Above a few percent, latency figures measure
	// the host's contention as much as the gateway.
	CPUStealPct float64 `json:"cpu_steal_pct"`

	// TPS is Completed / ElapsedS.
	TPS            float64 `json:"tps"`
	Latency        Latency `json:"latency_ms"`
	ServiceLatency Latency `json:"service_latency_ms"` // write to read, as the terminal times it

	ResponseCodes map[string]int64   `json:"response_codes"`
	Errors        map[string]int64   `json:"errors"`
	Ops           map[string]OpStats `json:"ops"`

	// ApprovedAmountFen is what the fleet expects to be settled: approved purchases and
	// completions minus approved voids and refunds; reversed requests are not approved.
	ApprovedAmountFen int64   `json:"approved_amount_fen"`
	Batches           Batches `json:"batches"`
	Setup             Setup   `json:"setup"`
	Idle              *Idle   `json:"idle_connections,omitempty"`

	// Percentiles is the latency percentile spectrum; Distribution the latency histogram in
	// log-spaced buckets; Timeline one entry per interval of IntervalS seconds.
	Percentiles  []Percentile `json:"latency_percentiles"`
	Distribution []Bucket     `json:"latency_distribution"`
	IntervalS    float64      `json:"interval_s"`
	Timeline     []Interval   `json:"timeline"`
}

// Latency is a summary of a latency histogram, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// OpStats counts one operation of the mix.
type OpStats struct {
	Sent     int64 `json:"sent"`
	Approved int64 `json:"approved"`
	Declined int64 `json:"declined"`
	Errors   int64 `json:"errors"`
}

// Batches counts the fleet's settlements over the run: one 0500 per terminal at the end, and
// one each time a terminal's batch filled up during the run. Settled = Balanced + Unbalanced
// (the 0510 arrived; unbalanced ones were uploaded); Failed got no usable answer, a decline or
// an error flag; Uploaded is the number of records sent in batch uploads.
type Batches struct {
	Settled    int   `json:"settled"`
	Balanced   int   `json:"balanced"`
	Unbalanced int   `json:"unbalanced"`
	Failed     int   `json:"failed"`
	Uploaded   int64 `json:"uploaded_records"`
}

// Setup is how long the fleet took to get ready, in seconds.
type Setup struct {
	ProvisionS float64 `json:"provision_s"`
	ActivateS  float64 `json:"activate_s"`
	SignOnS    float64 `json:"sign_on_s"`
	SettleS    float64 `json:"settle_s"`
}

// Idle describes the idle connections held open during the run.
type Idle struct {
	Requested  int `json:"requested"`
	Opened     int `json:"opened"`
	AliveAtEnd int `json:"alive_at_end"`
}

// Percentile is one point of the percentile spectrum.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// Bucket counts latencies in (FromMs, ToMs].
type Bucket struct {
	FromMs float64 `json:"from_ms"`
	ToMs   float64 `json:"to_ms"`
	Count  int64   `json:"count"`
}

// Interval is one slice of the timeline, starting StartS seconds after the first scheduled
// send. Scheduled and Sent count by scheduled time, Completed and Errors by the time the
// outcome was known; latencies are of the requests scheduled in the interval that were answered.
type Interval struct {
	StartS    float64 `json:"t_s"`
	Scheduled int64   `json:"scheduled"`
	Completed int64   `json:"completed"`
	Errors    int64   `json:"errors"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

// Failures lists why the run must exit non-zero: unbalanced or failed batches and requests
// that were never answered (or never sent). Empty means success.
func (r *Report) Failures() []string {
	var out []string
	if r.Batches.Unbalanced > 0 {
		out = append(out, fmt.Sprintf("%d batch(es) not balanced", r.Batches.Unbalanced))
	}
	if r.Batches.Failed > 0 {
		out = append(out, fmt.Sprintf("%d settlement(s) failed", r.Batches.Failed))
	}
	if r.Unanswered > 0 {
		out = append(out, fmt.Sprintf("%d request(s) never answered", r.Unanswered))
	}
	if r.Abandoned > 0 {
		out = append(out, fmt.Sprintf("%d scheduled request(s) never sent (no idle terminal in time)", r.Abandoned))
	}
	return out
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteDir writes report.json and report.html into dir, creating it (mode 0755) when needed.
// Existing reports of the same names are replaced.
func WriteDir(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := writeFile(filepath.Join(dir, JSONFile), func(w io.Writer) error { return WriteJSON(w, r) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, HTMLFile), func(w io.Writer) error { return WriteHTML(w, r) })
}

// writeFile writes through a temporary file renamed into place, so a reader never sees half
// a report.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp := f.Name()
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("report: %s: %w", filepath.Base(path), err)
	}
	return nil
}
