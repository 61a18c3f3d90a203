package report

import (
	"fmt"
	"html"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
)

// pageStyle is the page's whole stylesheet (no "<" or "&" inside, so the page stays XML).
const pageStyle = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#b00020;font-weight:bold}.ok{color:#11772d;font-weight:bold}
svg{display:block;margin:8px 0 4px 0;background:#fff}
svg text{font-size:11px;fill:#333}
svg .t{font-size:13px;font-weight:bold}svg .xl{text-anchor:middle}svg .yl{text-anchor:end}
svg .xt{text-anchor:middle}svg .yt{text-anchor:middle}
svg .g{stroke:#eee;stroke-width:1}svg .a{stroke:#888;stroke-width:1}
`

// WriteHTML writes r as one self-contained HTML page: the summary, the latency distribution
// (percentile spectrum and histogram), latency and throughput over time, and the response-code
// breakdown, as inline SVG. The page loads nothing and runs no script.
func WriteHTML(w io.Writer, r *Report) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>")
	fmt.Fprintf(&b, "<title>posgate load test %s</title>", html.EscapeString(r.RunID))
	b.WriteString("<style>" + pageStyle + "</style></head><body>\n")
	fmt.Fprintf(&b, "<h1>posgate load test — run %s</h1>\n", html.EscapeString(r.RunID))
	fmt.Fprintf(&b, "<p>Started %s against %s. Latencies are measured from each request's scheduled send time (open loop).</p>\n",
		html.EscapeString(r.StartedAt.UTC().Format("2006-01-02 15:04:05 MST")), html.EscapeString(r.Target))
	if f := r.Failures(); len(f) > 0 {
		b.WriteString("<p class=\"fail\">FAILED: " + html.EscapeString(strings.Join(f, "; ")) + "</p>\n")
	} else {
		b.WriteString("<p class=\"ok\">Every request answered, every batch balanced.</p>\n")
	}

	b.WriteString("<h2>Summary</h2>\n<table>")
	for _, row := range summaryRows(r) {
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>", html.EscapeString(row[0]), html.EscapeString(row[1]))
	}
	b.WriteString("</table>\n")

	b.WriteString("<h2>Latency distribution</h2>\n")
	b.WriteString(percentileChart(r))
	b.WriteString(distributionChart(r))
	b.WriteString("<h2>Over time</h2>\n")
	b.WriteString(latencyTimeChart(r))
	b.WriteString(throughputChart(r))
	b.WriteString("<h2>Responses</h2>\n")
	b.WriteString(codesChart(r))

	b.WriteString("<h2>Operations</h2>\n<table><tr><th>operation</th><th>sent</th><th>approved</th><th>declined</th><th>errors</th></tr>")
	for _, name := range slices.Sorted(maps.Keys(r.Ops)) {
		o := r.Ops[name]
		fmt.Fprintf(&b, "<tr><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td></tr>",
			html.EscapeString(name), o.Sent, o.Approved, o.Declined, o.Errors)
	}
	b.WriteString("</table>\n")

	b.WriteString("<h2>Percentiles</h2>\n<table><tr><th>percentile</th><th>ms</th></tr>")
	for _, p := range r.Percentiles {
		fmt.Fprintf(&b, "<tr><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>", fmtPct(p.Percentile), fmtMs(p.Ms))
	}
	b.WriteString("</table>\n</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtPct prints a percentile without trailing zeros ("99.9%").
func fmtPct(p float64) string { return fmtFloat(math.Round(p*10000)/10000) + "%" }

// percentileChart plots latency against the percentile on the usual HdrHistogram scale, where
// each step right is one more nine (0, 90, 99, 99.9 …).
func percentileChart(r *Report) string {
	const title = "Latency by percentile"
	var pts []point
	maxX := 1.0
	for _, p := range r.Percentiles {
		if p.Percentile >= 100 {
			continue
		}
		x := -math.Log10(1 - p.Percentile/100)
		maxX = math.Max(maxX, x)
		pts = append(pts, point{x, p.Ms})
	}
	if len(pts) == 0 {
		return emptyChart(title)
	}
	var xt []tick
	for k := 0; float64(k) <= math.Ceil(maxX-1e-9); k++ {
		xt = append(xt, tick{float64(k), nines(k)})
	}
	pts = append(pts, point{math.Ceil(maxX - 1e-9), r.Latency.Max})
	return lineChart(title, "percentile", "ms from scheduled send", []series{{name: "latency", color: palette[0], pts: pts}}, xt)
}

// nines returns the label of k nines: 0%, 90%, 99%, 99.9% …
func nines(k int) string {
	switch k {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", k-2) + "%"
}

func distributionChart(r *Report) string {
	var labels []string
	var values []float64
	for _, bk := range r.Distribution {
		labels = append(labels, "≤"+fmtMs(bk.ToMs))
		values = append(values, float64(bk.Count))
	}
	every := max(1, len(labels)/10)
	return barChart("Latency histogram (requests per bucket)", "ms from scheduled send (bucket upper bound)", "requests", labels, values, every)
}

func latencyTimeChart(r *Report) string {
	var p50, p99, mx []point
	for _, iv := range r.Timeline {
		if iv.P50 == 0 && iv.P99 == 0 && iv.Max == 0 {
			continue
		}
		p50 = append(p50, point{iv.StartS, iv.P50})
		p99 = append(p99, point{iv.StartS, iv.P99})
		mx = append(mx, point{iv.StartS, iv.Max})
	}
	return lineChart("Latency over time (by scheduled send)", "seconds since start", "ms", []series{
		{name: "p50", color: palette[0], pts: p50},
		{name: "p99", color: palette[1], pts: p99},
		{name: "max", color: palette[7], dashed: true, pts: mx},
	}, nil)
}

func throughputChart(r *Report) string {
	iv := r.IntervalS
	if iv <= 0 {
		iv = 1
	}
	var done, errs, want []point
	for _, t := range r.Timeline {
		done = append(done, point{t.StartS, float64(t.Completed) / iv})
		errs = append(errs, point{t.StartS, float64(t.Errors) / iv})
		if t.StartS < r.DurationS {
			want = append(want, point{t.StartS, r.RequestedRate})
		}
	}
	return lineChart("Throughput over time", "seconds since start", "per second", []series{
		{name: "completed/s", color: palette[2], pts: done},
		{name: "requested/s", color: palette[7], dashed: true, pts: want},
		{name: "errors/s", color: palette[1], pts: errs},
	}, nil)
}

// codesChart shows the response codes and, below them, the errors without a response.
func codesChart(r *Report) string {
	var labels, colors []string
	var values []int64
	for _, c := range slices.Sorted(maps.Keys(r.ResponseCodes)) {
		labels = append(labels, "code "+c)
		values = append(values, r.ResponseCodes[c])
		if c == "00" {
			colors = append(colors, palette[2])
		} else {
			colors = append(colors, palette[3])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		labels = append(labels, k)
		values = append(values, r.Errors[k])
		colors = append(colors, palette[1])
	}
	return hbarChart("Response codes and errors", labels, values, colors)
}
