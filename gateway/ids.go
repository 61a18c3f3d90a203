package gateway

import (
	"strconv"

	"github.com/posgate/posgate/codec"
)

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
