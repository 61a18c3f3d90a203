package routing

// SetAfterRecord installs f's test hook: h runs after a delivery is recorded and before the
// queue message is acked; returning true abandons the message (nak), as a crash there would.
// Call it before Start.
func SetAfterRecord(f *Forwarder, h func(rev *Reversal) bool) { f.afterRecord = h }
