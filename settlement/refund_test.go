package settlement

import (
	"strings"
	"testing"

	"github.com/posgate/posgate/journal"
)

// TestRefundFees nets one partition per case on a plan that returns fees and checks the fee
// each refund gives back, and that the refunds of a sale never give back more than the sale
// was charged.
func TestRefundFees(t *testing.T) {
	debit, credit := journal.CardDebit, journal.CardCredit
	d := day0
	prev := d.AddDays(-1)
	reversed := func(id string) []journal.Record {
		r := txn(d, id, journal.TypeRefund, debit, 500000, of("p", d))
		return []journal.Record{r, reversal(d, r)}
	}
	tests := []struct {
		name string
		recs []journal.Record
		want map[string]int64 // TxnID (without the date) → fee returned, > 0
	}{
		{"two half refunds of a capped sale return its fee once", []journal.Record{
			txn(d, "p", journal.TypePurchase, debit, 1000000), // 10,000.00 CNY: 50.00 capped at 25.00
			txn(d, "r1", journal.TypeRefund, debit, 500000, of("p", d)),
			txn(d, "r2", journal.TypeRefund, debit, 500000, of("p", d)),
		}, map[string]int64{"r1": 1250, "r2": 1250}},
		{"half refunds of a larger capped sale return half its fee", []journal.Record{
			txn(d, "p", journal.TypePurchase, debit, 2000000), // 25.00 on 20,000.00 CNY
			txn(d, "r1", journal.TypeRefund, debit, 500000, of("p", d)),
			txn(d, "r2", journal.TypeRefund, debit, 500000, of("p", d)),
		}, map[string]int64{"r1": 625, "r2": 625}},
		{"thirds of a capped sale: the last refund takes the remainder", []journal.Record{
			txn(d, "p", journal.TypePurchase, debit, 1000000),
			txn(d, "r1", journal.TypeRefund, debit, 333333, of("p", d)),  // ⌊833.33⌋
			txn(d, "r22", journal.TypeRefund, debit, 333333, of("p", d)), // ⌊1666.66⌋ − 833
			txn(d, "r333", journal.TypeRefund, debit, 333334, of("p", d)),
		}, map[string]int64{"r1": 833, "r22": 833, "r333": 834}},
		{"partial refund of an uncapped sale", []journal.Record{
			txn(d, "p", journal.TypePurchase, credit, 100000), // 6.00
			txn(d, "r", journal.TypeRefund, credit, 40000, of("p", d)),
		}, map[string]int64{"r": 240}},
		{"rounding: halves of a fee rounded down give back no more", []journal.Record{
			txn(d, "p", journal.TypePurchase, credit, 168), // 1.008 → 1 fen; each half alone 0.504 → 1
			txn(d, "r1", journal.TypeRefund, credit, 84, of("p", d)),
			txn(d, "r2", journal.TypeRefund, credit, 84, of("p", d)),
		}, map[string]int64{"r2": 1}},
		{"rounding: a fee rounded up comes back whole when fully refunded", []journal.Record{
			txn(d, "p", journal.TypePurchase, debit, 100), // 0.5 → 1 fen; each half alone 0.25 → 0
			txn(d, "r1", journal.TypeRefund, debit, 50, of("p", d)),
			txn(d, "r2", journal.TypeRefund, debit, 50, of("p", d)),
		}, map[string]int64{"r2": 1}},
		{"a reversed refund gives nothing back and does not count", append(reversed("r1"),
			txn(d, "p", journal.TypePurchase, debit, 1000000),
			txn(d, "r22", journal.TypeRefund, debit, 500000, of("p", d)),
		), map[string]int64{"r22": 1250}},
		{"refunds beyond the sale give back no more than its fee", []journal.Record{
			txn(d, "p", journal.TypePurchase, debit, 1000),
			txn(d, "r1", journal.TypeRefund, debit, 1000, of("p", d)),
			txn(d, "r2", journal.TypeRefund, debit, 1000, of("p", d)),
		}, map[string]int64{"r1": 5}},
		{"earlier sale, uncapped: the rate on the refunds, rounded down together", []journal.Record{
			txn(d, "r1", journal.TypeRefund, credit, 40000, of("old", prev)),
			txn(d, "r2", journal.TypeRefund, credit, 125, of("old2", prev)), // 0.75
			txn(d, "r3", journal.TypeRefund, credit, 125, of("old2", prev)), // cumulative 1.5
		}, map[string]int64{"r1": 240, "r3": 1}},
		{"earlier sale, capped: nothing given back", []journal.Record{
			txn(d, "r1", journal.TypeRefund, debit, 500000, of("old", prev)),
			txn(d, "r2", journal.TypeRefund, debit, 10000, of("old", prev)),
		}, nil},
		{"void of an earlier date's sale gives back the sale's fee", []journal.Record{
			txn(d, "v", journal.TypeVoid, debit, 1000000, of("old", prev)),
		}, map[string]int64{"v": 2500}},
	}
	plan := DefaultPlan()
	plan.RefundReturnsFee = true
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n netting
			n.reset(d)
			entries, _ := dedupAndSort(tc.recs, nil, map[string]struct{}{})
			n.index(entries)
			charged := map[string]int64{}  // sale → fee charged
			returned := map[string]int64{} // sale → fee returned
			for _, e := range entries {
				r := e.rec
				o := n.settle(r, &plan)
				id := strings.TrimPrefix(r.TxnID, d.String()+"-")
				if o.fee > 0 {
					charged[r.TxnID] += o.fee
				}
				if got, want := -min(o.fee, 0), tc.want[id]; got != want {
					t.Errorf("%s (%s %s): fee returned %d, want %d", id, o.status, o.reason, got, want)
				}
				if o.fee < 0 {
					returned[r.Original.TxnID] -= o.fee
				}
			}
			for sale, got := range returned {
				if _, same := n.byID[sale]; same && got > charged[sale] {
					t.Errorf("sale %s: fee returned %d, more than the %d charged", sale, got, charged[sale])
				}
			}
		})
	}
}

// With refunds keeping the fee (the default plan) nothing is given back.
func TestRefundKeepsFee(t *testing.T) {
	d := day0
	recs := []journal.Record{
		txn(d, "p", journal.TypePurchase, journal.CardDebit, 1000000),
		txn(d, "r", journal.TypeRefund, journal.CardDebit, 500000, of("p", d)),
		txn(d, "r2", journal.TypeRefund, journal.CardCredit, 500000, of("old", d.AddDays(-3))),
	}
	plan := DefaultPlan()
	var n netting
	n.reset(d)
	entries, _ := dedupAndSort(recs, nil, map[string]struct{}{})
	n.index(entries)
	for _, e := range entries {
		if o := n.settle(e.rec, &plan); o.fee < 0 {
			t.Errorf("%s: fee %d returned on a plan that keeps it", e.rec.TxnID, -o.fee)
		}
	}
}
