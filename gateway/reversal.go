package gateway

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/routing"
)

// reversal answers a terminal's 0400 (terminal protocol §7): the original — found by TID, batch
// and the reversal's STAN, which is the original's — is reversed upstream through the durable
// queue, taken out of the batch totals and journaled as reversed. The answer is 00 once the
// reversal is queued and journaled (96 otherwise: the terminal repeats it), also for an unknown
// or declined original (recorded).
//
// An unknown original was never sent upstream by this node: every request that moves money is
// written ahead before it leaves, and a restarted node rebuilds its index from the journal and
// reverses its open intents before it listens (recover.go). It may still be on its way upstream
// on another node: a tombstone under its key makes its approval, if it comes, reverse itself.
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
			return p.reversedJournaled(ctx, t, &tomb, reason)
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
		// Reversed already (a repeat, or posgate's own reversal of an answer the terminal never
		// got): journal it again — the journal keeps one record per id — so a reversal whose
		// first journaling failed is journaled now.
		return p.reversedJournaled(ctx, t, &orig, reason)
	case TxnDeclined:
		_, _ = p.d.State.UpdateTxn(ctx, withStatus(orig, TxnReversed))
		return p.reversedJournaled(ctx, t, &orig, reason)
	}
	if err := p.reverseApproval(ctx, t, &orig, reason, true, nil); err != nil {
		return p.decline(ctx, t, "96") // not safely queued or journaled: the terminal will repeat it
	}
	return p.reversed(ctx, t)
}

// reversedJournaled journals the reversal of rec and answers 00, or 96 when the journal fails.
func (p *Processor) reversedJournaled(ctx context.Context, t *txn, rec *TxnRecord, reason string) ([]byte, error) {
	if err := p.journalReversal(ctx, t, rec, reason, nil); err != nil {
		return p.decline(ctx, t, "96")
	}
	return p.reversed(ctx, t)
}

// reverseApproval reverses rec, approved upstream, whose approval must not stand: the reversal
// is queued upstream (durably), the transaction marked reversed, and the reversal journaled —
// settlement then excludes the original. counted means the approval had reached the batch
// totals and, for a follow-up, its original: both are undone. answer, when not nil, is what the
// terminal was told instead of the approval; the reversal record keeps it for the request's
// retransmissions after a restart.
//
// For the terminal's own 0400 an error is returned when the reversal could not be queued or
// journaled (the terminal repeats it); for posgate's own reversals nothing can be repeated, so
// the failure is logged for operators and the rest still done.
func (p *Processor) reverseApproval(ctx context.Context, t *txn, rec *TxnRecord, reason string, counted bool, answer []byte) error {
	rev := reversalOf(rec, reason)
	rev.ProcessingCode = t.procCode()
	if err := p.queueReversal(ctx, &rev); err != nil && t.kind == KindReversal {
		return err
	}
	p.markReversed(ctx, rec.Key())
	if counted {
		p.uncount(ctx, rec)
	}
	return p.journalReversal(ctx, t, rec, reason, answer)
}

// uncount takes a reversed approval out of its batch totals and, for a follow-up, out of its
// original (a reversed void leaves the purchase standing again).
func (p *Processor) uncount(ctx context.Context, rec *TxnRecord) {
	k := kindOfType(rec.Type)
	info := kinds[k]
	if d := totalsDelta(info, rec.Amount); d != (Totals{}) {
		neg := Totals{-d.DebitAmount, -d.DebitCount, -d.CreditAmount, -d.CreditCount}
		if _, err := p.d.State.AddTotals(ctx, rec.TID, rec.Batch, rec.ID+":reversed", neg); err != nil {
			p.log.Error("batch totals not updated", zap.Error(err))
		}
	}
	if info.original != KindUnsupported {
		p.undoOnOriginal(ctx, k, rec.Original, rec.Amount)
	}
}

// kindOfType is the financial kind whose journal type is typ (KindUnsupported for none).
func kindOfType(typ journal.TxnType) Kind {
	if int(typ) < len(kindByType) {
		return kindByType[typ]
	}
	return KindUnsupported
}

// kindByType inverts the journal types of kinds, once.
var kindByType = func() (m [256]Kind) {
	for k, info := range kinds {
		if info.journal != 0 {
			m[info.journal] = k
		}
	}
	return m
}()

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

// journalReversal appends the reversal record of rec (TxnID rec.ID + "-R", "-T" when rec was
// never sent upstream): with upstream identifiers it closes the
// write-ahead intent and makes settlement exclude the original. answer: see reverseApproval.
// A failure is logged and returned.
func (p *Processor) journalReversal(ctx context.Context, t *txn, rec *TxnRecord, reason string, answer []byte) error {
	date := rec.BusinessDate
	if date.IsZero() {
		date = t.bizDate
	}
	jr := p.reversalRecord(rec, reason, string(t.req.Field(3)), t.start, date)
	if answer != nil {
		jr.RequestHash, jr.Answer = t.hashHex(), string(answer)
	}
	err := p.d.Journal.Append(ctx, jr)
	if err != nil {
		p.log.Error("reversal not journaled", zap.String("txn", rec.ID), zap.Error(err))
	}
	return err
}

// reversalRecord is the journal record of the reversal of rec, requested at at, filed under
// the original's business date.
func (p *Processor) reversalRecord(rec *TxnRecord, reason, proc string, at time.Time, date journal.Date) journal.Record {
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
	suffix := reversalSuffix
	if rec.UpstreamSTAN == 0 && rec.UpstreamTransmission == "" {
		suffix = tombstoneSuffix // nothing sent upstream under this id (yet): it closes no intent
	}
	return journal.Record{
		TxnID: rec.ID + suffix, Type: journal.TypeReversal, MTI: "0400", ProcessingCode: proc, Amount: rec.Amount,
		Currency: cur, MaskedPAN: rec.MaskedPAN, PANToken: rec.PANToken, CardKind: kind, TID: rec.TID, MID: rec.MID,
		Batch: sixDigits(rec.Batch), STAN: sixDigits(rec.STAN), RRN: rec.RRN, ResponseCode: reasonCode(reason),
		Route: rec.Route, RequestTime: at, ResponseTime: p.cfg.Now(), BusinessDate: date,
		Original: journal.OriginalRef{TxnID: rec.ID, RRN: rec.RRN, Batch: sixDigits(rec.Batch), STAN: sixDigits(rec.STAN), Date: date},
		Of:       rec.Type,
		Upstream: journal.Upstream{MTI: rec.UpstreamMTI, STAN: rec.UpstreamSTAN, Transmission: rec.UpstreamTransmission},
		Node:     uint8(p.cfg.NodeID),
	}
}

func reasonCode(r string) string {
	if len(r) == 2 {
		return r
	}
	return "06"
}

// reversalOf is the reversal to queue upstream if rec's approval cannot stand.
func reversalOf(rec *TxnRecord, reason string) routing.Reversal {
	return routing.Reversal{
		ID: rec.ID, Route: rec.Route, ProcessingCode: "", Amount: rec.Amount, Currency: rec.Currency,
		Original: routing.Original{MTI: rec.UpstreamMTI, STAN: rec.UpstreamSTAN, Transmission: rec.UpstreamTransmission},
		RRN:      rec.RRN, AuthCode: rec.AuthCode, TID: rec.TID, MID: rec.MID, Reason: reason,
	}
}

// ReversalQueueTimeout bounds how long a reversal is offered to the durable queue before it is
// reported for reversal by hand.
const ReversalQueueTimeout = 30 * time.Second

// queueReversal stores a reversal upstream durably; if even that fails the reversal is logged
// for operators (without card data): it must not be forgotten.
func (p *Processor) queueReversal(ctx context.Context, rev *routing.Reversal) error {
	if rev.ProcessingCode == "" {
		rev.ProcessingCode = "000000"
	}
	// reversalOf leaves the original's id. The reversal's id names the upstream request it
	// reverses (its STAN): the queue stores one reversal per id, and a second request under
	// the same transaction id (a retransmission processed again) needs a reversal of its own.
	rev.ID += reversalSuffix + sixDigits(rev.Original.STAN)
	p.metrics.ReversalsOwed.WithLabelValues(reasonLabel(rev.Reason)).Inc()
	// The queue may be without a leader for seconds (a NATS server of the cluster died): keep
	// publishing well past the request's own deadline — a reversal must not be dropped.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReversalQueueTimeout)
	defer cancel()
	err := p.d.Reversals.Enqueue(qctx, rev)
	if err != nil {
		p.log.Error("REVERSAL NOT QUEUED: reverse by hand", zap.String("txn", rev.ID), zap.String("route", rev.Route),
			zap.String("rrn", rev.RRN), zap.Int64("amount_fen", rev.Amount), zap.Error(err))
	}
	return err
}

// reverseOwed reverses an approval the terminal never received: queued upstream, taken out of
// the batch totals, and journaled, so settlement does not pay the merchant for it and the
// terminal's 0400 finds it reversed.
func (p *Processor) reverseOwed(ctx context.Context, t *txn, reason string) {
	key := TxnKey{TID: t.owed.TID, Batch: t.cls.f60.Batch, STAN: stanOf(t)}
	rec, err := p.d.State.GetTxn(ctx, key)
	if err != nil || rec.ID != t.owed.ID {
		// The index cannot say more: still reverse upstream, and journal what the queue knows.
		t.owed.Reason = reason
		_ = p.queueReversal(ctx, &t.owed)
		p.log.Error("undelivered approval reversed without its index record", zap.String("txn", t.owed.ID), zap.Error(err))
		return
	}
	_ = p.reverseApproval(ctx, t, &rec, reason, true, nil)
}

func reasonLabel(r string) string {
	switch r {
	case "98", "96", "A0", "06", "22", "13":
		return r
	}
	return "other"
}
