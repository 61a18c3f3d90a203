package settlement

import (
	"math/bits"

	"github.com/posgate/posgate/journal"
)

// refundTally is what the refunds of one sale settled so far in a partition came to.
type refundTally struct {
	refunded int64 // fen refunded
	returned int64 // fee returned (≥ 0)
}

// refundFee is the fee (≥ 0) refund r gives back under a plan that returns fees, such that
// all the refunds of a sale together never give back more than the sale was charged
// (docs/settlement.md, "Fees"). Refunds of one sale are tallied in the partition — every
// refund of a sale is on the sale's terminal, so in the sale's partition — in the
// partition's content-defined order, which makes the result independent of storage order.
//
//   - The sale is in this date's records (a same-day refund): the refunds give back,
//     cumulatively, ⌊F × refunded / A⌋ of the sale's fee F on its amount A, each refund the
//     increase. Their sum never exceeds F and equals F once the sale is fully refunded, however
//     it was split.
//   - The sale is of an earlier date (or missing): the journal record of a refund names its
//     sale but not the sale's amount, and settlement of a date reads only that date's records,
//     so neither F nor A nor earlier dates' refunds are known. On an uncapped rate the refunds
//     of the sale on this date give back, cumulatively, ⌊refunded × rate⌋: since the refunds of
//     a sale add up to at most A, the sum over all dates is at most ⌊A × rate⌋ ≤ F (F rounds
//     half-up). On a capped rate no positive amount is safe without A — a refund of 100.00 CNY
//     is 1/2 of a capped sale or 1/1000 of one — so such a refund gives back nothing.
//
// Rounding is always down, in the acquirer's favour, so that the shares of one sale on
// different dates cannot add up to more than F.
func (n *netting) refundFee(r *journal.Record, plan *FeePlan) int64 {
	key := r.Original.TxnID
	if key == "" {
		key = r.TxnID // a refund naming no sale is a sale of its own
	}
	t := n.refunds[key]
	refunded := t.refunded + r.Amount
	var total int64 // given back by the sale's refunds in this partition, r included
	if orig, ok := n.byID[r.Original.TxnID]; ok && r.Original.TxnID != "" {
		if a := orig.Amount; a > 0 {
			total = mulDiv(n.chargedFee(orig, plan), min(refunded, a), a)
		}
	} else if rate := plan.Rate(r.CardKind); rate.CapFen == 0 {
		total = mulDiv(refunded, rate.BasisPoints, 10000)
	}
	fee := max(total-t.returned, 0)
	n.refunds[key] = refundTally{refunded: refunded, returned: t.returned + fee}
	return fee
}

// chargedFee is the fee sale s is charged in this run: its rate on its amount if it settles,
// 0 otherwise (declined, reversed, voided, or not a sale).
func (n *netting) chargedFee(s *journal.Record, plan *FeePlan) int64 {
	if (s.Type != journal.TypePurchase && s.Type != journal.TypeCompletion) || !approved(s) ||
		n.reversed[s.TxnID] || n.voided[s.TxnID] {
		return 0
	}
	return plan.Rate(s.CardKind).Fee(s.Amount)
}

// mulDiv is ⌊x × y / d⌋ for x, y ≥ 0 and d > 0, without overflow in the product; the
// quotient must fit in int64 (callers have y ≤ d, or x × y / d below an amount).
func mulDiv(x, y, d int64) int64 {
	hi, lo := bits.Mul64(uint64(x), uint64(y))
	q, _ := bits.Div64(hi, lo, uint64(d))
	return int64(q)
}
