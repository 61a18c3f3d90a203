package gateway

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/terminal"
)

// settle answers a 0500 (terminal protocol §8): the terminal's totals for its batch against
// posgate's own, answered with the flag set (1 balanced, 2 not balanced). The terminal then
// moves to the next batch; so does the registry.
func (p *Processor) settle(ctx context.Context, t *txn) ([]byte, error) {
	if code := p.authenticate(ctx, t); code != "" {
		return p.decline(ctx, t, code)
	}
	theirs, err := codec.ParseSettlementTotals(t.req.Field(48))
	if err != nil {
		return p.decline(ctx, t, "30")
	}
	batch := t.cls.f60.Batch
	ours, err := p.d.State.GetTotals(ctx, t.term.TID, batch)
	if err != nil {
		return p.systemError(ctx, t, "batch totals", err)
	}
	t.bizDate = p.cfg.Calendar.BusinessDate(t.start)
	flag := codec.SettleNotBalanced
	sum := theirs.Domestic
	sum.DebitAmount += theirs.Foreign.DebitAmount
	sum.DebitCount += theirs.Foreign.DebitCount
	sum.CreditAmount += theirs.Foreign.CreditAmount
	sum.CreditCount += theirs.Foreign.CreditCount
	if sum.DebitAmount == ours.DebitAmount && int64(sum.DebitCount) == ours.DebitCount &&
		sum.CreditAmount == ours.CreditAmount && int64(sum.CreditCount) == ours.CreditCount {
		flag = codec.SettleBalanced
	}
	answer := theirs
	answer.Domestic.Flag, answer.Foreign.Flag = flag, flag
	p.log.Info("batch settlement", zap.String("tid", t.term.TID), zap.Uint32("batch", batch),
		zap.Bool("balanced", flag == codec.SettleBalanced),
		zap.Int64("our_debit_fen", ours.DebitAmount), zap.Int64("our_credit_fen", ours.CreditAmount),
		zap.Int64("their_debit_fen", sum.DebitAmount), zap.Int64("their_credit_fen", sum.CreditAmount))
	result := journal.Record{
		Type: journal.TypeBatchSettlement, TxnID: p.batchID(t, "settle"), MTI: "0500", ResponseCode: "00",
		BatchResult: journal.BatchResult{
			Terminal: journal.Totals{DebitCount: int64(sum.DebitCount), DebitAmount: sum.DebitAmount,
				CreditCount: int64(sum.CreditCount), CreditAmount: sum.CreditAmount},
			Posgate: journal.Totals{DebitCount: ours.DebitCount, DebitAmount: ours.DebitAmount,
				CreditCount: ours.CreditCount, CreditAmount: ours.CreditAmount},
		},
	}
	if _, err := p.d.Registry.AdvanceBatch(ctx, t.term.TID, terminal.Batch(batch)); err != nil &&
		!errors.Is(err, terminal.ErrConflict) {
		p.log.Warn("batch not advanced", zap.String("tid", t.term.TID), zap.Error(err))
	}
	p.begin(t, echoNetMgmt[:])
	var b [4]byte
	_ = t.resp.Set(15, appendTwo(appendTwo(b[:0], int(t.bizDate.Month())), t.bizDate.Day()))
	t.buf, err = codec.AppendSettlementTotals(t.buf[:0], answer)
	if err != nil {
		return p.decline(ctx, t, "30")
	}
	_ = t.resp.Set(48, t.buf)
	t.setCode("00")
	p.seen(ctx, t)
	out, err := p.finish(ctx, t, true)
	if err == nil {
		// Journaled with its answer: a 0500 retransmitted after a restart is answered from it,
		// and the batch is not settled twice.
		result.RequestHash, result.Answer = t.hashHex(), string(out)
		p.journalBatch(ctx, t, result)
	}
	return out, err
}

// batchUpload answers a 0320: each uploaded record is compared with posgate's own transaction
// and every difference is logged and counted (the settlement report lists them).
func (p *Processor) batchUpload(ctx context.Context, t *txn) ([]byte, error) {
	if code := p.authenticate(ctx, t); code != "" {
		return p.decline(ctx, t, code)
	}
	batch := t.cls.f60.Batch
	t.bizDate = p.cfg.Calendar.BusinessDate(t.start)
	switch t.cls.netCode {
	case 201:
		up, err := codec.ParseBatchUpload(t.req.Field(48))
		if err != nil {
			return p.decline(ctx, t, "30")
		}
		for i := 0; i < up.Count; i++ {
			r := &up.Records[i]
			rec, err := p.d.State.GetTxn(ctx, TxnKey{TID: t.term.TID, Batch: batch, STAN: r.STAN})
			switch {
			case errors.Is(err, ErrNotFound):
				p.uploadDifference(ctx, t, r, journal.DiffUnknown)
			case err != nil:
				return p.systemError(ctx, t, "transaction index", err)
			case rec.Status != TxnApproved && rec.Status != TxnCompleted:
				p.uploadDifference(ctx, t, r, journal.DiffNotApproved)
			case rec.Amount != r.Amount:
				p.uploadDifference(ctx, t, r, journal.DiffAmount)
			case rec.PANToken != p.tokenOf(r.PAN[:r.PANLen]):
				p.uploadDifference(ctx, t, r, journal.DiffCard)
			}
		}
	case 202, 207:
		if _, err := codec.ParseBatchEnd(t.req.Field(48)); err != nil {
			return p.decline(ctx, t, "30")
		}
		p.log.Info("batch upload finished", zap.String("tid", t.term.TID), zap.Uint32("batch", batch))
	}
	p.begin(t, echoNetMgmt[:])
	t.setCode("00")
	return p.finish(ctx, t, true)
}

func (p *Processor) uploadDifference(ctx context.Context, t *txn, r *codec.UploadRecord, what string) {
	p.metrics.Duplicates.WithLabelValues("upload_difference").Inc()
	p.log.Warn("batch upload difference", zap.String("tid", t.term.TID), zap.Uint32("batch", t.cls.f60.Batch),
		zap.Uint32("stan", r.STAN), zap.String("difference", what))
	p.journalBatch(ctx, t, journal.Record{
		Type: journal.TypeBatchDifference, TxnID: p.batchID(t, "diff-"+sixDigits(r.STAN)), MTI: "0320",
		STAN: sixDigits(r.STAN), Amount: r.Amount, ResponseCode: "00",
		BatchResult: journal.BatchResult{Difference: what},
	})
}

// batchID is the journal id of a batch event of t: business date, TID, batch, STAN and what.
func (p *Processor) batchID(t *txn, what string) string {
	return string(append(append(appendTxnID(nil, t, t.kind), '-'), what...))
}

// journalBatch records a 0500 result or a 0320 difference for the settlement report (best
// effort: a failure is logged, the terminal is answered all the same).
func (p *Processor) journalBatch(ctx context.Context, t *txn, rec journal.Record) {
	if t.bizDate.IsZero() {
		t.bizDate = p.cfg.Calendar.BusinessDate(t.start)
	}
	rec.TID, rec.MID, rec.Batch = t.term.TID, t.term.MID, sixDigits(t.cls.f60.Batch)
	if rec.STAN == "" {
		rec.STAN = sixDigits(stanOf(t))
	}
	rec.RequestTime, rec.ResponseTime, rec.BusinessDate = t.start, p.cfg.Now(), t.bizDate
	rec.Node = uint8(p.cfg.NodeID)
	if err := p.d.Journal.Append(ctx, rec); err != nil {
		p.log.Error("batch event not journaled", zap.String("tid", t.term.TID), zap.Error(err))
	}
}
