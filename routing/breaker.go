package routing

import (
	"sync"
	"time"
)

// BreakerState is the state of a route's circuit breaker.
type BreakerState uint8

// Breaker states.
const (
	// BreakerClosed: requests flow; consecutive failures are counted.
	BreakerClosed BreakerState = iota
	// BreakerOpen: requests fail fast with ErrBreakerOpen until the cool-down has passed.
	BreakerOpen
	// BreakerHalfOpen: the cool-down has passed; one probe request is let through. Its success
	// closes the breaker, its failure opens it for another cool-down.
	BreakerHalfOpen
)

// String returns closed, open or half-open.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// outcome is what one exchange tells the breaker.
type outcome uint8

const (
	outcomeSuccess outcome = iota // a matching reply, whatever its response code
	outcomeFailure                // timeout, no responders, transport failure, bad reply
	outcomeNeutral                // the caller gave up (canceled): says nothing about upstream
)

// breaker is a consecutive-failure circuit breaker with a single half-open probe.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	probing  bool // half-open: the probe is in flight
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown}
}

// allow reports whether a request may go out now. In half-open state only one may; the caller
// must report its outcome with done.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerClosed:
		return true
	case BreakerOpen:
		if now.Sub(b.openedAt) < b.cooldown {
			return false
		}
		b.state = BreakerHalfOpen
		b.probing = true
		return true
	default: // half-open
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
}

// done records the outcome of an allowed request and reports whether the state changed.
func (b *breaker) done(o outcome, now time.Time) (changed bool, to BreakerState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	before := b.state
	switch o {
	case outcomeSuccess:
		b.failures = 0
		b.state = BreakerClosed
		b.probing = false
	case outcomeFailure:
		b.failures++
		if b.state == BreakerHalfOpen || b.failures >= b.threshold {
			b.state = BreakerOpen
			b.openedAt = now
		}
		b.probing = false
	case outcomeNeutral:
		b.probing = false // let another probe through
	}
	return b.state != before, b.state
}

func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
