package loadtest

import (
	"math"
	"time"
)

// Schedule is the open-loop arrival plan of a run: request i (from 0) is due Offset(i) after
// the start, at a constant rate, for every i whose offset is before Duration. Arrivals do not
// wait for answers: a slow gateway makes requests wait for an idle terminal, and that wait is
// part of their latency (no coordinated omission).
type Schedule struct {
	Rate     float64 // requests per second, > 0
	Duration time.Duration
}

// Offset returns when request i is due, relative to the start: i / Rate seconds, rounded down
// to the nanosecond.
func (s Schedule) Offset(i int64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / s.Rate)
}

// Count returns the number of requests in the schedule: those due before Duration.
func (s Schedule) Count() int64 {
	if s.Rate <= 0 || s.Duration <= 0 {
		return 0
	}
	n := int64(math.Ceil(s.Duration.Seconds() * s.Rate))
	// The float product may be off by one either way; settle it on Offset itself.
	for n > 0 && s.Offset(n-1) >= s.Duration {
		n--
	}
	for s.Offset(n) < s.Duration {
		n++
	}
	return n
}

// Due returns how many requests are due by elapsed (those with Offset(i) <= elapsed), at most
// Count.
func (s Schedule) Due(elapsed time.Duration) int64 {
	if elapsed < 0 || s.Rate <= 0 {
		return 0
	}
	total := s.Count()
	n := int64(elapsed.Seconds()*s.Rate) + 1
	for n > 0 && s.Offset(n-1) > elapsed {
		n--
	}
	for n < total && s.Offset(n) <= elapsed {
		n++
	}
	return min(n, total)
}
