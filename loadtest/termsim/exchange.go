package termsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/posgate/posgate/codec"
)

// frameOverhead is the length prefix, TPDU and header before the MTI.
const frameOverhead = 2 + codec.TPDULen + codec.HeaderLen

// aLongTimeAgo is a deadline in the past, to wake a blocked read when the context is done.
var aLongTimeAgo = time.Unix(1, 0)

// noMACCodes are the response codes whose responses carry no field 64 (terminal-flows.md,
// "Errors that carry no MAC").
var noMACCodes = [...]string{"30", "97", "A0", "99", "40"}

// buildFrame packs m into t.wbuf with the terminal's TPDU and header. With mac set, field 64 is
// added (or replaced) and computed over the packed message with the MAK.
func (t *Terminal) buildFrame(m *codec.Message, mac bool) error {
	if mac {
		if t.dev == nil || !t.dev.SignedOn() {
			return ErrNotSignedOn
		}
		if !m.Has(64) {
			var zero [8]byte
			if err := m.Set(64, zero[:]); err != nil {
				return err
			}
		}
	}
	var err error
	t.wbuf, err = codec.AppendFrame(t.wbuf[:0], t.cfg.TPDU, t.hdr, m)
	if err != nil {
		return err
	}
	if mac {
		body := t.wbuf[frameOverhead:]
		sum, err := t.dev.MAC(t.cfg.MACAlgorithm, body[:len(body)-8])
		if err != nil {
			return err
		}
		copy(body[len(body)-8:], sum[:])
	}
	return nil
}

// match says which response answers the request in flight: MTI, and fields 11 and 41 when the
// request carried them.
type match struct {
	mti      [4]byte
	stan     [6]byte
	tid      [8]byte
	hasSTAN  bool
	hasTID   bool
	checkMAC bool // the request was MACed, so the response must be too (unless a no-MAC code)
}

func matchFor(m *codec.Message, mac bool) match {
	var w match
	copy(w.mti[:], m.MTI())
	w.mti[2]++ // 0200 → 0210: the response class digit
	if v := m.Field(11); len(v) == 6 {
		copy(w.stan[:], v)
		w.hasSTAN = true
	}
	if v := m.Field(41); len(v) == 8 {
		copy(w.tid[:], v)
		w.hasTID = true
	}
	w.checkMAC = mac
	return w
}

func (w *match) ok(r *codec.Message) bool {
	if string(r.MTI()) != string(w.mti[:]) {
		return false
	}
	if w.hasSTAN && string(r.Field(11)) != string(w.stan[:]) {
		return false
	}
	if w.hasTID && r.Has(41) && string(r.Field(41)) != string(w.tid[:]) {
		return false
	}
	return true
}

// exchange is the outcome of one round trip.
type exchange struct {
	sent        bool // the whole request was written: a reversal may be owed
	latency     time.Duration
	requirement byte
	macErr      error // non-nil when the response's MAC failed (the response is in t.resp)
}

// roundTrip writes t.wbuf and reads the response matching w into t.resp. Frames that match no
// request (a late answer to an earlier one) are discarded. On any failure after the request was
// written the connection is closed, so a late response can never be taken for the next one.
func (t *Terminal) roundTrip(ctx context.Context, w match) (exchange, error) {
	var x exchange
	if err := ctx.Err(); err != nil {
		return x, err
	}
	if t.conn != nil && t.rd.Buffered() == 0 && !connAlive(t.conn) {
		t.Close() // the gateway closed the idle long connection
	}
	reused := t.conn != nil
	if err := t.connect(ctx); err != nil {
		return x, err
	}
	deadline := time.Now().Add(t.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := t.conn
	_ = conn.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
		defer stop()
	}
	start := time.Now()
	if _, err := conn.Write(t.wbuf); err != nil {
		t.Close()
		if !reused || ctx.Err() != nil {
			return x, t.ioError(ctx, err)
		}
		// A long connection the gateway closed while idle: dial once more. The frame was not
		// (completely) delivered, and a partial frame is dropped by the gateway.
		if err := t.connect(ctx); err != nil {
			return x, err
		}
		conn = t.conn
		_ = conn.SetDeadline(deadline)
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
			defer stop()
		}
		start = time.Now()
		if _, err := conn.Write(t.wbuf); err != nil {
			t.Close()
			return x, t.ioError(ctx, err)
		}
	}
	x.sent = true
	t.stats.Sent++
	for {
		f, err := t.rd.Next()
		if err != nil {
			t.Close()
			return x, t.ioError(ctx, err)
		}
		t.stats.Received++
		if err := t.resp.Unpack(f.Body); err != nil {
			t.Close()
			return x, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
		if !w.ok(t.resp) {
			t.stats.Discarded++
			continue
		}
		x.latency = time.Since(start)
		x.requirement = f.Header.Requirement()
		x.macErr = t.verifyResponseMAC(f.Body, w.checkMAC)
		break
	}
	if t.cfg.ShortConnections {
		t.Close()
	}
	return x, nil
}

// verifyResponseMAC checks field 64 of the response in t.resp (body is its wire form).
func (t *Terminal) verifyResponseMAC(body []byte, required bool) error {
	r := t.resp
	if !r.Has(64) {
		if !required {
			return nil
		}
		code := string(r.Field(39))
		for _, c := range noMACCodes {
			if code == c {
				return nil
			}
		}
		t.stats.MACFailure++
		return ErrResponseMAC
	}
	off := r.MACOffset()
	if t.dev == nil || !t.dev.SignedOn() || off < 0 || off > len(body) {
		t.stats.MACFailure++
		return ErrResponseMAC
	}
	if err := t.dev.VerifyMAC(t.cfg.MACAlgorithm, body[:off], r.Field(64)); err != nil {
		t.stats.MACFailure++
		return ErrResponseMAC
	}
	return nil
}

// ioError maps a read or write failure to the package's errors.
func (t *Terminal) ioError(ctx context.Context, err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.stats.Timeouts++
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(cerr, context.Canceled) {
				return cerr
			}
			return fmt.Errorf("%w: %w", ErrTimeout, cerr)
		}
		return ErrTimeout
	case errors.Is(err, codec.ErrFrameTooLarge), errors.Is(err, codec.ErrFrameTooShort), errors.Is(err, codec.ErrTPDU):
		return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrNoResponse
	}
	return fmt.Errorf("%w: %w", ErrNoResponse, err)
}

// Exchange sends msg (a message of codec.Terminal built by the caller) and returns the matching
// response: the MTI one class higher (0200 → 0210) with the same fields 11 and 41. When msg
// carries field 64, its value is replaced by the MAC the terminal computes; the response's MAC
// is then verified (ErrResponseMAC is returned with the response). Exchange does no reversal,
// sign-on or bookkeeping: it is for tests that craft messages. The response is valid until the
// next call on the Terminal.
func (t *Terminal) Exchange(ctx context.Context, msg *codec.Message) (*codec.Message, error) {
	mac := msg.Has(64)
	if err := t.buildFrame(msg, mac); err != nil {
		return nil, err
	}
	x, err := t.roundTrip(ctx, matchFor(msg, mac))
	if err != nil {
		return nil, &ExchangeError{Op: OpExchange, Err: err}
	}
	t.noteRequirement(x.requirement, OpExchange)
	if x.macErr != nil {
		return t.resp, x.macErr
	}
	return t.resp, nil
}

// SendRaw writes frame (a whole frame: length, TPDU, header, message — possibly malformed) as
// it is and returns the next frame the gateway sends, whole, in a new slice. It neither matches
// nor checks the response. A gateway that closes the connection instead of answering gives
// ErrNoResponse; one that stays silent, ErrTimeout.
func (t *Terminal) SendRaw(ctx context.Context, frame []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.conn != nil && t.rd.Buffered() == 0 && !connAlive(t.conn) {
		t.Close() // the gateway closed the idle connection (or went away): dial a new one
	}
	if err := t.connect(ctx); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(t.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := t.conn
	_ = conn.SetDeadline(deadline)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
		defer stop()
	}
	if _, err := conn.Write(frame); err != nil {
		t.Close()
		return nil, t.ioError(ctx, err)
	}
	t.stats.Sent++
	f, err := t.rd.Next()
	if err != nil {
		t.Close()
		return nil, t.ioError(ctx, err)
	}
	t.stats.Received++
	out := make([]byte, 0, frameOverhead+len(f.Body))
	out, err = codec.AppendFrameBody(out, f.TPDU, f.Header, f.Body)
	if t.cfg.ShortConnections {
		t.Close()
	}
	return out, err
}
