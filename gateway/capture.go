package gateway

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/routing"
)

// capture books an approved transaction: the transaction index (which also tells whether the
// terminal reversed it meanwhile), the journal, the original's new state, the batch totals.
// The terminal hears "approved" only when the journal holds the record — and the record holds
// the answer itself, so a retransmission after a crash gets it byte for byte.
func (p *Processor) capture(ctx context.Context, t *txn, info kindInfo, rec *TxnRecord, orig TxnRecord, res routing.Result) ([]byte, error) {
	rev := &t.owed
	*rev = reversalOf(rec, "")
	rev.ProcessingCode = t.procCode()
	if err := p.d.State.PutTxn(ctx, *rec); err != nil {
		if errors.Is(err, ErrExists) {
			// The terminal reversed this transaction while it was upstream (the reversal left a
			// tombstone under its key, and journaled itself): the approval must not stand.
			rev.Reason = "98"
			bg := context.WithoutCancel(ctx)
			_ = p.queueReversal(bg, rev)
			out, err := p.decline(ctx, t, "98")
			// The terminal's "-T" record does not close the intent; this one, queued upstream
			// and carrying the request's identifiers, does.
			_ = p.journalReversal(bg, t, rec, "98", out)
			return out, err
		}
		p.log.Error("transaction index unavailable", zap.Error(err))
	}
	out, err := p.approvedOrDeclined(ctx, t, rec, res)
	if err != nil {
		p.reverseApproval(context.WithoutCancel(ctx), t, rec, "96", false, nil)
		return p.decline(ctx, t, "96")
	}
	jr := p.journalRecord(t, rec, orig)
	jr.Answer = string(out)
	// Without the lease the request went upstream under, another node may be adopting its
	// intent — reversing it: the approval must not stand, and the reversal record closes the
	// intent as the adopter's would. That holds too when the capture became durable only after
	// the lease ran out (an adopter that read the journal before it landed has reversed the
	// request; the same reversal, which the queue and the journal take once).
	err = errNoLease
	if p.leaseHeld(t) {
		if err = p.d.Journal.Append(ctx, jr); err == nil && !p.leaseHeld(t) {
			err = errNoLease
		}
	}
	if err != nil {
		// Never tell the terminal "approved" for what the journal does not hold. The failed
		// segment may have landed after all: the reversal record makes settlement net it out
		// either way.
		p.log.Error("approval not booked: reversing", zap.String("txn", rec.ID), zap.Error(err))
		out, err := p.decline(ctx, t, "96")
		p.reverseApproval(context.WithoutCancel(ctx), t, rec, "96", false, out)
		return out, err
	}
	if info.original != KindUnsupported {
		if code := p.applyToOriginal(ctx, t.kind, orig.Key(), rec.Amount); code != "" {
			// The original changed under us (a concurrent void or refund): undo this one.
			out, err := p.decline(ctx, t, code)
			p.reverseApproval(context.WithoutCancel(ctx), t, rec, code, false, out)
			return out, err
		}
	}
	if delta := totalsDelta(info, rec.Amount); delta != (Totals{}) {
		if _, err := p.d.State.AddTotals(ctx, rec.TID, rec.Batch, rec.ID, delta); err != nil {
			p.log.Error("batch totals not updated", zap.Error(err))
		}
	}
	p.fault(FaultJournaled, t.kind)
	t.owes = true
	return out, nil
}

// approvedOrDeclined builds the financial response for an upstream answer.
func (p *Processor) approvedOrDeclined(ctx context.Context, t *txn, rec *TxnRecord, res routing.Result) ([]byte, error) {
	p.begin(t, echoFinancial[:])
	var b [4]byte
	_ = t.resp.Set(15, appendTwo(appendTwo(b[:0], int(t.bizDate.Month())), t.bizDate.Day()))
	_ = t.resp.SetString(32, p.cfg.AcquirerID)
	_ = t.resp.SetString(37, rec.RRN)
	if len(res.AuthCode) == 6 {
		_ = t.resp.SetString(38, res.AuthCode)
	}
	if t.kind == KindBalance && res.HasBalance {
		cur := res.BalanceCurrency
		if cur == "" {
			cur = routing.DefaultCurrency
		}
		t.buf = routing.AppendBalance(t.buf[:0], cur, res.Balance)
		_ = t.resp.Set(54, t.buf)
	}
	_ = t.resp.SetString(63, "CUP")
	t.setCode(res.ResponseCode)
	return p.finish(ctx, t, p.canMAC(t, res.ResponseCode))
}

func (p *Processor) journalRecord(t *txn, rec *TxnRecord, orig TxnRecord) journal.Record {
	jr := journal.Record{
		TxnID: rec.ID, Type: rec.Type, MTI: mtiString(t.req.MTI()), ProcessingCode: t.procCode(),
		Amount: rec.Amount, Currency: rec.Currency, MaskedPAN: rec.MaskedPAN, PANToken: rec.PANToken,
		CardKind: rec.Kind, TID: rec.TID, MID: rec.MID, Batch: t.ids.batch, STAN: t.ids.stan,
		RRN: rec.RRN, AuthCode: rec.AuthCode, ResponseCode: rec.Response, Route: rec.Route,
		RequestTime: t.start, ResponseTime: p.cfg.Now(), BusinessDate: rec.BusinessDate,
		Upstream: journal.Upstream{MTI: rec.UpstreamMTI, STAN: rec.UpstreamSTAN, Transmission: rec.UpstreamTransmission},
		Node:     uint8(p.cfg.NodeID), RequestHash: t.hashHex(),
	}
	if orig.ID != "" {
		jr.Original = journal.OriginalRef{TxnID: orig.ID, RRN: orig.RRN, Batch: sixDigits(orig.Batch),
			STAN: sixDigits(orig.STAN), Date: orig.BusinessDate}
	}
	return jr
}

// original loads and checks the transaction a void, refund or completion refers to (61).
func (p *Processor) original(ctx context.Context, t *txn, info kindInfo, token string, amount int64) (TxnRecord, string) {
	f61, err := codec.ParseField61(t.req.Field(61))
	if err != nil {
		return TxnRecord{}, "30"
	}
	orig, err := p.d.State.GetTxn(ctx, TxnKey{TID: t.term.TID, Batch: f61.Batch, STAN: f61.STAN})
	switch {
	case errors.Is(err, ErrNotFound):
		return orig, "25"
	case err != nil:
		p.log.Error("transaction index unavailable", zap.Error(err))
		return orig, "96"
	}
	if orig.Type != kinds[info.original].journal || orig.Status == TxnDeclined || orig.Status == TxnReversed {
		return orig, "25"
	}
	if rrn := t.req.Field(37); rrn != nil && string(rrn) != orig.RRN {
		return orig, "25"
	}
	if auth := t.req.Field(38); auth != nil && string(auth) != orig.AuthCode {
		return orig, "25"
	}
	if orig.PANToken != token {
		return orig, "14"
	}
	switch t.kind {
	case KindVoid, KindCompletionVoid, KindPreAuthVoid:
		if orig.Status != TxnApproved || orig.Refunded > 0 {
			return orig, "22"
		}
		if amount != orig.Amount {
			return orig, "64"
		}
	case KindRefund:
		if orig.Status != TxnApproved {
			return orig, "22"
		}
		if amount > orig.Amount-orig.Refunded {
			return orig, "13"
		}
	case KindCompletion:
		if orig.Status != TxnApproved {
			return orig, "22"
		}
		if amount > orig.Amount {
			return orig, "13"
		}
	}
	return orig, ""
}

// applyToOriginal records a follow-up on its original (voided, refunded, completed) with
// optimistic concurrency; it returns 22 when the original no longer allows it.
func (p *Processor) applyToOriginal(ctx context.Context, k Kind, key TxnKey, amount int64) string {
	for attempt := 0; attempt < 5; attempt++ {
		o, err := p.d.State.GetTxn(ctx, key)
		if err != nil {
			return "22"
		}
		switch k {
		case KindVoid, KindPreAuthVoid, KindCompletionVoid:
			if o.Status != TxnApproved || o.Refunded > 0 {
				return "22"
			}
			o.Status = TxnVoided
		case KindRefund:
			if o.Status != TxnApproved || o.Refunded+amount > o.Amount {
				return "22"
			}
			o.Refunded += amount
		case KindCompletion:
			if o.Status != TxnApproved {
				return "22"
			}
			o.Status, o.Completed = TxnCompleted, amount
		}
		if _, err := p.d.State.UpdateTxn(ctx, o); err == nil {
			return ""
		} else if !errors.Is(err, ErrConflict) {
			return "22"
		}
	}
	return "22"
}

// undoOnOriginal reverses applyToOriginal when a follow-up is itself reversed.
func (p *Processor) undoOnOriginal(ctx context.Context, k Kind, key TxnKey, amount int64) {
	for attempt := 0; attempt < 5; attempt++ {
		o, err := p.d.State.GetTxn(ctx, key)
		if err != nil {
			return
		}
		switch k {
		case KindVoid, KindPreAuthVoid, KindCompletionVoid:
			if o.Status != TxnVoided {
				return
			}
			o.Status = TxnApproved
		case KindRefund:
			o.Refunded -= amount
		case KindCompletion:
			if o.Status != TxnCompleted {
				return
			}
			o.Status, o.Completed = TxnApproved, 0
		default:
			return
		}
		if _, err := p.d.State.UpdateTxn(ctx, o); !errors.Is(err, ErrConflict) {
			return
		}
	}
}

func (p *Processor) markReversed(ctx context.Context, key TxnKey) {
	for attempt := 0; attempt < 5; attempt++ {
		o, err := p.d.State.GetTxn(ctx, key)
		if err != nil || o.Status == TxnReversed {
			return
		}
		o.Status = TxnReversed
		if _, err := p.d.State.UpdateTxn(ctx, o); !errors.Is(err, ErrConflict) {
			return
		}
	}
}

func totalsDelta(info kindInfo, amount int64) Totals {
	switch {
	case info.debit:
		return Totals{DebitAmount: amount, DebitCount: 1}
	case info.credit:
		return Totals{CreditAmount: amount, CreditCount: 1}
	}
	return Totals{}
}
