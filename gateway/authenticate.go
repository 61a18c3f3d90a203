package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
)

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
