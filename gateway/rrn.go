package gateway

// RRN clock: p.rrnSeq holds the last RRN drawn as (local second)<<rrnSeqBits | sequence, where
// the local second is the Unix second plus the location's UTC offset at that instant.
const (
	rrnSeqBits = 20
	rrnSeqMask = 1<<rrnSeqBits - 1
	rrnPerSec  = 100000 // five digits; < 1<<rrnSeqBits
)

// newRRN returns the next retrieval reference number (field 37) in t.rrn: local time hhmmss,
// the node digit (ProcessorConfig.NodeID), then a 5-digit sequence within that second.
//
// The hhmmss comes from a node-local clock that never goes backwards, not from t.start
// directly. A request whose local second is past the clock's moves the clock there and takes
// sequence 0; any other request — one that started earlier than the last one drawn (requests
// reach here out of start order), or arrives in the same second, or after the wall clock stepped
// back (NTP, the repeated hour when summer time ends) — takes the clock's second and the next
// sequence, and when that second's 100 000 numbers are used up the clock moves on to the next
// second. Every draw thus gets a distinct (local second, sequence) pair, and two RRNs of a node
// can only be equal if their clock seconds are a whole number of days apart: RRNs are unique per
// node per day under any interleaving and concurrency, and across ten nodes by the node digit.
// The cost is that an RRN's hhmmss may lie a little after the request's field 12 time: by a
// second when a second overflows, and while the clock is ahead after a step back.
//
// Lock-free (one CAS loop on p.rrnSeq) and allocation-free.
//
// Restarts: the clock is in memory and starts at the first request's second. RRNs drawn before a
// crash are not repeated as long as the new process draws its first RRN in a later local second
// than the old one's clock reached. A restart takes well over a second (the process must die,
// start, and connect to its journal, state and upstreams before it serves a frame), and the old
// clock runs ahead of the wall clock only when a node draws more than 100 000 RRNs in a second —
// and then only by the excess over 100 000 a second, far beyond a node's capacity
// (BENCHMARKS.md) — or while it holds after the wall clock stepped back. A restart within the
// repeated hour at the end of summer time, or within the same second, could repeat RRNs; the
// default location (Asia/Shanghai) has no summer time.
func (p *Processor) newRRN(t *txn) []byte {
	_, off := t.start.In(p.location()).Zone()
	sec := uint64(t.start.Unix() + int64(off))
	var next uint64
	for {
		old := p.rrnSeq.Load()
		switch {
		case sec > old>>rrnSeqBits:
			next = sec << rrnSeqBits
		case old&rrnSeqMask+1 < rrnPerSec:
			next = old + 1
		default: // the clock's second is used up: move on to the next
			next = (old>>rrnSeqBits + 1) << rrnSeqBits
		}
		if p.rrnSeq.CompareAndSwap(old, next) {
			break
		}
	}
	day := next >> rrnSeqBits % 86400
	seq := next & rrnSeqMask
	b := t.rrn[:0]
	b = appendTwo(appendTwo(appendTwo(b, int(day/3600)), int(day/60%60)), int(day%60))
	b = append(b, byte('0'+p.cfg.NodeID))
	for d := uint64(10000); d > 0; d /= 10 {
		b = append(b, byte('0'+seq/d%10))
	}
	return t.rrn[:]
}
