package termsim

import (
	"context"
	"fmt"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
)

// Balance asks for the card's balance (0200, 310000/00/01); Result.Balance holds field 54.
func (t *Terminal) Balance(ctx context.Context, c Card) (Result, error) {
	return t.financial(ctx, OpBalance, &c, 0, nil)
}

// Purchase buys for amount fen (0200, 000000/00/22). An approved purchase enters the book.
func (t *Terminal) Purchase(ctx context.Context, c Card, amount int64) (Result, error) {
	return t.financial(ctx, OpPurchase, &c, amount, nil)
}

// Void voids the purchase orig, for its whole amount (0200, 200000/00/23, with orig's 37, 38
// and batch + STAN in 61).
func (t *Terminal) Void(ctx context.Context, c Card, orig Result) (Result, error) {
	return t.financial(ctx, OpVoid, &c, orig.Amount, &orig)
}

// Refund returns amount fen of the purchase orig (0220, 200000/00/25, with orig's 37 and
// batch + STAN + date in 61).
func (t *Terminal) Refund(ctx context.Context, c Card, amount int64, orig Result) (Result, error) {
	return t.financial(ctx, OpRefund, &c, amount, &orig)
}

// PreAuth pre-authorizes amount fen (0100, 030000/06/10).
func (t *Terminal) PreAuth(ctx context.Context, c Card, amount int64) (Result, error) {
	return t.financial(ctx, OpPreAuth, &c, amount, nil)
}

// PreAuthVoid voids the pre-authorization orig (0100, 200000/06/11, with orig's 38 and
// batch + STAN + date in 61).
func (t *Terminal) PreAuthVoid(ctx context.Context, c Card, orig Result) (Result, error) {
	return t.financial(ctx, OpPreAuthVoid, &c, orig.Amount, &orig)
}

// Completion completes the pre-authorization orig for amount fen (0200, 000000/06/20, with
// orig's 38 and batch + STAN + date in 61). An approved completion enters the book.
func (t *Terminal) Completion(ctx context.Context, c Card, amount int64, orig Result) (Result, error) {
	return t.financial(ctx, OpCompletion, &c, amount, &orig)
}

// CompletionVoid voids the completion orig, for its whole amount (0200, 200000/06/21, with
// orig's 37, 38 and batch + STAN in 61).
func (t *Terminal) CompletionVoid(ctx context.Context, c Card, orig Result) (Result, error) {
	return t.financial(ctx, OpCompletionVoid, &c, orig.Amount, &orig)
}

// financial runs one financial transaction: what a device does between "card read" and
// "receipt printed".
//
// Before the request: a pending reversal is delivered (or the transaction is refused with
// ErrReversalPending), then a sign-on or parameter download a response asked for is done.
// After it: no answer (timeout, dropped connection), an unreadable answer or one whose MAC fails
// makes a reversible request owe a reversal, sent at once up to Config.ReversalRetries times and
// kept for the next transaction when none is acknowledged; a request that cannot be reversed
// (a refund) is repeated as it was, up to Config.ReversalRetries times, until it is answered,
// and if none is, again before the next transaction or settlement (AdvicePending). An approved debit or credit enters
// the book for the settlement totals.
func (t *Terminal) financial(ctx context.Context, op Op, c *Card, amount int64, orig *Result) (Result, error) {
	s := &ops[op]
	res := Result{Op: op}
	if err := c.check(s.entry); err != nil {
		return res, err
	}
	if s.amount && (amount <= 0 || amount > 999999999999) {
		return res, ErrAmount
	}
	if err := t.prepare(ctx); err != nil {
		return res, err
	}
	stan := t.nextSTAN()
	res.STAN, res.Batch = stan, t.batch
	if s.amount {
		res.Amount = amount
	}
	if err := t.buildFinancial(op, c, amount, orig, stan); err != nil {
		return res, err
	}
	if err := t.buildFrame(t.req, true); err != nil {
		return res, err
	}
	x, err := t.roundTrip(ctx, matchFor(t.req, true))
	// A request that cannot be reversed (a refund: an advice) is repeated, byte for byte under
	// the same STAN, until it is answered: the gateway answers a repeat with the first answer,
	// so the terminal learns an approval it missed instead of refunding twice.
	for i := 0; err != nil && x.sent && !s.reversible && i < t.cfg.ReversalRetries && ctx.Err() == nil; i++ {
		res.Repeats++
		t.stats.Repeats++
		var again exchange
		again, err = t.roundTrip(ctx, matchFor(t.req, true))
		again.sent = true
		x = again
	}
	if err != nil {
		switch {
		case x.sent && s.reversible:
			res.ReversalCode = reversalReason(err)
			res.Reversed = t.oweReversal(ctx, res.ReversalCode, c.pan())
		case x.sent && s.side != 0:
			t.oweAdvice(&res, c.pan(), s.side)
		}
		return res, &ExchangeError{Op: op, STAN: stan, Err: err}
	}
	t.fillResult(&res, x)
	t.noteRequirement(x.requirement, op)
	if x.macErr != nil {
		if s.reversible {
			res.ReversalCode = reversalReason(x.macErr)
			res.Reversed = t.oweReversal(ctx, res.ReversalCode, c.pan())
		}
		return res, &ExchangeError{Op: op, STAN: stan, Err: x.macErr}
	}
	if !res.Approved() {
		return res, &DeclinedError{Op: op, Code: res.Code}
	}
	if s.side != 0 {
		t.record(s.side, c.pan(), &res)
	}
	return res, nil
}

// prepare does what must happen before a new transaction.
func (t *Terminal) prepare(ctx context.Context) error {
	if t.dev == nil {
		return ErrNotActivated
	}
	if t.pending {
		if err := t.reverse(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrReversalPending, err)
		}
	}
	if t.advice {
		if err := t.deliverAdvice(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrAdvicePending, err)
		}
	}
	if t.needSignOn {
		if _, err := t.SignOn(ctx); err != nil {
			return err
		}
	}
	if !t.signedOn {
		return ErrNotSignedOn
	}
	if t.needParams {
		if _, err := t.DownloadParameters(ctx); err != nil {
			return err
		}
	}
	return nil
}

// buildFinancial fills t.req with the fields terminal-flows.md lists for op.
func (t *Terminal) buildFinancial(op Op, c *Card, amount int64, orig *Result, stan uint32) error {
	s := &ops[op]
	m, err := t.begin(s.mti, stan)
	if err != nil {
		return err
	}
	pan := c.pan()
	if !c.OmitPAN || c.Track2 == "" {
		if err := m.SetString(2, pan); err != nil {
			return &CardError{Part: "PAN", Err: err}
		}
	}
	if err := m.SetString(3, s.proc); err != nil {
		return err
	}
	if s.amount {
		if err := m.SetNumber(4, uint64(amount)); err != nil {
			return err
		}
	}
	pin := s.entry && c.PIN != ""
	if s.entry {
		if c.Expiry != "" {
			if err := m.SetString(14, c.Expiry); err != nil {
				return &CardError{Part: "expiry", Err: err}
			}
		}
		mode := c.entryMode()
		e := [3]byte{byte('0' + mode/10), byte('0' + mode%10), '2'}
		if pin {
			e[2] = '1'
		}
		if err := m.Set(22, e[:]); err != nil {
			return err
		}
		if c.SequenceNumber != "" {
			if err := m.SetString(23, c.SequenceNumber); err != nil {
				return &CardError{Part: "card sequence", Err: err}
			}
		}
	}
	if err := m.SetString(25, s.cond); err != nil {
		return err
	}
	if pin {
		if err := m.SetString(26, "12"); err != nil {
			return err
		}
	}
	encrypt := c.Track2 != "" && c.EncryptTrack
	if c.Track2 != "" {
		if err := t.setTrack(m, c); err != nil {
			return &CardError{Part: "track 2", Err: err}
		}
	}
	if s.ref37 && orig.RRN != "" {
		if err := m.SetString(37, orig.RRN); err != nil {
			return err
		}
	}
	if s.ref38 && orig.AuthCode != "" {
		if err := m.SetString(38, orig.AuthCode); err != nil {
			return err
		}
	}
	if err := t.setIDs(m); err != nil {
		return err
	}
	if err := m.SetString(49, t.cfg.Currency); err != nil {
		return err
	}
	if pin {
		block, err := t.dev.EncryptPIN(c.PIN, []byte(pan))
		if err != nil {
			return &CardError{Part: "PIN", Err: err}
		}
		err = m.Set(52, block[:])
		clear(block[:])
		if err != nil {
			return err
		}
	}
	switch {
	case pin && encrypt:
		err = m.SetString(53, "2610000000000000")
	case pin:
		err = m.SetString(53, "2600000000000000")
	case encrypt:
		err = m.SetString(53, "0610000000000000")
	}
	if err != nil {
		return err
	}
	if s.entry && len(c.ICC) > 0 {
		if err := m.Set(55, c.ICC); err != nil {
			return &CardError{Part: "ICC", Err: err}
		}
	}
	if s.entry {
		var r [6]byte
		copy(r[:], pan[len(pan)-6:])
		if err := t.set59(m, r[:], true); err != nil {
			return err
		}
	}
	if err := t.set60(m, s.msgType, t.batch, 0); err != nil {
		return err
	}
	if s.ref61 != 0 {
		f := codec.Field61{Batch: orig.Batch, STAN: orig.STAN, Digits: s.ref61}
		if s.ref61 == 16 {
			f.Date = orig.mmdd()
		}
		t.tmp = codec.AppendField61(t.tmp[:0], f)
		if err := m.Set(61, t.tmp); err != nil {
			return err
		}
	}
	return nil
}

// setTrack sets field 35 from the card's track 2, encrypted under the TDK when asked (the
// packed BCD value's window of docs/hsm.md §7, then back to the codec's logical form, where
// encrypted nibbles appear as 0–9 and A–F).
func (t *Terminal) setTrack(m *codec.Message, c *Card) error {
	t.tmp = append(t.tmp[:0], c.Track2...)
	if !c.EncryptTrack {
		return m.Set(35, t.tmp)
	}
	if !t.dev.HasTDK() {
		return ErrNoTDK
	}
	t.tmp2 = codec.AppendPackedBCD(t.tmp2[:0], t.tmp)
	enc, err := t.dev.EncryptTrack(t.tmp2[:0], t.tmp2)
	if err != nil {
		return err
	}
	t.tmp2 = enc
	var ok bool
	t.tmp, ok = codec.AppendUnpackedBCD(t.tmp[:0], enc, len(c.Track2))
	clear(enc)
	if !ok {
		return hsm.ErrTrack
	}
	return m.Set(35, t.tmp)
}
