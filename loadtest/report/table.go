package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"text/tabwriter"
)

// WriteTable prints the summary of r as an aligned two-column table (what `posgate loadtest`
// prints at the end), followed by the operations and, when the run failed, why.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range summaryRows(r) {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "operation\tsent\tapproved\tdeclined\terrors")
	for _, name := range slices.Sorted(maps.Keys(r.Ops)) {
		o := r.Ops[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", name, o.Sent, o.Approved, o.Declined, o.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintln(w)
		for _, s := range f {
			if _, err := fmt.Fprintln(w, "FAILED: "+s); err != nil {
				return err
			}
		}
	}
	return nil
}

// summaryRows is the summary shared by the table and the HTML page.
func summaryRows(r *Report) [][2]string {
	rows := [][2]string{
		{"run", r.RunID},
		{"target", r.Target},
		{"terminals", fmt.Sprintf("%d (%d merchants)", r.Terminals, r.Merchants)},
		{"duration", fmt.Sprintf("%.1f s scheduled, %.1f s elapsed", r.DurationS, r.ElapsedS)},
		{"requested rate", fmt.Sprintf("%s /s", fmtFloat(r.RequestedRate))},
		{"scheduled / sent / completed", fmt.Sprintf("%d / %d / %d", r.Scheduled, r.Sent, r.Completed)},
		{"unanswered / abandoned", fmt.Sprintf("%d / %d", r.Unanswered, r.Abandoned)},
		{"queued (no idle terminal)", strconv.FormatInt(r.Queued, 10)},
		{"throughput", fmt.Sprintf("%.1f tps", r.TPS)},
		{"CPU stolen by the host during traffic", fmtSteal(r.CPUStealPct)},
		{"latency ms p50 / p90 / p99 / p99.9 / max", fmtLatency(r.Latency)},
		{"service latency ms (same)", fmtLatency(r.ServiceLatency)},
		{"response codes", fmtCounts(r.ResponseCodes)},
		{"errors", fmtCounts(r.Errors)},
		{"reversals owed / at once / later / pending", fmt.Sprintf("%d / %d / %d / %d", r.ReversalsOwed, r.Reversed,
			r.ReversalsDeliveredLater, r.ReversalsPending)},
		{"substituted follow-ups", strconv.FormatInt(r.Substituted, 10)},
		{"approved amount", fmtFen(r.ApprovedAmountFen)},
		{"batches settled / balanced / unbalanced / failed", fmt.Sprintf("%d / %d / %d / %d",
			r.Batches.Settled, r.Batches.Balanced, r.Batches.Unbalanced, r.Batches.Failed)},
		{"batch upload records", strconv.FormatInt(r.Batches.Uploaded, 10)},
		{"setup s provision / activate / sign-on / settle", fmt.Sprintf("%.2f / %.2f / %.2f / %.2f",
			r.Setup.ProvisionS, r.Setup.ActivateS, r.Setup.SignOnS, r.Setup.SettleS)},
	}
	if r.Idle != nil {
		rows = append(rows, [2]string{"idle connections requested / opened / alive at end",
			fmt.Sprintf("%d / %d / %d", r.Idle.Requested, r.Idle.Opened, r.Idle.AliveAtEnd)})
	}
	return rows
}

func fmtLatency(l Latency) string {
	return fmt.Sprintf("%s / %s / %s / %s / %s", fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max))
}

// fmtMs prints a latency with three significant digits' worth of decimals.
func fmtMs(ms float64) string {
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 2, 64)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// fmtCounts prints a map as "k=v k=v" in key order, "none" when empty.
func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var b []byte
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendInt(b, m[k], 10)
	}
	return string(b)
}

// fmtFen prints fen as yuan with two decimals, without floating point.
func fmtFen(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", uint64(-fen)
	}
	return fmt.Sprintf("%s%d.%02d CNY (%d fen)", sign, u/100, u%100, fen)
}

func fmtSteal(pct float64) string {
	if pct < 0 {
		return "unknown"
	}
	s := fmt.Sprintf("%.1f %%", pct)
	if pct >= 5 {
		s += " (latency reflects the host's contention)"
	}
	return s
}
