package termsim

import (
	"context"
	"errors"

	"github.com/posgate/posgate/codec"
)

// reversalOmits are the request fields a reversal does not repeat: PIN data (52, 26, and 53,
// which describes it and the track encryption), tracks (35, 36: a device keeps no track data
// after the authorization), terminal info (59) and the MAC (64, computed anew).
var reversalOmits = [...]int{26, 35, 36, 52, 53, 59, 64}

// oweReversal turns the request in t.req into the pending reversal (0400 with the original's
// fields and 39 = reason; field 2 = pan when the original carried only a track) and tries to
// deliver it at once. It reports whether a 0410 arrived.
func (t *Terminal) oweReversal(ctx context.Context, reason, pan string) bool {
	r := t.rev
	r.Reset()
	_ = r.SetMTI("0400")
	src := t.req
	if !src.Has(2) {
		if err := r.SetString(2, pan); err != nil {
			return false
		}
	}
next:
	for n := src.Next(0); n != 0; n = src.Next(n) {
		for _, o := range reversalOmits {
			if n == o {
				continue next
			}
		}
		if err := r.Set(n, src.Field(n)); err != nil {
			return false
		}
	}
	if err := r.SetString(39, reason); err != nil {
		return false
	}
	t.pending = true
	return t.reverse(ctx) == nil
}

// reverse sends the pending reversal up to Config.ReversalRetries times, until a 0410 answers
// it. A 0410 of any response code ends it (posgate answers 00 once it has queued the
// reversal, even for an original it does not know); one whose MAC fails does not. When no
// attempt succeeds the reversal stays pending.
func (t *Terminal) reverse(ctx context.Context) error {
	_, err := t.resend(ctx, t.rev, OpReversal, t.revSTAN(), &t.stats.Reversals)
	if err == nil {
		t.pending = false
		if t.cfg.OnReversal != nil {
			t.cfg.OnReversal(t.revSTAN())
		}
	}
	return err
}

// resend sends m up to Config.ReversalRetries times until an answer whose MAC verifies comes,
// counting each frame written in *sent, and returns that exchange; op and stan name what was
// owed in the error when none came.
func (t *Terminal) resend(ctx context.Context, m *codec.Message, op Op, stan uint32, sent *uint64) (exchange, error) {
	var last error
	for i := 0; i < t.cfg.ReversalRetries; i++ {
		if err := ctx.Err(); err != nil {
			if last == nil {
				last = err
			}
			break
		}
		if err := t.buildFrame(m, true); err != nil {
			return exchange{}, err
		}
		x, err := t.roundTrip(ctx, matchFor(m, true))
		if x.sent {
			*sent++
		}
		if err == nil {
			t.noteRequirement(x.requirement, op)
			err = x.macErr
		}
		if err == nil {
			return x, nil
		}
		last = err
	}
	if last == nil {
		last = errors.New("termsim: no attempt (ReversalRetries is 0)")
	}
	return exchange{}, &ExchangeError{Op: op, STAN: stan, Err: last}
}

// revSTAN returns the pending reversal's STAN.
func (t *Terminal) revSTAN() uint32 {
	n, _ := t.rev.Number(11)
	return uint32(n)
}

// oweAdvice keeps the refund in t.req, which no answer came for, to deliver before the next
// transaction (deliverAdvice).
func (t *Terminal) oweAdvice(res *Result, pan string, side int8) {
	if err := t.adv.CopyFrom(t.req); err != nil {
		return
	}
	t.advice, t.adviceRes, t.advicePAN, t.adviceSide = true, *res, pan, side
}

// deliverAdvice sends the pending refund again, up to Config.ReversalRetries times, until the
// gateway answers it (with the answer it gave the first copy: a repeat under the same STAN
// and content); an approval enters the book. When no attempt is answered it stays pending.
func (t *Terminal) deliverAdvice(ctx context.Context) error {
	x, err := t.resend(ctx, t.adv, OpRefund, t.adviceRes.STAN, &t.stats.Repeats)
	if err != nil {
		return err
	}
	t.advice = false
	res := t.adviceRes
	t.fillResult(&res, x)
	if res.Approved() {
		t.record(t.adviceSide, t.advicePAN, &res)
	}
	if t.cfg.OnAdvice != nil {
		t.cfg.OnAdvice(res)
	}
	return nil
}

// AdvicePending reports whether an unanswered refund waits to be delivered.
func (t *Terminal) AdvicePending() bool { return t.advice }
