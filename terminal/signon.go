package terminal

// A sign-on is fresh when its (batch 60.2, STAN 11) comes after the last accepted sign-on's:
// a captured 0800 replayed later carries an old pair and is refused, so it can never rotate
// the terminal's keys (docs/security.md). The pair is kept as one number, batch×10⁶ + STAN,
// and compared modulo 10¹² with a forward window of half the space, so the order survives a
// wrap of the batch counter. Zero means no sign-on since the TMK was installed: any pair is
// fresh then (activation and a device replacement reset it).

// signOnSpace is the number of distinct (batch, STAN) pairs.
const signOnSpace = 1_000_000_000_000

// SignOnSeq returns the sequence number of a sign-on with the given batch and STAN (each
// below 10⁶; larger values are reduced).
func SignOnSeq(batch, stan uint32) uint64 {
	return uint64(batch%1_000_000)*1_000_000 + uint64(stan%1_000_000)
}

// SignOnFresh reports whether a sign-on numbered next may follow one numbered last (0: none).
// An equal number is not fresh: it is a retransmission or a replay.
func SignOnFresh(next, last uint64) bool {
	if last == 0 {
		return true
	}
	d := (next + signOnSpace - last%signOnSpace) % signOnSpace
	return d > 0 && d < signOnSpace/2
}
