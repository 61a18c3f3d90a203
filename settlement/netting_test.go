package settlement

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed/natstest"
)

const returnsMID = "898310000000002" // on the "returns" plan: refunds give the fee back

// TestNetting settles one business date per case from a real JetStream journal and checks
// every row's status and reason and the totals.
func TestNetting(t *testing.T) {
	debit, credit, qr := journal.CardDebit, journal.CardCredit, journal.CardQR
	type want struct {
		rows                      map[string]string // TxnID → "status reason"
		gross, refunds, fees, net int64
		dups                      int64
	}
	tests := []struct {
		name  string
		recs  func(d journal.Date) []journal.Record
		extra func(d journal.Date) []journal.Record // appended through a second journal (another node)
		want  want
	}{
		{"debit purchase", func(d journal.Date) []journal.Record {
			return []journal.Record{txn(d, "p1", journal.TypePurchase, debit, 10000)}
		}, nil, want{map[string]string{"p1": "settled "}, 10000, 0, 50, 9950, 0}},
		{"debit cap boundary exactly 5000.00 CNY", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "at", journal.TypePurchase, debit, 500000),     // 2500.00 → 25.00 exactly
				txn(d, "above", journal.TypePurchase, debit, 500100),  // 25.005 → capped 25.00
				txn(d, "below", journal.TypePurchase, debit, 499899),  // 24.99495 → 24.99
				txn(d, "belowh", journal.TypePurchase, debit, 499900), // 24.995 → half-up 25.00
				txn(d, "huge", journal.TypePurchase, debit, 10000000), // capped
			}
		}, nil, want{map[string]string{"at": "settled ", "above": "settled ", "below": "settled ", "belowh": "settled ", "huge": "settled "},
			500000 + 500100 + 499899 + 499900 + 10000000, 0, 2500 + 2500 + 2499 + 2500 + 2500,
			500000 + 500100 + 499899 + 499900 + 10000000 - (2500 + 2500 + 2499 + 2500 + 2500), 0}},
		{"rounding halves", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "c250", journal.TypePurchase, credit, 250), // 1.5 → 2
				txn(d, "c83", journal.TypePurchase, credit, 83),   // 0.498 → 0
				txn(d, "q2500", journal.TypePurchase, qr, 2500),   // 9.5 → 10
				txn(d, "d100", journal.TypePurchase, debit, 100),  // 0.5 → 1
				txn(d, "d99", journal.TypePurchase, debit, 99),    // 0.495 → 0
			}
		}, nil, want{map[string]string{"c250": "settled ", "c83": "settled ", "q2500": "settled ", "d100": "settled ", "d99": "settled "},
			250 + 83 + 2500 + 100 + 99, 0, 2 + 0 + 10 + 1 + 0, 250 + 83 + 2500 + 100 + 99 - 13, 0}},
		{"void same day", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "p", journal.TypePurchase, debit, 5000),
				txn(d, "v", journal.TypeVoid, debit, 5000, of("p", d)),
			}
		}, nil, want{map[string]string{"p": "excluded voided", "v": "excluded void_of_same_day_sale"}, 0, 0, 0, 0, 0}},
		{"reversed purchase", func(d journal.Date) []journal.Record {
			p := txn(d, "p", journal.TypePurchase, debit, 5000)
			return []journal.Record{reversal(d, p), p} // the reversal may be stored first
		}, nil, want{map[string]string{"p": "excluded reversed", "p-R": "excluded reversal"}, 0, 0, 0, 0, 0}},
		{"void of a reversed purchase", func(d journal.Date) []journal.Record {
			p := txn(d, "p", journal.TypePurchase, debit, 5000)
			return []journal.Record{p, reversal(d, p), txn(d, "v", journal.TypeVoid, debit, 5000, of("p", d))}
		}, nil, want{map[string]string{"p": "excluded reversed", "p-R": "excluded reversal", "v": "excluded original_reversed"}, 0, 0, 0, 0, 0}},
		{"reversed void restores the sale", func(d journal.Date) []journal.Record {
			v := txn(d, "v", journal.TypeVoid, debit, 5000, of("p", d))
			return []journal.Record{txn(d, "p", journal.TypePurchase, debit, 5000), v, reversal(d, v)}
		}, nil, want{map[string]string{"p": "settled ", "v": "excluded reversed", "v-R": "excluded reversal"}, 5000, 0, 25, 4975, 0}},
		{"refund larger than the day's sales", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "p", journal.TypePurchase, debit, 1000),
				txn(d, "r", journal.TypeRefund, debit, 50000, of("old", d.AddDays(-1))),
			}
		}, nil, want{map[string]string{"p": "settled ", "r": "deducted refund"}, 1000, 50000, 5, 1000 - 50000 - 5, 0}},
		{"refund returns the fee on its plan", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "p", journal.TypePurchase, credit, 100000, withMID(returnsMID)),
				txn(d, "r", journal.TypeRefund, credit, 40000, of("p", d), withMID(returnsMID)),
			}
		}, nil, want{map[string]string{"p": "settled ", "r": "deducted refund"}, 100000, 40000, 600 - 240, 100000 - 40000 - 360, 0}},
		{"two half refunds of a capped sale return its fee once", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "p", journal.TypePurchase, debit, 1000000, withMID(returnsMID)), // 25.00, capped
				txn(d, "r1", journal.TypeRefund, debit, 500000, of("p", d), withMID(returnsMID)),
				txn(d, "r2", journal.TypeRefund, debit, 500000, of("p", d), withMID(returnsMID)),
			}
		}, nil, want{map[string]string{"p": "settled ", "r1": "deducted refund", "r2": "deducted refund"}, 1000000, 1000000, 2500 - 1250 - 1250, 0, 0}},
		{"refund of a voided sale is not deducted", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "p", journal.TypePurchase, debit, 1000),
				txn(d, "v", journal.TypeVoid, debit, 1000, of("p", d)),
				txn(d, "r", journal.TypeRefund, debit, 1000, of("p", d)),
			}
		}, nil, want{map[string]string{"p": "excluded voided", "v": "excluded void_of_same_day_sale", "r": "excluded original_voided"}, 0, 0, 0, 0, 0}},
		{"void of an earlier date's sale is a deduction", func(d journal.Date) []journal.Record {
			return []journal.Record{txn(d, "v", journal.TypeVoid, qr, 7000, of("p-yesterday", d.AddDays(-1)))}
		}, nil, want{map[string]string{"v": "deducted void_after_settlement"}, 0, 7000, 0, -7000, 0}},
		{"void of a same-date sale missing from the journal", func(d journal.Date) []journal.Record {
			return []journal.Record{txn(d, "v", journal.TypeVoid, debit, 7000, of("ghost", d))}
		}, nil, want{map[string]string{"v": "excluded original_not_in_journal"}, 0, 0, 0, 0, 0}},
		{"pre-authorization family", func(d journal.Date) []journal.Record {
			return []journal.Record{
				txn(d, "a", journal.TypePreAuth, credit, 9000),
				txn(d, "a2", journal.TypePreAuth, credit, 3000),
				txn(d, "a2v", journal.TypePreAuthVoid, credit, 3000, of("a2", d)),
				txn(d, "c", journal.TypeCompletion, credit, 8000, of("a", d)),
				txn(d, "c2", journal.TypeCompletion, credit, 1000, of("a", d)),
				txn(d, "c2v", journal.TypeCompletionVoid, credit, 1000, of("c2", d)),
				txn(d, "cold", journal.TypeCompletionVoid, credit, 500, of("c-old", d.AddDays(-2))),
			}
		}, nil, want{map[string]string{"a": "excluded preauth", "a2": "excluded preauth", "a2v": "excluded preauth_void",
			"c": "settled ", "c2": "excluded voided", "c2v": "excluded void_of_same_day_sale",
			"cold": "deducted completion_void_after_set"}, 8000, 500, 48, 8000 - 500 - 48, 0}},
		{"reversal of an unknown original", func(d journal.Date) []journal.Record {
			ghost := txn(d, "ghost", journal.TypePurchase, debit, 100)
			return []journal.Record{reversal(d, ghost)}
		}, nil, want{map[string]string{"ghost-R": "excluded reversal_of_unknown"}, 0, 0, 0, 0, 0}},
		{"declined record never settles", func(d journal.Date) []journal.Record {
			return []journal.Record{txn(d, "x", journal.TypePurchase, debit, 100, func(r *journal.Record) { r.ResponseCode = "51" })}
		}, nil, want{map[string]string{"x": "excluded declined"}, 0, 0, 0, 0, 0}},
		{"duplicates in the journal settle once", func(d journal.Date) []journal.Record {
			return []journal.Record{txn(d, "p", journal.TypePurchase, debit, 10000), txn(d, "q", journal.TypePurchase, credit, 10000)}
		}, func(d journal.Date) []journal.Record {
			return []journal.Record{txn(d, "p", journal.TypePurchase, debit, 10000), txn(d, "q", journal.TypePurchase, credit, 10000)}
		}, want{map[string]string{"p": "settled ", "q": "settled "}, 20000, 0, 50 + 60, 20000 - 110, 2}},
	}

	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	j := openJournal(t, nc)
	j2 := openJournal(t, natstest.Connect(t, srv)) // a second gateway node
	merchants := MerchantTable{
		testMID:    {MID: testMID, Name: "Shop", Account: "A1"},
		returnsMID: {MID: returnsMID, Name: "Returns", Account: "A2", FeePlan: "returns"},
	}
	ret := DefaultPlan()
	ret.Name, ret.RefundReturnsFee = "returns", true
	s := newSettler(t, j, Config{Plans: []FeePlan{ret}}, merchants, nil)
	out := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := day0.AddDays(i)
			appendAll(t, j, tt.recs(d)...)
			if tt.extra != nil {
				appendAll(t, j2, tt.extra(d)...)
			}
			if _, err := s.Run(context.Background(), d, RunOptions{Out: out}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			dir := filepath.Join(out, d.String())
			sum := checkFiles(t, dir)
			got := map[string]string{}
			for _, row := range readCSV(t, filepath.Join(dir, FileTransactions)) {
				if _, dup := got[row["txn_id"]]; dup {
					t.Errorf("txn %s has two rows", row["txn_id"])
				}
				got[strings.TrimPrefix(row["txn_id"], d.String()+"-")] = row["status"] + " " + row["reason"]
			}
			if len(got) != len(tt.want.rows) {
				t.Errorf("rows = %v, want %v", got, tt.want.rows)
			}
			for id, w := range tt.want.rows {
				if got[id] != w {
					t.Errorf("txn %s: got %q, want %q", id, got[id], w)
				}
			}
			w := tt.want
			if sum.GrossFen != w.gross || sum.RefundsFen != w.refunds || sum.FeesFen != w.fees || sum.NetFen != w.net || sum.Duplicates != w.dups {
				t.Errorf("gross/refunds/fees/net/dups = %d/%d/%d/%d/%d, want %d/%d/%d/%d/%d",
					sum.GrossFen, sum.RefundsFen, sum.FeesFen, sum.NetFen, sum.Duplicates, w.gross, w.refunds, w.fees, w.net, w.dups)
			}
		})
	}
}

// Cut-off edges: the gateway files a transaction by Calendar.BusinessDate; settlement of D
// sees exactly [cut-off of D-1, cut-off of D), across midnight.
func TestCutOffEdges(t *testing.T) {
	tj := startJournal(t)
	cal := journal.Calendar{}
	d := journal.NewDate(2026, time.April, 10)
	cut := cal.CutOffTime(d) // 2026-04-10 23:00 +08:00
	at := map[string]time.Time{
		"first-of-d":      cal.CutOffTime(d.AddDays(-1)),                   // 04-09 23:00:00 → D
		"last-before-cut": cut.Add(-time.Nanosecond),                       // 04-10 22:59:59.999999999 → D
		"at-cut":          cut,                                             // 04-10 23:00 → D+1
		"after-midnight":  cut.Add(90 * time.Minute),                       // 04-11 00:30 → D+1
		"before-prev-cut": cal.CutOffTime(d.AddDays(-1)).Add(-time.Second), // → D-1
	}
	for id, ts := range at {
		bd := cal.BusinessDate(ts)
		r := txn(bd, id, journal.TypePurchase, journal.CardDebit, 1000)
		r.TxnID, r.RequestTime, r.ResponseTime = id, ts, ts
		appendAll(t, tj.j, r)
	}
	clock := cut.Add(-time.Nanosecond)
	s := newSettler(t, tj.j, Config{Now: func() time.Time { return clock }}, nil, nil)
	out := t.TempDir()
	if _, err := s.Run(context.Background(), d, RunOptions{Out: out}); !errorsIs(err, ErrNotClosed) {
		t.Fatalf("Run before the cut-off: err = %v, want ErrNotClosed", err)
	}
	clock = cut
	for _, dd := range []journal.Date{d, d.AddDays(1)} {
		if _, err := s.Run(context.Background(), dd, RunOptions{Out: out, AllowOpen: dd != d}); err != nil {
			t.Fatalf("Run %s: %v", dd, err)
		}
	}
	wantIn := map[journal.Date][]string{d: {"first-of-d", "last-before-cut"}, d.AddDays(1): {"after-midnight", "at-cut"}}
	for dd, ids := range wantIn {
		rows := readCSV(t, filepath.Join(out, dd.String(), FileTransactions))
		if len(rows) != len(ids) {
			t.Fatalf("%s: %d rows, want %v", dd, len(rows), ids)
		}
		got := map[string]bool{}
		for _, r := range rows {
			got[r["txn_id"]] = true
		}
		for _, id := range ids {
			if !got[id] {
				t.Errorf("%s: %s missing", dd, id)
			}
		}
	}
	// The open run of D+1 was provisional: it does not block the real one.
	clock = cal.CutOffTime(d.AddDays(1))
	rec, err := s.Run(context.Background(), d.AddDays(1), RunOptions{Out: out})
	if err != nil || rec.Rerun || rec.Open {
		t.Fatalf("final run after an open one: rec %+v, err %v", rec, err)
	}
}
