package memstate

import (
	"context"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

type totalsKey struct {
	tid   string
	batch uint32
}

// totalsEntry is a batch's running totals and the entries already added, kept as 64-bit
// keyed hashes of their ids (entryHash: a third of the memory of the ids; a collision, about
// 2^-64 per pair, would drop one entry from the totals and show as an unbalanced 0500, not as
// lost money).
type totalsEntry struct {
	t       gateway.Totals
	ids     map[uint64]struct{}
	expires time.Time
}

type dailyKey struct {
	tid  string
	date journal.Date
}

type dailyEntry struct {
	n       int64
	expires time.Time
}

// AddTotals implements gateway.State. Each call that adds refreshes the batch's lifetime to
// Config.TotalsTTL.
func (s *State) AddTotals(ctx context.Context, tid string, batch uint32, entry string, delta gateway.Totals) (gateway.Totals, error) {
	sh, err := s.lock(ctx, "add totals", tid)
	if err != nil {
		return gateway.Totals{}, err
	}
	defer sh.mu.Unlock()
	now := s.cfg.Now()
	k := totalsKey{tid, batch}
	e := sh.totals[k]
	if e == nil || !now.Before(e.expires) {
		e = &totalsEntry{ids: make(map[uint64]struct{})}
		sh.totals[k] = e
	}
	id := entryHash(s.idKey, entry)
	if _, dup := e.ids[id]; dup {
		return e.t, nil
	}
	e.ids[id] = struct{}{}
	e.t = e.t.Add(delta)
	e.expires = now.Add(s.cfg.TotalsTTL)
	return e.t, nil
}

// GetTotals implements gateway.State.
func (s *State) GetTotals(ctx context.Context, tid string, batch uint32) (gateway.Totals, error) {
	sh, err := s.lock(ctx, "get totals", tid)
	if err != nil {
		return gateway.Totals{}, err
	}
	defer sh.mu.Unlock()
	e := sh.totals[totalsKey{tid, batch}]
	if e == nil || !s.cfg.Now().Before(e.expires) {
		return gateway.Totals{}, nil
	}
	return e.t, nil
}

// CountDaily implements gateway.State. The counter of date D expires at 00:00 UTC of D+3 —
// two full days after D has ended — the same instant the Redis backend uses; a date already
// past that counts 1 every time and stores nothing.
func (s *State) CountDaily(ctx context.Context, tid string, date journal.Date) (int64, error) {
	sh, err := s.lock(ctx, "count daily", tid)
	if err != nil {
		return 0, err
	}
	defer sh.mu.Unlock()
	now := s.cfg.Now()
	exp := DailyExpiry(date)
	if !now.Before(exp) {
		return 1, nil
	}
	k := dailyKey{tid, date}
	e := sh.daily[k]
	if e == nil {
		e = &dailyEntry{expires: exp}
		sh.daily[k] = e
	}
	e.n++
	return e.n, nil
}

// DailyExpiry is when the daily counter of date expires: 00:00 UTC three days after it.
func DailyExpiry(date journal.Date) time.Time { return date.AddDays(3).Start(time.UTC) }

// entryHash is the 64-bit FNV-1a hash of key and id: keyed so that the ids of one State do not
// collide the same way in another, and a plain function of its inputs so that a snapshot can
// carry the hashes (and the key) to a State in another process. Entry ids are the gateway's own
// transaction ids, not chosen by a terminal.
func entryHash(key uint64, id string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < 8; i++ {
		h = (h ^ (key >> (8 * i) & 0xff)) * prime
	}
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * prime
	}
	return h
}
