package gateway

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

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

// financial runs balance inquiries, purchases, voids, refunds and the pre-authorization family:
// admission (identity, card, SN, amount, limits), the original of a follow-up, the upstream
// request (written ahead), then the outcome — declined, or captured (capture.go).
func (p *Processor) financial(ctx context.Context, t *txn) ([]byte, error) {
	info := kinds[t.kind]
	amount, no := p.admit(ctx, t, info)
	if no.refused() {
		return p.refuse(ctx, t, no)
	}
	p.identify2(t)
	var orig TxnRecord
	if info.original != KindUnsupported {
		var code string
		if orig, code = p.original(ctx, t, info, t.ids.token, amount); code != "" {
			return p.decline(ctx, t, code)
		}
	}
	match := p.d.Upstream.Table().Resolve(t.pan, t.req.Field(22))
	route, kind := match.Route, cardKind(match.Kind)
	if info.original != KindUnsupported {
		route, kind = orig.Route, orig.Kind
	}
	t.id = t.ids.id
	if no := p.buildRequest(ctx, t, info, route, orig, amount); no.refused() {
		return p.refuse(ctx, t, no)
	}
	rec := TxnRecord{
		ID: t.id, Type: info.journal, TID: t.term.TID, MID: t.term.MID, Batch: t.cls.f60.Batch,
		STAN: stanOf(t), LocalDate: string(t.req.Field(13)), Amount: amount, Currency: t.upReq.Currency,
		MaskedPAN: t.ids.masked, PANToken: t.ids.token, Kind: kind,
		RRN: t.ids.rrn, Route: route, BusinessDate: t.bizDate, Original: orig.Key(), CreatedAt: t.start,
	}
	res, err := p.sendUpstream(ctx, t, info, &rec, orig)
	if err != nil {
		return p.upstreamFailed(ctx, t, route, &rec, orig, err)
	}
	rec.AuthCode, rec.Response = res.AuthCode, res.ResponseCode
	if t.kind == KindBalance {
		return p.approvedOrDeclined(ctx, t, &rec, res)
	}
	if !res.Approved() {
		rec.Status = TxnDeclined
		_ = p.d.State.PutTxn(ctx, rec) // lets a later reversal recognise the decline
		out, err := p.approvedOrDeclined(ctx, t, &rec, res)
		if err == nil {
			p.journalDecline(ctx, t, &rec, orig)
		}
		return out, err
	}
	rec.Status = TxnApproved
	return p.capture(ctx, t, info, &rec, orig, res)
}

// refusal is why a request is answered before it goes upstream: a response code, or a system
// failure (what failed and the error: 96).
type refusal struct {
	code string
	what string
	err  error
}

func (r refusal) refused() bool { return r.code != "" || r.err != nil }

func (p *Processor) refuse(ctx context.Context, t *txn, r refusal) ([]byte, error) {
	if r.err != nil {
		return p.systemError(ctx, t, r.what, r.err)
	}
	return p.decline(ctx, t, r.code)
}

// admit checks what a financial request needs before anything is remembered of it: the
// terminal and its MAC, the card, the SN binding (purchase, pre-auth, balance), the amount and
// the limits. It sets t.bizDate and returns the amount in fen (0 for a balance inquiry).
func (p *Processor) admit(ctx context.Context, t *txn, info kindInfo) (int64, refusal) {
	if code := p.authenticate(ctx, t); code != "" {
		return 0, refusal{code: code}
	}
	if code := p.readCard(ctx, t); code != "" {
		return 0, refusal{code: code}
	}
	if t.kind == KindPurchase || t.kind == KindPreAuth || t.kind == KindBalance {
		if code := p.checkSN(ctx, t, t.pan, false); code != "" {
			return 0, refusal{code: code}
		}
	}
	p.requirementFor(t)
	t.bizDate = p.cfg.Calendar.BusinessDate(t.start)
	var amount int64
	if t.kind != KindBalance {
		v, err := t.req.Number(4)
		if err != nil {
			return 0, refusal{code: "30"}
		}
		if amount = int64(v); amount <= 0 {
			return 0, refusal{code: "13"}
		}
		if p.cfg.MaxAmount > 0 && amount > p.cfg.MaxAmount && !info.credit {
			return 0, refusal{code: "61"}
		}
	}
	if info.limited && p.cfg.MaxDailyCount > 0 {
		n, err := p.d.State.CountDaily(ctx, t.term.TID, t.bizDate)
		if err != nil {
			return 0, refusal{what: "daily count", err: err}
		}
		if n > p.cfg.MaxDailyCount {
			return 0, refusal{code: "65"}
		}
	}
	return amount, refusal{}
}

// buildRequest fills t.upReq, the upstream request of t on route: the card and terminal
// fields, the PIN block translated to the route's zone PIN key, and the original's upstream
// identifiers (field 90) for a follow-up.
func (p *Processor) buildRequest(ctx context.Context, t *txn, info kindInfo, route string, orig TxnRecord, amount int64) refusal {
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
			return refusal{code: "96"}
		}
		var err error
		t.pin, err = p.d.HSM.TranslatePIN(ctx, t.term.Keys.PIK, zpk, block, t.pan)
		if err != nil {
			var pe *hsm.PINBlockError
			if errors.As(err, &pe) || errors.Is(err, hsm.ErrPINBlock) {
				return refusal{code: "99"}
			}
			return refusal{what: "PIN translation", err: err}
		}
		req.PINBlock = t.pin[:]
	}
	if info.original != KindUnsupported {
		req.Original = &routing.Original{MTI: orig.UpstreamMTI, STAN: orig.UpstreamSTAN, Transmission: orig.UpstreamTransmission}
		req.AuthCode = []byte(orig.AuthCode)
	}
	req.MCC, req.MerchantName = p.merchant(ctx, t.term.MID, t.start)
	return refusal{}
}

// sendUpstream sends the authorization in t.upReq to rec.Route. Every request that can move
// money is written ahead: its intent — the upstream identifiers drawn first — is durable in the
// journal before the request leaves, so a node that crashes while the request is out finds it
// on restart and reverses it (recover.go). rec gets the identifiers of what was sent.
func (p *Processor) sendUpstream(ctx context.Context, t *txn, info kindInfo, rec *TxnRecord, orig TxnRecord) (routing.Result, error) {
	req := &t.upReq
	if t.kind == KindBalance {
		upStart := time.Now()
		res, err := p.d.Upstream.Authorize(ctx, rec.Route, req)
		t.upstreamTime = time.Since(upStart)
		return res, err
	}
	if !p.holdLease(t) {
		return routing.Result{}, errNoLease
	}
	sent, err := p.d.Upstream.Prepare(ctx, rec.Route, info.upstream)
	if err != nil {
		return routing.Result{}, err
	}
	rec.UpstreamMTI, rec.UpstreamSTAN, rec.UpstreamTransmission = sent.MTI, sent.STAN, sent.Transmission()
	if err := p.d.Journal.Append(ctx, p.intentRecord(t, rec, orig)); err != nil {
		// Nothing has been sent: the issuer is not reached, and a late-landing intent only
		// makes a restarted node reverse what the issuer never saw (harmless).
		p.log.Error("write-ahead intent not journaled: not sending", zap.String("txn", rec.ID), zap.Error(err))
		return routing.Result{}, errIntent
	}
	if !p.leaseHeld(t) {
		// The lease ran out while the intent was being journaled: another node may adopt the
		// intent. Not sending it keeps the issuer out of it; the decline closes the intent.
		p.log.Warn("node lease lost: request not sent", zap.String("txn", rec.ID))
		return routing.Result{}, errNoLease
	}
	upStart := time.Now()
	res, err := p.d.Upstream.AuthorizeAs(ctx, rec.Route, req, sent)
	t.upstreamTime = time.Since(upStart)
	if err == nil {
		p.fault(FaultAnswered, t.kind)
	}
	return res, err
}

// errIntent: the write-ahead intent could not be made durable, so nothing was sent (96).
var errIntent = errors.New("gateway: write-ahead intent not durable")

// errNoLease: the node does not hold its lease (Deps.Lease), so nothing was sent (91).
var errNoLease = errors.New("gateway: node lease not held")

// holdLease records in t the lease epoch its request goes upstream under; false when the node
// holds no lease. A node without Deps.Lease always holds one.
func (p *Processor) holdLease(t *txn) bool {
	if p.d.Lease == nil {
		return true
	}
	var ok bool
	t.epoch, ok = p.d.Lease.Hold()
	return ok
}

// leaseHeld tells whether the lease t's request went upstream under is still held.
func (p *Processor) leaseHeld(t *txn) bool { return p.d.Lease == nil || p.d.Lease.Held(t.epoch) }

// upstreamFailed answers a failed authorization: 91 when nothing reached the issuer, 98 with a
// reversal queued when the outcome is unknown, 30/96 for requests that cannot be mapped.
func (p *Processor) upstreamFailed(ctx context.Context, t *txn, route string, rec *TxnRecord, orig TxnRecord, err error) ([]byte, error) {
	var me *routing.MappingError
	switch {
	case errors.Is(err, errIntent):
		return p.decline(ctx, t, "96")
	case errors.Is(err, errNoLease):
		return p.declineUnsent(ctx, t, rec, orig, "91")
	case errors.As(err, &me):
		p.log.Info("request cannot be sent upstream", zap.Error(err))
		return p.declineUnsent(ctx, t, rec, orig, "30")
	case routing.OutcomeUnknown(err):
		if t.kind != KindBalance {
			// The issuer may have approved: reverse it, journal the reversal (it closes the
			// intent), and leave a reversed record so the terminal's 0400 finds it.
			bg := context.WithoutCancel(ctx)
			rec.Status = TxnReversed
			rev := reversalOf(rec, "98")
			rev.ProcessingCode = t.procCode()
			_ = p.queueReversal(bg, &rev)
			_ = p.d.State.PutTxn(bg, *rec)
			p.journalReversal(bg, t, rec, "98", nil)
		}
		return p.decline(ctx, t, "98")
	}
	p.log.Warn("issuer unavailable", zap.String("route", route), zap.Error(err))
	return p.declineUnsent(ctx, t, rec, orig, "91")
}

// declineUnsent answers code for a request that never reached the issuer. Its write-ahead
// intent, when one was journaled, is closed by a decline record — else the journal would hold
// an open intent (a restarted node would reverse a request the issuer never saw, and
// reconciliation would count it open).
func (p *Processor) declineUnsent(ctx context.Context, t *txn, rec *TxnRecord, orig TxnRecord, code string) ([]byte, error) {
	out, err := p.decline(ctx, t, code)
	if err == nil && rec.UpstreamSTAN != 0 && t.kind != KindBalance {
		rec.Status, rec.Response = TxnDeclined, code
		_ = p.d.State.PutTxn(ctx, *rec) // a later reversal recognises the decline
		p.journalDecline(ctx, t, rec, orig)
	}
	return out, err
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
