package reconcile

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report as an operator reads it: a table of every class with counts and
// fen for both comparisons, the three nets, then the differences one per line.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "reconcile %s: journal %d records, issuer %d records", r.Date, r.JournalRecords, r.IssuerRecords)
	if r.Terminals != nil {
		fmt.Fprintf(&b, ", terminals %d entries", r.TerminalEntries)
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "%-22s %24s", "", "journal ↔ issuer")
	if r.Terminals != nil {
		fmt.Fprintf(&b, " %26s", "terminals ↔ journal")
	}
	b.WriteByte('\n')
	row := func(name string, a Amount, t *Amount) {
		fmt.Fprintf(&b, "%-22s %8d %15s", name, a.Count, Fen(a.Fen))
		if r.Terminals != nil && t != nil {
			fmt.Fprintf(&b, "   %8d %15s", t.Count, Fen(t.Fen))
		}
		b.WriteByte('\n')
	}
	var t Comparison
	if r.Terminals != nil {
		t = *r.Terminals
	}
	i := r.Issuer
	row("matched", i.Matched, &t.Matched)
	row("reversed at both", i.ReversedBoth, &t.ReversedBoth)
	row("declined", i.Declined, &t.Declined)
	row("missing at issuer", i.MissingAtIssuer, nil)
	row("missing at terminal", Amount{}, &t.MissingAtTerminal)
	row("missing at acquirer", i.MissingAtAcquirer, &t.MissingAtAcquirer)
	row("amount mismatch", i.AmountMismatch, &t.AmountMismatch)
	row("reversed one side", i.ReversedOneSide, &t.ReversedOneSide)
	row("doubled (journal)", r.Doubled, nil)
	row("open intents", r.OpenIntents, nil)
	b.WriteByte('\n')
	net := func(name string, n Net) {
		fmt.Fprintf(&b, "net %-9s %15s  (sales %d = %s, credits %d = %s)\n", name, Fen(n.Net), n.Sales.Count, Fen(n.Sales.Fen),
			n.Credits.Count, Fen(n.Credits.Fen))
	}
	if r.TerminalNet != nil {
		net("terminals", *r.TerminalNet)
	}
	net("journal", r.AcquirerNet)
	net("issuer", r.IssuerNet)
	b.WriteByte('\n')
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "%-19s %-8s %-15s route=%s up=%s/%s tid=%s batch=%s stan=%s txn=%s journal=%s other=%s %s\n",
			d.Kind, d.Side, d.Type, d.Route, d.UpstreamSTAN, d.Transmission, d.TID, d.Batch, d.STAN, d.TxnID,
			Fen(d.AcquirerAmount), Fen(d.OtherAmount), d.Detail)
	}
	if r.Unlisted > 0 {
		fmt.Fprintf(&b, "… and %d more differences\n", r.Unlisted)
	}
	if r.Clean {
		b.WriteString("OK: no difference\n")
	} else {
		b.WriteString("DIFFERENCES FOUND\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Fen formats an amount in fen as yuan with two decimals (integer arithmetic).
func Fen(f int64) string {
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	return fmt.Sprintf("%s%d.%02d", sign, f/100, f%100)
}
