package memstate

import (
	"context"
	"time"

	"github.com/posgate/posgate/gateway"
)

// rtEntry is one retransmission-cache entry: a reservation (done false) or a stored response.
type rtEntry struct {
	hash    gateway.ContentHash
	done    bool
	resp    []byte // owned by the entry; handed out only as copies
	created time.Time
	expires time.Time
}

// Reserve implements gateway.State. A ttl ≤ 0 is ErrInvalid. For ReserveDone, resp is a copy
// the caller owns.
func (s *State) Reserve(ctx context.Context, key gateway.RetransmitKey, hash gateway.ContentHash, ttl time.Duration) (gateway.Reservation, []byte, error) {
	if ttl <= 0 {
		return 0, nil, &OpError{Op: "reserve", Err: ErrInvalid}
	}
	sh, err := s.lock(ctx, "reserve", key.TID)
	if err != nil {
		return 0, nil, err
	}
	defer sh.mu.Unlock()
	now := s.cfg.Now()
	e := sh.rt[key]
	if e == nil || !now.Before(e.expires) {
		if e == nil {
			s.makeRoomRT(sh, now)
		}
		sh.rt[key] = &rtEntry{hash: hash, created: now, expires: now.Add(ttl)}
		return gateway.ReserveNew, nil, nil
	}
	switch {
	case e.hash != hash:
		return gateway.ReserveConflict, nil, nil
	case !e.done:
		return gateway.ReserveBusy, nil, nil
	}
	return gateway.ReserveDone, append([]byte(nil), e.resp...), nil
}

// Complete implements gateway.State: it stores a copy of resp for ttl from now (ErrInvalid when
// ttl ≤ 0). The entry keeps the hash it was reserved with; when there is no entry (released, or
// expired before the response came) the response is stored under the zero hash, so a later
// Reserve sees ReserveConflict.
func (s *State) Complete(ctx context.Context, key gateway.RetransmitKey, resp []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return &OpError{Op: "complete", Err: ErrInvalid}
	}
	sh, err := s.lock(ctx, "complete", key.TID)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	now := s.cfg.Now()
	e := sh.rt[key]
	if e == nil || !now.Before(e.expires) {
		e = &rtEntry{created: now}
		sh.rt[key] = e
	}
	e.done = true
	e.resp = append(e.resp[:0:0], resp...)
	e.expires = now.Add(ttl)
	return nil
}

// Restore implements gateway.State (ErrInvalid when ttl ≤ 0).
func (s *State) Restore(ctx context.Context, key gateway.RetransmitKey, hash gateway.ContentHash, resp []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return &OpError{Op: "restore", Err: ErrInvalid}
	}
	sh, err := s.lock(ctx, "restore", key.TID)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	now := s.cfg.Now()
	e := sh.rt[key]
	if e != nil && e.done && now.Before(e.expires) {
		return nil
	}
	if e == nil {
		s.makeRoomRT(sh, now)
	}
	sh.rt[key] = &rtEntry{hash: hash, done: true, resp: append([]byte(nil), resp...), created: now, expires: now.Add(ttl)}
	return nil
}

// Release implements gateway.State. It drops a reservation that is not completed; a stored
// response is kept (retransmissions must keep getting it), and an unknown key is no error.
func (s *State) Release(ctx context.Context, key gateway.RetransmitKey) error {
	sh, err := s.lock(ctx, "release", key.TID)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	if e := sh.rt[key]; e != nil && (!e.done || !s.cfg.Now().Before(e.expires)) {
		delete(sh.rt, key)
	}
	return nil
}

// evictSample is how many entries an insertion into a full shard looks at to evict one.
const evictSample = 16

// makeRoomRT evicts the oldest of a few sampled stored responses when the shard is at its share
// of MaxResponses. Go's map iteration starts at a random place, which makes the sample random.
// Reservations in progress and entries younger than MinKeep are never evicted.
func (s *State) makeRoomRT(sh *shard, now time.Time) {
	if len(sh.rt) < s.perShard(s.cfg.MaxResponses) {
		return
	}
	var victim gateway.RetransmitKey
	var oldest time.Time
	n := 0
	for k, e := range sh.rt {
		if e.done && now.Sub(e.created) >= s.cfg.MinKeep && (oldest.IsZero() || e.created.Before(oldest)) {
			victim, oldest = k, e.created
		}
		if n++; n == evictSample {
			break
		}
	}
	if !oldest.IsZero() {
		delete(sh.rt, victim)
	}
}
