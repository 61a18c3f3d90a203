package gateway

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/routing"
)

// kindInfo ties a financial kind to the upstream type, the journal type, the kind of the
// original it refers to, and its effect on the batch totals.
type kindInfo struct {
	upstream routing.TxnType
	journal  journal.TxnType
	original Kind // KindUnsupported: refers to none
	debit    bool // counts as money to the merchant in the 0500 totals
	credit   bool // counts as money back
	capture  bool // journaled when approved
	limited  bool // subject to the daily count limit
}

var kinds = map[Kind]kindInfo{
	KindBalance:        {upstream: routing.TxnBalance},
	KindPurchase:       {upstream: routing.TxnPurchase, journal: journal.TypePurchase, debit: true, capture: true, limited: true},
	KindVoid:           {upstream: routing.TxnVoid, journal: journal.TypeVoid, original: KindPurchase, credit: true, capture: true},
	KindRefund:         {upstream: routing.TxnRefund, journal: journal.TypeRefund, original: KindPurchase, credit: true, capture: true},
	KindPreAuth:        {upstream: routing.TxnPreAuth, journal: journal.TypePreAuth, capture: true, limited: true},
	KindPreAuthVoid:    {upstream: routing.TxnPreAuthVoid, journal: journal.TypePreAuthVoid, original: KindPreAuth, capture: true},
	KindCompletion:     {upstream: routing.TxnCompletion, journal: journal.TypeCompletion, original: KindPreAuth, debit: true, capture: true},
	KindCompletionVoid: {upstream: routing.TxnCompletionVoid, journal: journal.TypeCompletionVoid, original: KindCompletion, credit: true, capture: true},
}

// financial runs balance inquiries, purchases, voids, refunds and the pre-authorization family.
func (p *Processor) financial(ctx context.Context, t *txn) ([]byte, error) {
	info := kinds[t.kind]
	if code := p.authenticate(ctx, t); code != "" {
		return p.decline(ctx, t, code)
	}
	if code := p.readCard(ctx, t); code != "" {
		return p.decline(ctx, t, code)
	}
	if t.kind == KindPurchase || t.kind == KindPreAuth || t.kind == KindBalance {
		if code := p.checkSN(ctx, t, t.pan, false); code != "" {
			return p.decline(ctx, t, code)
		}
	}
	p.requirementFor(t)
	t.bizDate = p.cfg.Calendar.BusinessDate(t.start)

	var amount int64
	if t.kind != KindBalance {
		v, err := t.req.Number(4)
		if err != nil {
			return p.decline(ctx, t, "30")
		}
		if amount = int64(v); amount <= 0 {
			return p.decline(ctx, t, "13")
		}
		if p.cfg.MaxAmount > 0 && amount > p.cfg.MaxAmount && !info.credit {
			return p.decline(ctx, t, "61")
		}
	}
	if info.limited && p.cfg.MaxDailyCount > 0 {
		n, err := p.d.State.CountDaily(ctx, t.term.TID, t.bizDate)
		if err != nil {
			return p.systemError(ctx, t, "daily count", err)
		}
		if n > p.cfg.MaxDailyCount {
			return p.decline(ctx, t, "65")
		}
	}
	p.identify2(t)
	token := t.ids.token

	var orig TxnRecord
	if info.original != KindUnsupported {
		var code string
		if orig, code = p.original(ctx, t, info, token, amount); code != "" {
			return p.decline(ctx, t, code)
		}
	}
	match := p.d.Upstream.Table().Resolve(t.pan, t.req.Field(22))
	route := match.Route
	if info.original != KindUnsupported {
		route = orig.Route
	}

	t.id = t.ids.id
	req := &t.upReq
	*req = routing.Request{
		Type: info.upstream, Txn: t.id, PAN: t.pan, ProcessingCode: t.req.Field(3), Amount: amount,
		LocalTime: t.req.Field(12), LocalDate: t.req.Field(13), Expiry: t.req.Field(14),
		EntryMode: t.req.Field(22), CardSequence: t.req.Field(23), ConditionCode: t.req.Field(25),
		AcquirerID: p.acqID, RRN: t.rrn[:], TID: t.req.Field(41), MID: t.req.Field(42),
		ICC: t.req.Field(55), Currency: routing.DefaultCurrency,
	}
	if cur := t.req.Field(49); cur != nil && string(cur) != routing.DefaultCurrency {
		req.Currency = string(cur)
	}
	if t.track != nil {
		req.Track2 = trackForUpstream(t.track)
	}
	if block := t.req.Field(52); block != nil {
		zpk, ok := p.cfg.ZPK[route]
		if !ok {
			p.log.Error("no zone PIN key for route", zap.String("route", route))
			return p.decline(ctx, t, "96")
		}
		var err error
		t.pin, err = p.d.HSM.TranslatePIN(ctx, t.term.Keys.PIK, zpk, block, t.pan)
		if err != nil {
			var pe *hsm.PINBlockError
			if errors.As(err, &pe) || errors.Is(err, hsm.ErrPINBlock) {
				return p.decline(ctx, t, "99")
			}
			return p.systemError(ctx, t, "PIN translation", err)
		}
		req.PINBlock = t.pin[:]
	}
	if info.original != KindUnsupported {
		req.Original = &routing.Original{MTI: orig.UpstreamMTI, STAN: orig.UpstreamSTAN, Transmission: orig.UpstreamTransmission}
		req.AuthCode = []byte(orig.AuthCode)
	}
	req.MCC, req.MerchantName = p.merchant(ctx, t.term.MID, t.start)

	upStart := time.Now()
	res, err := p.d.Upstream.Authorize(ctx, route, req)
	t.upstreamTime = time.Since(upStart)
	rec := TxnRecord{
		ID: t.id, Type: info.journal, TID: t.term.TID, MID: t.term.MID, Batch: t.cls.f60.Batch,
		STAN: stanOf(t), LocalDate: string(t.req.Field(13)), Amount: amount, Currency: req.Currency,
		MaskedPAN: t.ids.masked, PANToken: token, Kind: cardKind(match.Kind),
		RRN: t.ids.rrn, Route: route, BusinessDate: t.bizDate, Original: orig.Key(), CreatedAt: t.start,
	}
	if info.original != KindUnsupported {
		rec.Kind = orig.Kind
	}
	if err != nil {
		rec.UpstreamMTI, rec.UpstreamSTAN, rec.UpstreamTransmission = res.RequestMTI, res.STAN, res.Transmission
		return p.upstreamFailed(ctx, t, route, &rec, err)
	}
	rec.UpstreamMTI, rec.UpstreamSTAN, rec.UpstreamTransmission = res.RequestMTI, res.STAN, res.Transmission
	rec.AuthCode, rec.Response = res.AuthCode, res.ResponseCode
	if !res.Approved() {
		rec.Status = TxnDeclined
		if t.kind != KindBalance {
			_ = p.d.State.PutTxn(ctx, rec) // lets a later reversal recognise the decline
		}
		return p.approvedOrDeclined(ctx, t, &rec, res)
	}
	if t.kind == KindBalance {
		return p.approvedOrDeclined(ctx, t, &rec, res)
	}
	rec.Status = TxnApproved
	return p.capture(ctx, t, info, &rec, orig, res)
}

// capture books an approved transaction: the transaction index (which also tells whether the
// terminal reversed it meanwhile), the journal, the original's new state, the batch totals.
// The terminal hears "approved" only when the journal holds the record.
func (p *Processor) capture(ctx context.Context, t *txn, info kindInfo, rec *TxnRecord, orig TxnRecord, res routing.Result) ([]byte, error) {
	rev := &t.owed
	*rev = reversalOf(rec, "")
	rev.ProcessingCode = t.procCode()
	if err := p.d.State.PutTxn(ctx, *rec); err != nil {
		if errors.Is(err, ErrExists) {
			// The terminal reversed this transaction while it was upstream (the reversal left a
			// tombstone under its key): the approval must not stand.
			rev.Reason = "98"
			_ = p.queueReversal(ctx, rev)
			t.setCode("98")
			return p.decline(ctx, t, "98")
		}
		p.log.Error("transaction index unavailable", zap.Error(err))
	}
	jr := p.journalRecord(t, rec, orig)
	if err := p.d.Journal.Append(ctx, jr); err != nil {
		// Never tell the terminal "approved" for what the journal does not hold.
		p.log.Error("journal append failed: reversing", zap.String("txn", rec.ID), zap.Error(err))
		rev.Reason = "96"
		_ = p.queueReversal(context.WithoutCancel(ctx), rev)
		p.markReversed(context.WithoutCancel(ctx), rec.Key())
		// The failed segment may have landed after all: a reversal record makes settlement
		// net it out either way.
		p.journalReversal(context.WithoutCancel(ctx), t, rec, "96")
		return p.decline(ctx, t, "96")
	}
	if info.original != KindUnsupported {
		if code := p.applyToOriginal(ctx, t.kind, orig.Key(), rec.Amount); code != "" {
			// The original changed under us (a concurrent void or refund): undo this one.
			rev.Reason = code
			_ = p.queueReversal(context.WithoutCancel(ctx), rev)
			p.markReversed(context.WithoutCancel(ctx), rec.Key())
			p.journalReversal(context.WithoutCancel(ctx), t, rec, code)
			return p.decline(ctx, t, code)
		}
	}
	if delta := totalsDelta(info, rec.Amount); delta != (Totals{}) {
		if _, err := p.d.State.AddTotals(ctx, rec.TID, rec.Batch, rec.ID, delta); err != nil {
			p.log.Error("batch totals not updated", zap.Error(err))
		}
	}
	t.owes = true
	return p.approvedOrDeclined(ctx, t, rec, res)
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

// upstreamFailed answers a failed authorization: 91 when nothing reached the issuer, 98 with a
// reversal queued when the outcome is unknown, 30/96 for requests that cannot be mapped.
func (p *Processor) upstreamFailed(ctx context.Context, t *txn, route string, rec *TxnRecord, err error) ([]byte, error) {
	var me *routing.MappingError
	switch {
	case errors.As(err, &me):
		p.log.Info("request cannot be sent upstream", zap.Error(err))
		return p.decline(ctx, t, "30")
	case routing.OutcomeUnknown(err):
		if t.kind != KindBalance {
			rev := reversalOf(rec, "98")
			rev.ProcessingCode = t.procCode()
			_ = p.queueReversal(context.WithoutCancel(ctx), &rev)
			rec.Status = TxnReversed
			_ = p.d.State.PutTxn(context.WithoutCancel(ctx), *rec)
		}
		return p.decline(ctx, t, "98")
	}
	p.log.Warn("issuer unavailable", zap.String("route", route), zap.Error(err))
	return p.decline(ctx, t, "91")
}

// authenticate identifies the terminal and verifies the request's MAC.
func (p *Processor) authenticate(ctx context.Context, t *txn) string {
	if t.authenticated {
		return "" // done already, before the retransmission cache (once)
	}
	if code := p.identify(ctx, t); code != "" {
		return code
	}
	if t.term.Keys.MAK.IsZero() {
		p.security(t, secKeys)
		return "A0"
	}
	off := t.req.MACOffset()
	if off < 0 {
		p.security(t, secMAC)
		return "A0"
	}
	if err := p.d.HSM.VerifyMAC(ctx, t.term.Keys.MAK, t.term.MACAlgorithm, t.frame.Body[:off], t.req.Field(64)); err != nil {
		p.security(t, secMAC)
		p.log.Warn("MAC does not verify", zap.String("tid", t.term.TID))
		return "A0"
	}
	t.authenticated = true
	return ""
}

// readCard finds the PAN: field 2, or the PAN part of track 2 (decrypted under the TDK when
// 53.3 = 1). t.pan and t.track are set.
func (p *Processor) readCard(ctx context.Context, t *txn) string {
	if tr := t.req.Field(35); tr != nil {
		if sec := t.req.Field(53); len(sec) >= 3 && sec[2] == '1' {
			if t.term.Keys.TDK.IsZero() {
				return "A7"
			}
			packed := codec.AppendPackedBCD(t.buf[:0], tr)
			clear, err := p.d.HSM.DecryptTrack(ctx, packed[len(packed):], t.term.Keys.TDK, packed)
			if err != nil {
				return "A7"
			}
			digits, _ := codec.AppendUnpackedBCD(clear[len(clear):], clear, len(tr))
			t.buf = digits
			tr = digits
		}
		t.track = tr
	}
	if pan := t.req.Field(2); pan != nil {
		t.pan = pan
	} else if t.track != nil {
		for i, c := range t.track {
			if c == 'D' || c == '=' {
				t.pan = t.track[:i]
				break
			}
		}
	}
	if len(t.pan) < 12 || len(t.pan) > 19 {
		return "14"
	}
	for _, c := range t.pan {
		if c < '0' || c > '9' {
			return "14"
		}
	}
	return ""
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

func (p *Processor) journalRecord(t *txn, rec *TxnRecord, orig TxnRecord) journal.Record {
	jr := journal.Record{
		TxnID: rec.ID, Type: rec.Type, MTI: mtiString(t.req.MTI()), ProcessingCode: t.procCode(),
		Amount: rec.Amount, Currency: rec.Currency, MaskedPAN: rec.MaskedPAN, PANToken: rec.PANToken,
		CardKind: rec.Kind, TID: rec.TID, MID: rec.MID, Batch: t.ids.batch, STAN: t.ids.stan,
		RRN: rec.RRN, AuthCode: rec.AuthCode, ResponseCode: rec.Response, Route: rec.Route,
		RequestTime: t.start, ResponseTime: p.cfg.Now(), BusinessDate: rec.BusinessDate,
	}
	if orig.ID != "" {
		jr.Original = journal.OriginalRef{TxnID: orig.ID, RRN: orig.RRN, Batch: sixDigits(orig.Batch),
			STAN: sixDigits(orig.STAN), Date: orig.BusinessDate}
	}
	return jr
}

// reversalOf is the reversal to queue upstream if rec's approval cannot stand.
func reversalOf(rec *TxnRecord, reason string) routing.Reversal {
	return routing.Reversal{
		ID: rec.ID, Route: rec.Route, ProcessingCode: "", Amount: rec.Amount, Currency: rec.Currency,
		Original: routing.Original{MTI: rec.UpstreamMTI, STAN: rec.UpstreamSTAN, Transmission: rec.UpstreamTransmission},
		RRN:      rec.RRN, AuthCode: rec.AuthCode, TID: rec.TID, MID: rec.MID, Reason: reason,
	}
}

// queueReversal stores a reversal upstream durably; if even that fails the reversal is logged
// for operators (without card data): it must not be forgotten.
func (p *Processor) queueReversal(ctx context.Context, rev *routing.Reversal) error {
	if rev.ProcessingCode == "" {
		rev.ProcessingCode = "000000"
	}
	rev.ID += "-R" // reversalOf leaves the original's id: the suffix costs an allocation only here
	p.metrics.ReversalsOwed.WithLabelValues(reasonLabel(rev.Reason)).Inc()
	err := p.d.Reversals.Enqueue(ctx, rev)
	if err != nil {
		p.log.Error("REVERSAL NOT QUEUED: reverse by hand", zap.String("txn", rev.ID), zap.String("route", rev.Route),
			zap.String("rrn", rev.RRN), zap.Int64("amount_fen", rev.Amount), zap.Error(err))
	}
	return err
}

// reverseOwed queues the reversal of an approval the terminal never received.
func (p *Processor) reverseOwed(ctx context.Context, t *txn, reason string) {
	t.owed.Reason = reason
	_ = p.queueReversal(ctx, &t.owed)
	key := TxnKey{TID: t.owed.TID, Batch: t.cls.f60.Batch, STAN: stanOf(t)}
	p.markReversed(ctx, key)
}

func reasonLabel(r string) string {
	switch r {
	case "98", "96", "A0", "06", "22", "13":
		return r
	}
	return "other"
}

func cardKind(k routing.Kind) journal.CardKind {
	switch k {
	case routing.KindCredit:
		return journal.CardCredit
	case routing.KindQR:
		return journal.CardQR
	}
	return journal.CardDebit
}

// trackForUpstream converts a terminal track (D separator) to the 1987 form ('=').
func trackForUpstream(tr []byte) []byte {
	out := make([]byte, len(tr))
	for i, c := range tr {
		if c == 'D' {
			c = '='
		}
		out[i] = c
	}
	return out
}

func stanOf(t *txn) uint32 {
	v, _ := t.req.Number(11)
	return uint32(v)
}

func sixDigits(v uint32) string {
	s := strconv.FormatUint(uint64(v)+1000000, 10)
	return s[1:]
}

// txnID is posgate's transaction id: business date, TID, batch, STAN and kind. It is the same
// on every node for the same request, which the journal's de-duplication relies on.
func (p *Processor) txnID(t *txn, k Kind) string { return string(appendTxnID(nil, t, k)) }

func appendTxnID(b []byte, t *txn, k Kind) []byte {
	b = append(b, t.bizDate.String()...)
	b = append(b, '-')
	for _, c := range []byte(t.term.TID) {
		if c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	b = append(b, '-')
	b = appendSix(b, t.cls.f60.Batch)
	b = append(b, '-')
	b = appendSix(b, stanOf(t))
	b = append(b, '-')
	return append(b, k.String()...)
}

func appendSix(b []byte, v uint32) []byte {
	for d := uint32(100000); d > 0; d /= 10 {
		b = append(b, byte('0'+v/d%10))
	}
	return b
}

// identify2 draws the RRN and builds the strings a financial transaction is recorded under —
// id, masked PAN, RRN, PAN token, batch and STAN — in one allocation.
func (p *Processor) identify2(t *txn) {
	p.newRRN(t)
	b := t.strs[:0]
	b = appendTxnID(b, t, t.kind)
	i1 := len(b)
	b = codec.AppendMaskedPAN(b, t.pan)
	i2 := len(b)
	b = append(b, t.rrn[:]...)
	i3 := len(b)
	b = p.appendToken(b, t.pan)
	i4 := len(b)
	b = appendSix(b, t.cls.f60.Batch)
	i5 := len(b)
	b = appendSix(b, stanOf(t))
	all := string(b)
	t.strs = b
	t.ids = idStrings{id: all[:i1], masked: all[i1:i2], rrn: all[i2:i3], token: all[i3:i4], batch: all[i4:i5], stan: all[i5:]}
}
