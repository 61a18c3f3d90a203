package routing

import (
	"context"
	"sync"
	"time"
)

// maxSTAN is the largest upstream STAN (field 11 is n6).
const maxSTAN = 999_999

// STANSource hands out upstream STANs (field 11): unique per route per UTC day, 1–999999.
//
// MemorySTAN serves one process. Several gateway nodes sending on the same route need a shared
// source — for example Redis INCR on a key per route and UTC day (with a two-day TTL), reduced
// modulo 999999 — or their STANs collide. See docs/routing.md.
type STANSource interface {
	// NextSTAN returns the next STAN of route for the UTC day of at.
	NextSTAN(ctx context.Context, route string, at time.Time) (uint32, error)
}

// MemorySTAN is an in-process STANSource: one counter per route, restarting at 1 each UTC day.
// After 999999 STANs in one day it wraps to 1: field 11 cannot number more, and the pair
// (11, 7) still identifies a request. It is safe for concurrent use; the zero value is ready.
type MemorySTAN struct {
	mu  sync.Mutex
	seq map[string]stanDay
}

type stanDay struct {
	day  int32 // days since the epoch, UTC
	last uint32
}

// NewMemorySTAN returns an empty MemorySTAN.
func NewMemorySTAN() *MemorySTAN { return &MemorySTAN{} }

// NextSTAN implements STANSource.
func (s *MemorySTAN) NextSTAN(_ context.Context, route string, at time.Time) (uint32, error) {
	var n uint32
	s.update(route, at, func(d *stanDay) {
		d.last++
		if d.last > maxSTAN {
			d.last = 1
		}
		n = d.last
	})
	return n, nil
}

// Advance makes the next STAN of route on at's UTC day follow last (unless the counter is
// already past it): a node restarted on its own journal continues the day's sequence instead of
// numbering again from 1 what the issuer has already seen.
func (s *MemorySTAN) Advance(route string, at time.Time, last uint32) {
	s.update(route, at, func(d *stanDay) {
		if last > d.last && last <= maxSTAN {
			d.last = last
		}
	})
}

// update runs fn on route's counter for at's UTC day (a new day starts at 0), under the lock.
func (s *MemorySTAN) update(route string, at time.Time, fn func(*stanDay)) {
	day := int32(at.Unix() / 86400)
	if at.Unix() < 0 {
		day--
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq == nil {
		s.seq = make(map[string]stanDay)
	}
	d := s.seq[route]
	if d.day != day {
		d = stanDay{day: day}
	}
	fn(&d)
	s.seq[route] = d
}
