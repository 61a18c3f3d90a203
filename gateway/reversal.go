package gateway

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
)

// reversal answers a terminal's 0400 (terminal protocol §7): the original — found by TID, batch
// and the reversal's STAN, which is the original's — is reversed upstream through the durable
// queue, taken out of the batch totals and journaled as reversed. The answer is 00 once the
// reversal is safely queued, also for an unknown or declined original (recorded). An unknown
// original may still be on its way upstream: a tombstone under its key makes its approval, if
// it comes, reverse itself.
func (p *Processor) reversal(ctx context.Context, t *txn) ([]byte, error) {
	if code := p.authenticate(ctx, t); code != "" {
		return p.decline(ctx, t, code)
	}
	t.bizDate = p.cfg.Calendar.BusinessDate(t.start)
	origKind := originalKind(t.req, t.cls)
	if origKind == KindUnsupported {
		return p.decline(ctx, t, "12")
	}
	info := kinds[origKind]
	key := TxnKey{TID: t.term.TID, Batch: t.cls.f60.Batch, STAN: stanOf(t)}
	reason := string(t.req.Field(39))
	if reason == "" {
		reason = "06"
	}
	amount, _ := t.req.Number(4)

	orig, err := p.d.State.GetTxn(ctx, key)
	if errors.Is(err, ErrNotFound) {
		tomb := TxnRecord{ID: p.txnID(t, origKind), Type: info.journal, TID: key.TID, MID: t.term.MID,
			Batch: key.Batch, STAN: key.STAN, Amount: int64(amount), Status: TxnReversed,
			BusinessDate: t.bizDate, CreatedAt: t.start}
		if err = p.d.State.PutTxn(ctx, tomb); err == nil {
			p.log.Info("reversal of an unknown original recorded", zap.String("tid", key.TID))
			p.journalTerminalReversal(ctx, t, &tomb, reason)
			return p.reversed(ctx, t)
		}
		if errors.Is(err, ErrExists) { // the original landed meanwhile
			orig, err = p.d.State.GetTxn(ctx, key)
		}
	}
	if err != nil {
		return p.systemError(ctx, t, "transaction index", err)
	}
	switch orig.Status {
	case TxnReversed:
		return p.reversed(ctx, t) // reversed already (a repeat with other content, or posgate's own)
	case TxnDeclined:
		p.journalTerminalReversal(ctx, t, &orig, reason)
		_, _ = p.d.State.UpdateTxn(ctx, withStatus(orig, TxnReversed))
		return p.reversed(ctx, t)
	}
	rev := reversalOf(&orig, reason)
	rev.ProcessingCode = t.procCode()
	if err := p.queueReversal(ctx, &rev); err != nil {
		return p.decline(ctx, t, "96") // not safely queued: the terminal will repeat it
	}
	p.markReversed(ctx, key)
	if d := totalsDelta(info, orig.Amount); d != (Totals{}) {
		neg := Totals{-d.DebitAmount, -d.DebitCount, -d.CreditAmount, -d.CreditCount}
		if _, err := p.d.State.AddTotals(ctx, orig.TID, orig.Batch, orig.ID+":reversed", neg); err != nil {
			p.log.Error("batch totals not updated", zap.Error(err))
		}
	}
	if info.original != KindUnsupported {
		p.undoOnOriginal(ctx, origKind, orig.Original, orig.Amount)
	}
	p.journalTerminalReversal(ctx, t, &orig, reason)
	return p.reversed(ctx, t)
}

func withStatus(r TxnRecord, s TxnStatus) TxnRecord {
	r.Status = s
	return r
}

// reversed answers 0410 with 00.
func (p *Processor) reversed(ctx context.Context, t *txn) ([]byte, error) {
	p.begin(t, echoFinancial[:])
	_ = t.resp.SetString(32, p.cfg.AcquirerID)
	t.setCode("00")
	return p.finish(ctx, t, true)
}

// journalTerminalReversal records the reversal of rec in the journal (settlement nets it
// against the original). A failure is logged: the reversal itself is queued upstream already.
func (p *Processor) journalTerminalReversal(ctx context.Context, t *txn, rec *TxnRecord, reason string) {
	p.journalReversal(ctx, t, rec, reason)
}

// journalReversal appends the reversal record of rec.
func (p *Processor) journalReversal(ctx context.Context, t *txn, rec *TxnRecord, reason string) {
	proc := string(t.req.Field(3))
	if len(proc) != 6 {
		proc = "000000"
	}
	cur := rec.Currency
	if cur == "" {
		cur = "156"
	}
	kind := rec.Kind
	if !kind.Valid() {
		kind = journal.CardDebit
	}
	date := rec.BusinessDate
	if date.IsZero() {
		date = t.bizDate
	}
	jr := journal.Record{
		TxnID: rec.ID + "-R", Type: journal.TypeReversal, MTI: "0400", ProcessingCode: proc, Amount: rec.Amount,
		Currency: cur, MaskedPAN: rec.MaskedPAN, PANToken: rec.PANToken, CardKind: kind, TID: rec.TID, MID: rec.MID,
		Batch: sixDigits(rec.Batch), STAN: sixDigits(rec.STAN), RRN: rec.RRN, ResponseCode: reasonCode(reason),
		Route: rec.Route, RequestTime: t.start, ResponseTime: p.cfg.Now(), BusinessDate: date,
		Original: journal.OriginalRef{TxnID: rec.ID, RRN: rec.RRN, Batch: sixDigits(rec.Batch), STAN: sixDigits(rec.STAN), Date: date},
	}
	if err := p.d.Journal.Append(ctx, jr); err != nil {
		p.log.Error("reversal not journaled", zap.String("txn", rec.ID), zap.Error(err))
	}
}

func reasonCode(r string) string {
	if len(r) == 2 {
		return r
	}
	return "06"
}
