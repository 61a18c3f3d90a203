package gateway

import (
	"sync"
	"time"
)

// SecurityEvent is one refused message the operators should see: when, which terminal (as it
// claimed to be, from field 41 — or the SN of an activation), and why. It holds no card data.
type SecurityEvent struct {
	Time     time.Time
	Terminal string
	Reason   string
}

// eventRing keeps the latest security events for the dashboard.
type eventRing struct {
	mu     sync.Mutex
	events [256]SecurityEvent
	next   int
	full   bool
}

func (r *eventRing) add(e SecurityEvent) {
	r.mu.Lock()
	r.events[r.next] = e
	r.next = (r.next + 1) % len(r.events)
	r.full = r.full || r.next == 0
	r.mu.Unlock()
}

// recent returns up to n events, newest first.
func (r *eventRing) recent(n int) []SecurityEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.events)
	}
	if n > size {
		n = size
	}
	out := make([]SecurityEvent, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.events[(r.next-i+len(r.events))%len(r.events)])
	}
	return out
}

// security counts a security event and keeps it for the dashboard.
func (p *Processor) security(t *txn, reason string) {
	p.metrics.security(reason)
	who := t.term.TID
	if who == "" {
		if tid := t.req.Field(41); tid != nil {
			who = string(tid)
		}
	}
	p.events.add(SecurityEvent{Time: t.start, Terminal: printable(who), Reason: reason})
}

// printable keeps a claimed identifier safe to show: printable ASCII, at most 50 characters.
func printable(s string) string {
	if len(s) > 50 {
		s = s[:50]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// SecurityEvents returns up to n of the latest security events, newest first.
func (p *Processor) SecurityEvents(n int) []SecurityEvent { return p.events.recent(n) }
