package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/posgate/posgate/journal"
)

// DefaultSlack widens a business date's window when deciding whether an issuer record or a
// terminal line that matches nothing belongs to the date being reconciled.
const DefaultSlack = 10 * time.Minute

// MaxListed bounds the differences a Report lists one by one (all are counted).
const MaxListed = 1000

// Input is what Run compares.
type Input struct {
	// Date is the business date to reconcile; Calendar reckons its window.
	Date     journal.Date
	Calendar journal.Calendar
	// Journal reads every record of one business date (the journal's Read). Run reads Date and
	// both neighbours, so that what the issuer or a terminal booked just across a cut-off is
	// recognised as the neighbour's and not reported missing.
	Journal func(d journal.Date, fn func(journal.Record) error) error
	// Issuer is the clearing file: every issuer record of the period (records of other dates
	// are recognised and left out).
	Issuer []IssuerRecord
	// Terminals is the terminals' books; nil when not given. Only the TIDs they mention are
	// compared.
	Terminals []TerminalEntry
	// Slack widens the date's window for unmatched records. Default DefaultSlack.
	Slack time.Duration
}

// Amount is a count of transactions and their total in fen.
type Amount struct {
	Count int64 `json:"count"`
	Fen   int64 `json:"fen"`
}

func (a *Amount) add(fen int64) { a.Count++; a.Fen += fen }

// Comparison is the outcome of comparing two sides transaction by transaction. Matched,
// ReversedBoth and Declined are agreements; the rest are differences.
type Comparison struct {
	Matched      Amount `json:"matched"`       // money moved at both sides, same amount
	ReversedBoth Amount `json:"reversed_both"` // reversed (or never approved) at both sides
	Declined     Amount `json:"declined"`      // declined at both sides
	// MissingAtIssuer (or, terminals against the journal, MissingAtTerminal): approved and
	// standing at the acquirer, unknown or not approved at the other side.
	MissingAtIssuer   Amount `json:"missing_at_issuer,omitzero"`
	MissingAtTerminal Amount `json:"missing_at_terminal,omitzero"`
	// MissingAtAcquirer: approved and standing at the other side, not at the acquirer.
	MissingAtAcquirer Amount `json:"missing_at_acquirer"`
	AmountMismatch    Amount `json:"amount_mismatch"` // fen: the acquirer's amounts
	// ReversedOneSide: reversed at one side, standing at the other — a reversal owed and not
	// delivered, or one the acquirer never booked.
	ReversedOneSide Amount `json:"reversed_one_side"`
}

// Differences counts the transactions that differ.
func (c *Comparison) Differences() int64 {
	return c.MissingAtIssuer.Count + c.MissingAtTerminal.Count + c.MissingAtAcquirer.Count +
		c.AmountMismatch.Count + c.ReversedOneSide.Count
}

// Net is a side's money: sales and completions standing, minus voids, completion voids and
// refunds standing, in fen. Pre-authorizations and their voids hold funds and move none.
type Net struct {
	Sales   Amount `json:"sales"`
	Credits Amount `json:"credits"` // voids, completion voids, refunds
	Net     int64  `json:"net_fen"`
}

func (n *Net) add(sign int, fen int64) {
	switch {
	case sign > 0:
		n.Sales.add(fen)
		n.Net += fen
	case sign < 0:
		n.Credits.add(fen)
		n.Net -= fen
	}
}

// Difference is one transaction that differs. Amounts are in fen.
type Difference struct {
	Kind           string `json:"kind"` // the Comparison field's JSON name, or "doubled"
	Side           string `json:"side"` // "issuer" or "terminal": which comparison
	Type           string `json:"type"`
	Route          string `json:"route,omitempty"`
	UpstreamSTAN   string `json:"upstream_stan,omitempty"`
	Transmission   string `json:"transmission,omitempty"`
	TID            string `json:"tid,omitempty"`
	Batch          string `json:"batch,omitempty"`
	STAN           string `json:"stan,omitempty"`
	TxnID          string `json:"txn_id,omitempty"`
	AcquirerAmount int64  `json:"acquirer_fen"`
	OtherAmount    int64  `json:"other_fen"`
	Detail         string `json:"detail,omitempty"`
}

// Report is the reconciliation of one business date.
type Report struct {
	Date string `json:"date"`
	// Inputs read: journal records of the date, issuer records and terminal lines in scope.
	JournalRecords  int `json:"journal_records"`
	IssuerRecords   int `json:"issuer_records"`
	TerminalEntries int `json:"terminal_entries"`

	Issuer    Comparison  `json:"issuer"`             // the journal against the issuer
	Terminals *Comparison `json:"terminals,omitzero"` // the terminals' books against the journal
	// Doubled: terminal transactions (TID + batch + STAN) the journal holds as standing more
	// than once — booked twice.
	Doubled Amount `json:"doubled"`
	// OpenIntents: upstream requests the journal holds with no outcome and no reversal. On a
	// quiescent gateway (every transaction finished, the node recovered) each is a
	// difference: the journal does not know what became of a request it sent. Those the
	// issuer approved are also counted as missing at the acquirer.
	OpenIntents Amount `json:"open_intents"`

	AcquirerNet Net  `json:"acquirer"`
	IssuerNet   Net  `json:"issuer_net"`
	TerminalNet *Net `json:"terminal_net,omitzero"`

	Differences []Difference `json:"differences"`
	// Unlisted counts differences beyond MaxListed.
	Unlisted int64 `json:"unlisted,omitzero"`
	// Clean: no difference of any kind.
	Clean bool `json:"clean"`
}

func (r *Report) list(d Difference) {
	if len(r.Differences) >= MaxListed {
		r.Unlisted++
		return
	}
	r.Differences = append(r.Differences, d)
}

// acq is one upstream request as the journal holds it.
type acq struct {
	rec      journal.Record // the capture (or, without one, the intent)
	typ      journal.TxnType
	captured bool // a capture record: approved or declined by its response code
	approved bool
	declined bool
	intent   bool
	reversed bool
}

// iss is one request as the issuer booked it.
type iss struct {
	rec      IssuerRecord
	known    bool // the request itself was booked (not only a reversal of it)
	approved bool
	reversed bool
}

// sign is the direction money moves for a transaction type named as in a clearing file.
func sign(typ string) int {
	switch typ {
	case "purchase", "completion":
		return 1
	case "void", "completion-void", "refund":
		return -1
	}
	return 0
}

// clearingType names a journal type as a clearing file does.
func clearingType(t journal.TxnType) string { return strings.ReplaceAll(t.String(), "_", "-") }

func upKey(route string, stan uint32, transmission string) string {
	return route + "|" + stan6(stan) + "|" + transmission
}

func termKey(tid, batch, stan string) string { return tid + "|" + batch + "|" + stan }

// dayBook is what the journal of one date holds, by upstream key and by terminal key.
type dayBook struct {
	up      map[string]*acq
	order   []string // upstream keys in journal order
	records int
	// terminal: standing captures by terminal key, plus every capture's key seen.
	standing map[string][]*acq
	seenTerm map[string]bool
}

func readDay(in *Input, d journal.Date) (*dayBook, error) {
	b := &dayBook{up: map[string]*acq{}, standing: map[string][]*acq{}, seenTerm: map[string]bool{}}
	var reversals []journal.Record
	err := in.Journal(d, func(r journal.Record) error {
		b.records++
		if r.Type.IsBatch() {
			return nil
		}
		if r.Type == journal.TypeReversal {
			reversals = append(reversals, r)
			return nil
		}
		if r.Route == "" || r.Upstream.IsZero() {
			// Never sent upstream: nothing the issuer could hold. A standing capture of that
			// kind still counts for the terminal comparison below.
			if r.Type != journal.TypeIntent && r.Type != journal.TypeDeclined {
				a := &acq{rec: r, typ: r.Type, captured: true, approved: r.ResponseCode == "00", declined: r.ResponseCode != "00"}
				b.order = append(b.order, "local|"+r.TxnID)
				b.up["local|"+r.TxnID] = a
			}
			return nil
		}
		k := upKey(r.Route, r.Upstream.STAN, r.Upstream.Transmission)
		a := b.up[k]
		if a == nil {
			a = &acq{}
			b.up[k] = a
			b.order = append(b.order, k)
		}
		switch r.Type {
		case journal.TypeIntent:
			a.intent = true
			if !a.captured {
				a.rec, a.typ = r, r.Of
			}
		case journal.TypeDeclined:
			a.declined = true
			if !a.captured {
				a.rec, a.typ = r, r.Of
			}
		default:
			a.rec, a.typ, a.captured = r, r.Type, true
			if r.ResponseCode == "00" {
				a.approved = true
			} else {
				a.declined = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	byID := map[string]*acq{}
	for _, a := range b.up {
		if a.captured {
			byID[a.rec.TxnID] = a
		}
	}
	for _, a := range b.up {
		if !a.captured && a.intent && byID[a.rec.Original.TxnID] == nil {
			byID[a.rec.Original.TxnID] = a
		}
	}
	for _, r := range reversals {
		if !r.Upstream.IsZero() && r.Route != "" {
			k := upKey(r.Route, r.Upstream.STAN, r.Upstream.Transmission)
			a := b.up[k]
			if a == nil { // a reversal of a request journaled under another date
				a = &acq{rec: r, typ: r.Of}
				b.up[k] = a
				b.order = append(b.order, k)
			}
			a.reversed = true
			continue
		}
		// A reversal without upstream identifiers (the terminal's, of a request still in
		// flight when it came): by transaction id, of the capture or of the intent that names
		// it as its outcome.
		if a := byID[r.Original.TxnID]; a != nil {
			a.reversed = true
		}
	}
	for _, k := range b.order {
		a := b.up[k]
		if !a.captured {
			continue
		}
		tk := termKey(a.rec.TID, a.rec.Batch, a.rec.STAN)
		b.seenTerm[tk] = true
		if a.approved && !a.reversed {
			b.standing[tk] = append(b.standing[tk], a)
		}
	}
	return b, nil
}

// Run reconciles in.Date.
func Run(in Input) (*Report, error) {
	if in.Journal == nil {
		return nil, fmt.Errorf("reconcile: no journal reader")
	}
	if in.Date.IsZero() {
		return nil, fmt.Errorf("reconcile: no date")
	}
	if in.Slack == 0 {
		in.Slack = DefaultSlack
	}
	day, err := readDay(&in, in.Date)
	if err != nil {
		return nil, fmt.Errorf("reconcile: journal %s: %w", in.Date, err)
	}
	var neighbours []*dayBook
	for _, d := range []journal.Date{in.Date.AddDays(-1), in.Date.AddDays(1)} {
		nb, err := readDay(&in, d)
		if err != nil {
			return nil, fmt.Errorf("reconcile: journal %s: %w", d, err)
		}
		neighbours = append(neighbours, nb)
	}
	from := in.Calendar.CutOffTime(in.Date.AddDays(-1)).Add(-in.Slack)
	to := in.Calendar.CutOffTime(in.Date).Add(in.Slack)
	inWindow := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }

	rep := &Report{Date: in.Date.String(), JournalRecords: day.records}
	compareIssuer(rep, day, neighbours, in.Issuer, inWindow)
	if in.Terminals != nil {
		compareTerminals(rep, day, neighbours, in.Terminals, inWindow)
	}
	for _, tk := range slices.Sorted(maps.Keys(day.standing)) {
		list := day.standing[tk]
		if len(list) < 2 {
			continue
		}
		for _, a := range list[1:] {
			rep.Doubled.add(a.rec.Amount)
			parts := strings.Split(tk, "|")
			rep.list(Difference{Kind: "doubled", Side: "journal", Type: clearingType(a.typ), Route: a.rec.Route,
				UpstreamSTAN: stan6(a.rec.Upstream.STAN), Transmission: a.rec.Upstream.Transmission, TID: parts[0],
				Batch: parts[1], STAN: parts[2], TxnID: a.rec.TxnID, AcquirerAmount: a.rec.Amount,
				Detail: fmt.Sprintf("%d standing captures of one terminal transaction", len(list))})
		}
	}
	slices.SortStableFunc(rep.Differences, func(a, b Difference) int { return strings.Compare(a.Kind, b.Kind) })
	diffs := rep.Issuer.Differences() + rep.Doubled.Count + rep.OpenIntents.Count
	if rep.Terminals != nil {
		diffs += rep.Terminals.Differences()
	}
	rep.Clean = diffs == 0
	return rep, nil
}

func compareIssuer(rep *Report, day *dayBook, neighbours []*dayBook, recs []IssuerRecord, inWindow func(time.Time) bool) {
	issuer := map[string]*iss{}
	var order []string
	get := func(k string) *iss {
		i := issuer[k]
		if i == nil {
			i = &iss{}
			issuer[k] = i
			order = append(order, k)
		}
		return i
	}
	for _, r := range recs {
		if r.Type == "reversal" {
			i := get(upKey(r.Route, r.OriginalSTAN, r.OriginalTransmission))
			i.reversed = true
			if !i.known {
				i.rec = r
			}
			continue
		}
		i := get(upKey(r.Route, r.STAN, r.Transmission))
		if i.known { // the same request booked again: one transaction
			continue
		}
		i.rec, i.known = r, true
		i.approved = r.ResponseCode == "00"
	}
	inDay := func(k string) bool { _, ok := day.up[k]; return ok }
	inNeighbour := func(k string) bool {
		for _, nb := range neighbours {
			if _, ok := nb.up[k]; ok {
				return true
			}
		}
		return false
	}
	c := &rep.Issuer
	for _, k := range order {
		i := issuer[k]
		if !inDay(k) {
			if inNeighbour(k) || !inWindow(i.rec.Booked) || !i.known {
				continue // another date's; or a reversal of a request never booked
			}
		}
		rep.IssuerRecords++
		if i.known && i.approved && !i.reversed {
			rep.IssuerNet.add(sign(i.rec.Type), i.rec.Amount)
		}
	}
	for _, k := range day.order {
		a := day.up[k]
		i := issuer[k]
		aMoves := a.captured && a.approved && !a.reversed
		if aMoves {
			rep.AcquirerNet.add(sign(clearingType(a.typ)), a.rec.Amount)
		}
		if a.intent && !a.captured && !a.declined && !a.reversed {
			rep.OpenIntents.add(a.rec.Amount)
			rep.list(diffOf("open_intent", a, i, "sent upstream, no outcome and no reversal in the journal"))
		}
		if strings.HasPrefix(k, "local|") {
			if aMoves && sign(clearingType(a.typ)) != 0 {
				c.MissingAtIssuer.add(a.rec.Amount)
				rep.list(diffOf("missing_at_issuer", a, nil, "approved without an upstream request"))
			}
			continue
		}
		iMoves := i != nil && i.known && i.approved && !i.reversed
		switch {
		case aMoves && iMoves:
			if a.rec.Amount == i.rec.Amount {
				c.Matched.add(a.rec.Amount)
			} else {
				c.AmountMismatch.add(a.rec.Amount)
				rep.list(diffOf("amount_mismatch", a, i, ""))
			}
		case aMoves && i != nil && i.reversed:
			c.ReversedOneSide.add(a.rec.Amount)
			rep.list(diffOf("reversed_one_side", a, i, "reversed at the issuer, standing in the journal"))
		case aMoves:
			c.MissingAtIssuer.add(a.rec.Amount)
			detail := "unknown to the issuer"
			if i != nil && i.known {
				detail = "the issuer answered " + i.rec.ResponseCode
			}
			rep.list(diffOf("missing_at_issuer", a, i, detail))
		case iMoves && a.reversed:
			c.ReversedOneSide.add(a.rec.Amount)
			rep.list(diffOf("reversed_one_side", a, i, "reversed in the journal, never delivered to the issuer"))
		case iMoves:
			c.MissingAtAcquirer.add(i.rec.Amount)
			detail := "approved by the issuer, no capture in the journal"
			switch {
			case a.declined:
				detail = "approved by the issuer, declined in the journal"
			case a.intent && !a.captured:
				detail = "approved by the issuer, open intent in the journal"
			}
			rep.list(diffOf("missing_at_acquirer", a, i, detail))
		case a.reversed || i != nil && i.reversed:
			c.ReversedBoth.add(a.rec.Amount)
		case a.declined || i != nil && i.known && !i.approved:
			c.Declined.add(a.rec.Amount)
		}
	}
	for _, k := range order {
		i := issuer[k]
		if inDay(k) || inNeighbour(k) || !i.known || !inWindow(i.rec.Booked) {
			continue
		}
		if i.approved && !i.reversed {
			c.MissingAtAcquirer.add(i.rec.Amount)
			rep.list(diffOf("missing_at_acquirer", nil, i, "approved by the issuer, unknown to the journal"))
		}
	}
}

func diffOf(kind string, a *acq, i *iss, detail string) Difference {
	d := Difference{Kind: kind, Side: "issuer", Detail: detail}
	if a != nil {
		d.Type, d.Route, d.TID, d.Batch, d.STAN, d.TxnID = clearingType(a.typ), a.rec.Route, a.rec.TID, a.rec.Batch, a.rec.STAN, a.rec.TxnID
		if !a.rec.Upstream.IsZero() {
			d.UpstreamSTAN, d.Transmission = stan6(a.rec.Upstream.STAN), a.rec.Upstream.Transmission
		}
		d.AcquirerAmount = a.rec.Amount
	}
	if i != nil {
		if d.Type == "" {
			d.Type, d.Route, d.UpstreamSTAN, d.Transmission, d.TID = i.rec.Type, i.rec.Route, stan6(i.rec.STAN), i.rec.Transmission, i.rec.TID
		}
		d.OtherAmount = i.rec.Amount
	}
	return d
}

func compareTerminals(rep *Report, day *dayBook, neighbours []*dayBook, entries []TerminalEntry, inWindow func(time.Time) bool) {
	c := &Comparison{}
	rep.Terminals = c
	net := &Net{}
	rep.TerminalNet = net
	tids := map[string]bool{}
	seen := map[string]bool{}
	for _, e := range entries {
		tids[e.TID] = true
		k := termKey(e.TID, e.Batch, e.STAN)
		if !day.seenTerm[k] && day.standing[k] == nil {
			other := false
			for _, nb := range neighbours {
				other = other || nb.seenTerm[k]
			}
			if other || !inWindow(e.Time) {
				continue
			}
		}
		seen[k] = true
		rep.TerminalEntries++
		tMoves := e.ResponseCode == "00" && !e.ReversedLater
		if tMoves {
			net.add(sign(e.Type), e.Amount)
		}
		standing := day.standing[k]
		aMoves := len(standing) > 0
		d := Difference{Side: "terminal", Type: e.Type, TID: e.TID, Batch: e.Batch, STAN: e.STAN, OtherAmount: e.Amount}
		if aMoves {
			a := standing[0]
			d.Route, d.TxnID, d.AcquirerAmount = a.rec.Route, a.rec.TxnID, a.rec.Amount
			if !a.rec.Upstream.IsZero() {
				d.UpstreamSTAN, d.Transmission = stan6(a.rec.Upstream.STAN), a.rec.Upstream.Transmission
			}
		}
		switch {
		case tMoves && aMoves:
			if standing[0].rec.Amount == e.Amount {
				c.Matched.add(e.Amount)
			} else {
				c.AmountMismatch.add(standing[0].rec.Amount)
				d.Kind = "amount_mismatch"
				rep.list(d)
			}
		case tMoves:
			c.MissingAtAcquirer.add(e.Amount)
			d.Kind, d.Detail = "missing_at_acquirer", "the terminal printed an approval the journal does not hold standing"
			rep.list(d)
		case aMoves && (e.ReversalOwed || e.ReversedLater):
			c.ReversedOneSide.add(standing[0].rec.Amount)
			d.Kind, d.Detail = "reversed_one_side", "the terminal reversed it, the journal holds it standing"
			if !e.ReversedLater {
				d.Detail = "the terminal's reversal is still owed, the journal holds it standing"
			}
			rep.list(d)
		case aMoves:
			c.MissingAtTerminal.add(standing[0].rec.Amount)
			d.Kind, d.Detail = "missing_at_terminal", "standing in the journal, the terminal answered "+e.ResponseCode
			rep.list(d)
		case e.ReversalOwed || e.ReversedLater:
			c.ReversedBoth.add(e.Amount)
		default:
			c.Declined.add(e.Amount)
		}
	}
	// Standing captures of the books' terminals the books do not mention at all.
	for _, tk := range slices.Sorted(maps.Keys(day.standing)) {
		standing := day.standing[tk]
		tid := tk[:strings.IndexByte(tk, '|')]
		if !tids[tid] || seen[tk] {
			continue
		}
		a := standing[0]
		c.MissingAtTerminal.add(a.rec.Amount)
		rep.list(Difference{Kind: "missing_at_terminal", Side: "terminal", Type: clearingType(a.typ), Route: a.rec.Route,
			TID: a.rec.TID, Batch: a.rec.Batch, STAN: a.rec.STAN, TxnID: a.rec.TxnID, AcquirerAmount: a.rec.Amount,
			Detail: "standing in the journal, not in the terminal's book"})
	}
}
