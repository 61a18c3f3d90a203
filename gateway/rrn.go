package gateway

import "sync/atomic"

// newRRN returns the next retrieval reference number (field 37) in t.rrn: local time hhmmss,
// the node digit, then a 5-digit sequence within that second — unique per node for up to
// 100 000 requests a second, and across up to ten nodes by their NodeID.
func (p *Processor) newRRN(t *txn) []byte {
	now := t.start.In(p.location())
	sec := uint64(now.Unix())
	var seq uint64
	for {
		old := p.rrnSeq.Load()
		next := sec << 20
		if old>>20 == sec {
			next = old + 1
		}
		if p.rrnSeq.CompareAndSwap(old, next) {
			seq = next & (1<<20 - 1)
			break
		}
	}
	h, m, s := now.Clock()
	b := t.rrn[:0]
	b = appendTwo(appendTwo(appendTwo(b, h), m), s)
	b = append(b, byte('0'+p.cfg.NodeID))
	seq %= 100000
	for d := uint64(10000); d > 0; d /= 10 {
		b = append(b, byte('0'+seq/d%10))
	}
	return t.rrn[:]
}

var _ atomic.Uint64
