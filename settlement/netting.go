package settlement

import (
	"cmp"
	"slices"

	"github.com/posgate/posgate/journal"
)

// Row statuses in transactions.csv.
const (
	StatusSettled  = "settled"  // a sale paid to the merchant (less its fee)
	StatusDeducted = "deducted" // a refund (or a void of an earlier date's sale) taken from the merchant
	StatusExcluded = "excluded" // no money moves; Reason says why
)

// Reasons of excluded (and deducted) rows.
const (
	ReasonReversed          = "reversed"                  // the transaction was reversed
	ReasonVoided            = "voided"                    // the sale was voided the same business date
	ReasonVoidSameDay       = "void_of_same_day_sale"     // the void cancels a sale of the same date
	ReasonOriginalReversed  = "original_reversed"         // a void or refund of a reversed sale
	ReasonOriginalVoided    = "original_voided"           // a refund of a sale voided the same date
	ReasonOriginalMissing   = "original_not_in_journal"   // a void of a sale of this date the journal lacks
	ReasonReversal          = "reversal"                  // the reversal record itself
	ReasonReversalUnknown   = "reversal_of_unknown"       // a reversal whose original is not in this date
	ReasonPreAuth           = "preauth"                   // pre-authorizations never settle
	ReasonPreAuthVoid       = "preauth_void"              // nor do their voids
	ReasonDeclined          = "declined"                  // response code other than 00
	ReasonRefund            = "refund"                    // deducted: a refund
	ReasonVoidAfterSettled  = "void_after_settlement"     // deducted: a void of a sale settled on an earlier date
	ReasonCompletionVoidOld = "completion_void_after_set" // deducted: a completion void of an earlier date's completion
)

// outcome is how one deduplicated record settles.
type outcome struct {
	status, reason string
	fee            int64 // signed: charged > 0, returned < 0
	net            int64 // signed effect on the merchant's net, fee included
	sale, refund   int64 // amount counted in gross / refunds
}

// netting holds the cross-references of one partition.
type netting struct {
	date     journal.Date
	byID     map[string]*journal.Record
	reversed map[string]bool        // TxnIDs some reversal refers to
	voided   map[string]bool        // TxnIDs a standing (approved, not reversed) void refers to
	refunds  map[string]refundTally // by the refunded sale's TxnID: what its refunds came to so far
}

// entry is a record with its sort key.
type entry struct {
	hash uint64
	rec  *journal.Record
}

// dedupAndSort drops repeated TxnIDs (keeping the first in stream order, as journal.Read
// does) and orders the rest by terminal (hash, TID), batch, STAN, TxnID — an order that
// depends only on the journal's content, not on the order records were stored in.
func dedupAndSort(recs []journal.Record, entries []entry, seen map[string]struct{}) ([]entry, int) {
	clear(seen)
	entries = entries[:0]
	dups := 0
	for i := range recs {
		r := &recs[i]
		if _, ok := seen[r.TxnID]; ok {
			dups++
			continue
		}
		seen[r.TxnID] = struct{}{}
		entries = append(entries, entry{hash: tidHash(r.TID), rec: r})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		x, y := a.rec, b.rec
		if c := cmp.Compare(x.TID, y.TID); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Batch, y.Batch); c != 0 {
			return c
		}
		if c := cmp.Compare(x.STAN, y.STAN); c != 0 {
			return c
		}
		return cmp.Compare(x.TxnID, y.TxnID)
	})
	return entries, dups
}

func (n *netting) reset(d journal.Date) {
	n.date = d
	if n.byID == nil {
		n.byID, n.reversed, n.voided = map[string]*journal.Record{}, map[string]bool{}, map[string]bool{}
		n.refunds = map[string]refundTally{}
	}
	clear(n.byID)
	clear(n.reversed)
	clear(n.voided)
	clear(n.refunds)
}

// index builds the cross-references: first every reversal, then the voids that stand.
func (n *netting) index(entries []entry) {
	for _, e := range entries {
		r := e.rec
		n.byID[r.TxnID] = r
		if r.Type == journal.TypeReversal && r.Original.TxnID != "" {
			n.reversed[r.Original.TxnID] = true
		}
	}
	for _, e := range entries {
		r := e.rec
		if (r.Type == journal.TypeVoid || r.Type == journal.TypeCompletionVoid) && approved(r) &&
			!n.reversed[r.TxnID] && r.Original.TxnID != "" {
			n.voided[r.Original.TxnID] = true
		}
	}
}

func approved(r *journal.Record) bool { return r.ResponseCode == "00" }

// settle decides the outcome of financial record r (not a batch record) under plan.
func (n *netting) settle(r *journal.Record, plan *FeePlan) outcome {
	ex := func(reason string) outcome { return outcome{status: StatusExcluded, reason: reason} }
	deduct := func(reason string) outcome {
		o := outcome{status: StatusDeducted, reason: reason, refund: r.Amount}
		switch {
		case !plan.RefundReturnsFee:
		case r.Type == journal.TypeRefund:
			o.fee = -n.refundFee(r, plan)
		default:
			// A void is of the sale's whole amount, and the gateway refuses it once the sale
			// has any refund: the fee on its amount is the fee the sale was charged.
			o.fee = -plan.Rate(r.CardKind).Fee(r.Amount)
		}
		o.net = -r.Amount - o.fee
		return o
	}
	orig := r.Original.TxnID
	switch {
	case r.Type == journal.TypeReversal:
		if _, ok := n.byID[orig]; ok {
			return ex(ReasonReversal)
		}
		return ex(ReasonReversalUnknown)
	case !approved(r):
		return ex(ReasonDeclined)
	case n.reversed[r.TxnID]:
		return ex(ReasonReversed)
	}
	switch r.Type {
	case journal.TypePurchase, journal.TypeCompletion:
		if n.voided[r.TxnID] {
			return ex(ReasonVoided)
		}
		fee := plan.Rate(r.CardKind).Fee(r.Amount)
		return outcome{status: StatusSettled, fee: fee, net: r.Amount - fee, sale: r.Amount}
	case journal.TypeVoid, journal.TypeCompletionVoid:
		if _, ok := n.byID[orig]; ok && orig != "" {
			if n.reversed[orig] {
				return ex(ReasonOriginalReversed)
			}
			return ex(ReasonVoidSameDay)
		}
		if od := r.Original.Date; !od.IsZero() && od.Before(n.date) {
			if r.Type == journal.TypeCompletionVoid {
				return deduct(ReasonCompletionVoidOld)
			}
			return deduct(ReasonVoidAfterSettled)
		}
		return ex(ReasonOriginalMissing)
	case journal.TypeRefund:
		if _, ok := n.byID[orig]; ok && orig != "" {
			if n.reversed[orig] {
				return ex(ReasonOriginalReversed)
			}
			if n.voided[orig] {
				return ex(ReasonOriginalVoided)
			}
		}
		return deduct(ReasonRefund)
	case journal.TypePreAuth:
		return ex(ReasonPreAuth)
	case journal.TypePreAuthVoid:
		return ex(ReasonPreAuthVoid)
	}
	return ex(ReasonDeclined) // unreachable for valid types
}

// batchEffect is r's effect on its terminal batch's running totals, the way the gateway
// keeps them for the 0500: approved sales and completions are debits, voids, refunds and
// completion voids credits; reversed ones count nowhere.
func (n *netting) batchEffect(r *journal.Record) (debit, credit bool) {
	if r.Type == journal.TypeReversal || !approved(r) || n.reversed[r.TxnID] {
		return false, false
	}
	switch r.Type {
	case journal.TypePurchase, journal.TypeCompletion:
		return true, false
	case journal.TypeVoid, journal.TypeRefund, journal.TypeCompletionVoid:
		return false, true
	}
	return false, false
}
