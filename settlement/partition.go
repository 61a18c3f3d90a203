package settlement

import (
	"context"
	"fmt"
	"time"

	"github.com/posgate/posgate/journal"
)

// partitionRun settles the partitions of one run, one at a time, streaming rows to the
// transactions and batches files.
type partitionRun struct {
	s         *Settler
	date      journal.Date
	loc       *time.Location
	tx, bt    *hashedFile
	sum       *Summary
	merchants map[string]*merchantAgg

	// reused between partitions
	seen    map[string]struct{}
	entries []entry
	net     netting

	// sums over rows, checked against the merchants' totals
	rowNet, rowFees int64
}

// batchAgg is one terminal batch of the partition being written.
type batchAgg struct {
	mid, tid, batch    string
	debitN, debitFen   int64
	creditN, creditFen int64
	result             *journal.Record // the last 0500 of the batch on this date
	diffs              []byte          // "STAN:difference;…"
}

func (p *partitionRun) run(ctx context.Context, recs []journal.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var dups int
	p.entries, dups = dedupAndSort(recs, p.entries, p.seen)
	p.sum.Duplicates += int64(dups)
	p.net.reset(p.date)
	p.net.index(p.entries)

	var b *batchAgg
	for _, e := range p.entries {
		r := e.rec
		if b == nil || b.tid != r.TID || b.batch != r.Batch {
			if err := p.flushBatch(b); err != nil {
				return err
			}
			b = &batchAgg{mid: r.MID, tid: r.TID, batch: r.Batch}
		}
		switch r.Type {
		case journal.TypeBatchSettlement:
			b.result = r
			continue
		case journal.TypeBatchDifference:
			if len(b.diffs) > 0 {
				b.diffs = append(b.diffs, ';')
			}
			b.diffs = append(append(append(b.diffs, r.STAN...), ':'), r.BatchResult.Difference...)
			p.sum.BatchDifferences++
			continue
		}
		if debit, credit := p.net.batchEffect(r); debit {
			b.debitN, b.debitFen = b.debitN+1, b.debitFen+r.Amount
		} else if credit {
			b.creditN, b.creditFen = b.creditN+1, b.creditFen+r.Amount
		}
		m, err := p.merchant(ctx, r.MID)
		if err != nil {
			return err
		}
		o := p.net.settle(r, m.plan)
		switch o.status {
		case StatusSettled:
			p.sum.Settled++
			m.sales++
		case StatusDeducted:
			p.sum.Deducted++
			m.refunds++
		default:
			p.sum.Excluded++
			m.exclude++
		}
		m.gross += o.sale
		m.refundFen += o.refund
		m.fees += o.fee
		m.net += o.net
		p.rowNet += o.net
		p.rowFees += o.fee
		p.sum.Transactions++
		if err := p.writeTxn(r, &o); err != nil {
			return err
		}
	}
	err := p.flushBatch(b)
	clear(p.entries) // drop the pointers into this partition's records
	return err
}

func (p *partitionRun) writeTxn(r *journal.Record, o *outcome) error {
	tx := p.tx
	tx.raw(p.appendDate)
	tx.field(r.TxnID)
	tx.field(r.Type.String())
	tx.field(o.status)
	tx.field(o.reason)
	tx.field(r.MID)
	tx.field(r.TID)
	tx.field(r.Batch)
	tx.field(r.STAN)
	tx.field(r.RRN)
	tx.field(r.AuthCode)
	tx.field(r.MaskedPAN)
	tx.field(r.CardKind.String())
	tx.int(r.Amount)
	tx.int(o.fee)
	tx.int(o.net)
	tx.field(r.Original.TxnID)
	tx.raw(func(b []byte) []byte {
		if r.Original.Date.IsZero() {
			return b
		}
		return r.Original.Date.Start(time.UTC).AppendFormat(b, time.DateOnly)
	})
	tx.raw(func(b []byte) []byte {
		return r.RequestTime.In(p.loc).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	})
	if err := tx.endRow(true); err != nil {
		return fmt.Errorf("settlement: write %s: %w", FileTransactions, err)
	}
	return nil
}

func (p *partitionRun) appendDate(b []byte) []byte {
	return p.date.Start(time.UTC).AppendFormat(b, time.DateOnly)
}

// Batch results in batches.csv.
const (
	BatchBalanced     = "balanced"
	BatchNotBalanced  = "not_balanced"
	BatchNoSettlement = "no_settlement" // no 0500 for the batch on this date
)

func (p *partitionRun) flushBatch(b *batchAgg) error {
	if b == nil {
		return nil
	}
	bt := p.bt
	p.sum.Batches++
	bt.raw(p.appendDate)
	bt.field(b.mid)
	bt.field(b.tid)
	bt.field(b.batch)
	bt.int(b.debitN)
	bt.int(b.debitFen)
	bt.int(b.creditN)
	bt.int(b.creditFen)
	if b.result == nil {
		bt.field(BatchNoSettlement)
		for i := 0; i < 8; i++ {
			bt.field("")
		}
	} else {
		res := b.result.BatchResult
		if res.Balanced() {
			bt.field(BatchBalanced)
		} else {
			bt.field(BatchNotBalanced)
			p.sum.BatchesNotBalanced++
		}
		for _, t := range [2]journal.Totals{res.Terminal, res.Posgate} {
			bt.int(t.DebitCount)
			bt.int(t.DebitAmount)
			bt.int(t.CreditCount)
			bt.int(t.CreditAmount)
		}
	}
	bt.field(string(b.diffs))
	if err := bt.endRow(true); err != nil {
		return fmt.Errorf("settlement: write %s: %w", FileBatches, err)
	}
	return nil
}
