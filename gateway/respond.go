package gateway

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/journal"
)

// defaultLocation is the zone of local times when the calendar names none: the journal's default.
var defaultLocation = func() *time.Location {
	loc, err := time.LoadLocation(journal.DefaultLocation)
	if err != nil {
		return time.UTC
	}
	return loc
}()

// Fields echoed from request to response (docs/terminal-flows.md).
var (
	echoNetMgmt   = [...]int{11, 41, 42, 60}
	echoFinancial = [...]int{3, 4, 11, 22, 25, 41, 42, 49, 60, 61}
	echoIdent     = [...]int{11, 41, 42}
	zeroMAC       [8]byte
)

// begin starts the response: its MTI, the echoed fields, and local time and date (12, 13).
func (p *Processor) begin(t *txn, echo []int) {
	mti := responseMTI(t.req.MTI())
	t.resp.Reset()
	_ = t.resp.SetMTI(string(mti[:]))
	for _, n := range echo {
		if v := t.req.Field(n); v != nil {
			_ = t.resp.Set(n, v)
		}
	}
	now := t.start.In(p.location())
	var b [6]byte
	h, m, s := now.Clock()
	_ = t.resp.Set(12, appendTwo(appendTwo(appendTwo(b[:0], h), m), s))
	_ = t.resp.Set(13, appendTwo(appendTwo(b[:0], int(now.Month())), now.Day()))
}

func (p *Processor) location() *time.Location {
	if p.cfg.Calendar.Location == nil {
		return defaultLocation
	}
	return p.cfg.Calendar.Location
}

func appendTwo(b []byte, v int) []byte { return append(b, byte('0'+v/10%10), byte('0'+v%10)) }

// finish sets 39 and packs the response frame into t.out, with a MAC under the terminal's MAK
// when mac is set. If the MAC cannot be made the response goes out as 96 without one.
func (p *Processor) finish(ctx context.Context, t *txn, mac bool) ([]byte, error) {
	_ = t.resp.Set(39, t.rc[:])
	if mac {
		_ = t.resp.Set(64, zeroMAC[:])
	}
	hdr := t.frame.Header.WithRequirement(t.requirement)
	out, err := codec.AppendFrame(t.out[:0], t.frame.TPDU.Swap(), hdr, t.resp)
	if err != nil {
		return nil, err
	}
	if mac {
		body := out[2+codec.TPDULen+codec.HeaderLen:]
		m, err := p.d.HSM.GenerateMAC(ctx, t.term.Keys.MAK, t.term.MACAlgorithm, body[:len(body)-8])
		if err != nil {
			p.log.Error("cannot MAC a response", zap.String("tid", t.term.TID), zap.Error(err))
			t.resp.Unset(64)
			t.setCode("96")
			return p.finish(ctx, t, false)
		}
		copy(out[len(out)-8:], m[:])
	}
	t.out = out
	return out, nil
}

// reject answers code without a MAC, echoing what identifies the request (11, 41, 42).
func (p *Processor) reject(ctx context.Context, t *txn, code string) ([]byte, error) {
	p.begin(t, echoIdent[:])
	t.setCode(code)
	t.requirement = 0
	return p.finish(ctx, t, false)
}

// decline answers a financial request with code: echoed fields, MACed when the terminal's MAK is
// known and the code is one a terminal can verify (terminal-flows.md: no MAC on 30, 97, A0, 99,
// 40).
func (p *Processor) decline(ctx context.Context, t *txn, code string) ([]byte, error) {
	p.begin(t, echoFinancial[:])
	t.setCode(code)
	return p.finish(ctx, t, p.canMAC(t, code))
}

func (p *Processor) canMAC(t *txn, code string) bool {
	if !t.hasTerm || t.term.Keys.MAK.IsZero() || !t.kind.MACed() {
		return false
	}
	switch code {
	case "30", "97", "A0", "99", "40":
		return false
	}
	return true
}
