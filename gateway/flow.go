package gateway

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
)

// process runs one request and returns the response frame (in t.out), nil for none, or
// errClose.
func (p *Processor) process(ctx context.Context, t *txn) ([]byte, error) {
	if err := t.req.Unpack(t.frame.Body); err != nil {
		if t.req.MTI() == nil || !isRequestMTI(t.req.MTI()) {
			return nil, errClose
		}
		// Fields before the bad one are there: answer 30 with what identifies the request.
		p.log.Info("format error", zap.Error(err))
		return p.reject(ctx, t, "30")
	}
	t.cls = classify(t.req)
	t.kind = t.cls.kind
	switch t.kind {
	case KindUnsupported:
		return p.reject(ctx, t, "40")
	case KindActivation:
		return p.activate(ctx, t)
	case KindSignOn:
		return p.signOn(ctx, t)
	case KindSignOff, KindEcho:
		return p.netMgmt(ctx, t)
	case KindParameters:
		return p.parameters(ctx, t)
	}
	return p.once(ctx, t)
}

// isRequestMTI reports whether mti is a request (third digit even: 0100, 0200, 0400 …).
func isRequestMTI(mti []byte) bool { return len(mti) == 4 && (mti[2]-'0')%2 == 0 }

// once runs a financial, settlement or upload request exactly once per retransmission key:
// a retransmission gets the first response byte for byte, different content under the same
// key gets 94 (terminal protocol §7).
func (p *Processor) once(ctx context.Context, t *txn) ([]byte, error) {
	stan, err := t.req.Number(11)
	tid := t.req.Field(41)
	if err != nil || tid == nil || !t.cls.has60 {
		return p.reject(ctx, t, "30")
	}
	// Only an authenticated request may claim its retransmission key: otherwise anyone could
	// send a copy with a wrong MAC and have the terminal's own request answered with that
	// copy's A0 (or 94) from the cache.
	if code := p.authenticate(ctx, t); code != "" {
		return p.decline(ctx, t, code)
	}
	key := RetransmitKey{TID: t.term.TID, Batch: t.cls.f60.Batch, STAN: uint32(stan), MTI: mtiString(t.req.MTI())}
	body := t.frame.Body
	if off := t.req.MACOffset(); off >= 0 {
		body = body[:off]
	}
	hash := p.contentHash(body)
	t.hash, t.hashed = hash, true
	// MACed like every financial decline (terminal-flows.md; the request was authenticated
	// above): a terminal that cannot verify a 94 would reverse the original under the same STAN.
	if out, answered, err := p.reserve(ctx, t, key, hash, p.decline); answered {
		return out, err
	}
	out, err := p.dispatch(ctx, t)
	return p.store(ctx, key, out, err)
}

// reserve claims a request's retransmission key. answered reports that the request needs no
// processing: a retransmission answered byte for byte from the cache, different content under
// the key (answered with conflict's 94), the cache unavailable (96), or the context ended while
// the first copy is still in progress (no answer).
func (p *Processor) reserve(ctx context.Context, t *txn, key RetransmitKey, hash ContentHash,
	conflict func(context.Context, *txn, string) ([]byte, error)) (out []byte, answered bool, err error) {
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		// The reservation lives as long as a transaction may take, so one left by a crashed
		// node frees the key soon; the response, once stored, lives a business day.
		res, cached, err := p.d.State.Reserve(ctx, key, hash, 2*p.cfg.TxnTimeout)
		if err != nil {
			p.log.Error("retransmission cache unavailable", zap.Error(err))
			out, err := p.reject(ctx, t, "96")
			return out, true, err
		}
		switch res {
		case ReserveDone:
			return p.answerStored(t, cached), true, nil
		case ReserveConflict:
			p.metrics.Duplicates.WithLabelValues("different_content").Inc()
			out, err := conflict(ctx, t, "94")
			return out, true, err
		case ReserveBusy:
			// The first copy is still being processed: wait for its response.
			select {
			case <-ctx.Done():
				p.metrics.Duplicates.WithLabelValues("in_flight").Inc()
				return nil, true, nil
			case <-time.After(wait):
			}
			continue
		}
		return nil, false, nil
	}
}

// answerStored answers a retransmission with the stored response frame, byte for byte.
func (p *Processor) answerStored(t *txn, stored []byte) []byte {
	p.metrics.Duplicates.WithLabelValues("answered").Inc()
	t.out = append(t.out[:0], stored...)
	t.setCode("dup")
	return t.out
}

// store ends a reservation: the response is kept for retransmissions, or the key is released
// when there is none.
func (p *Processor) store(ctx context.Context, key RetransmitKey, out []byte, err error) ([]byte, error) {
	if out == nil || err != nil {
		_ = p.d.State.Release(context.WithoutCancel(ctx), key)
		return out, err
	}
	if err := p.d.State.Complete(context.WithoutCancel(ctx), key, out, p.cfg.RetransmitTTL); err != nil {
		p.log.Error("cannot store a response for retransmissions", zap.Error(err))
	}
	return out, nil
}

func (p *Processor) dispatch(ctx context.Context, t *txn) ([]byte, error) {
	switch t.kind {
	case KindSettlement:
		return p.settle(ctx, t)
	case KindBatchUpload:
		return p.batchUpload(ctx, t)
	case KindReversal:
		return p.reversal(ctx, t)
	}
	return p.financial(ctx, t)
}

// errorText is a field's value for logs: never the value, only its presence.
var errFormat = errors.New("gateway: format")

var _ = codec.Terminal

// mtiString returns the MTI as a string without allocating for the request MTIs posgate serves.
func mtiString(mti []byte) string {
	switch string(mti) {
	case "0100":
		return "0100"
	case "0200":
		return "0200"
	case "0220":
		return "0220"
	case "0320":
		return "0320"
	case "0400":
		return "0400"
	case "0500":
		return "0500"
	}
	return string(mti)
}
