package memstate

import (
	"context"
	"time"

	"github.com/posgate/posgate/gateway"
)

// txnEntry is a stored transaction. TxnRecord holds no slices or pointers, so storing and
// returning it by value is a deep copy.
type txnEntry struct {
	rec     gateway.TxnRecord
	created time.Time
	expires time.Time
}

// PutTxn implements gateway.State. The record is stored as given, Version included (normally
// 0), and expires Config.TxnTTL later.
func (s *State) PutTxn(ctx context.Context, rec gateway.TxnRecord) error {
	sh, err := s.lock(ctx, "put txn", rec.TID)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	now := s.cfg.Now()
	key := rec.Key()
	if e := sh.txns[key]; e != nil && now.Before(e.expires) {
		return &OpError{Op: "put txn", Err: gateway.ErrExists}
	}
	if sh.txns[key] == nil {
		s.makeRoomTxn(sh, now)
	}
	sh.txns[key] = &txnEntry{rec: rec, created: now, expires: now.Add(s.cfg.TxnTTL)}
	return nil
}

// GetTxn implements gateway.State.
func (s *State) GetTxn(ctx context.Context, key gateway.TxnKey) (gateway.TxnRecord, error) {
	sh, err := s.lock(ctx, "get txn", key.TID)
	if err != nil {
		return gateway.TxnRecord{}, err
	}
	defer sh.mu.Unlock()
	e := sh.txns[key]
	if e == nil || !s.cfg.Now().Before(e.expires) {
		return gateway.TxnRecord{}, &OpError{Op: "get txn", Err: gateway.ErrNotFound}
	}
	return e.rec, nil
}

// UpdateTxn implements gateway.State. The update keeps the record's expiry.
func (s *State) UpdateTxn(ctx context.Context, rec gateway.TxnRecord) (gateway.TxnRecord, error) {
	sh, err := s.lock(ctx, "update txn", rec.TID)
	if err != nil {
		return gateway.TxnRecord{}, err
	}
	defer sh.mu.Unlock()
	e := sh.txns[rec.Key()]
	switch {
	case e == nil || !s.cfg.Now().Before(e.expires):
		return gateway.TxnRecord{}, &OpError{Op: "update txn", Err: gateway.ErrNotFound}
	case e.rec.Version != rec.Version:
		return gateway.TxnRecord{}, &OpError{Op: "update txn", Err: gateway.ErrConflict}
	}
	rec.Version++
	e.rec = rec
	return rec, nil
}

// makeRoomTxn evicts the oldest of a few sampled transactions older than MinKeep when the shard
// is at its share of MaxTxns: a void or refund naming an evicted original gets 25.
func (s *State) makeRoomTxn(sh *shard, now time.Time) {
	if len(sh.txns) < s.perShard(s.cfg.MaxTxns) {
		return
	}
	var victim gateway.TxnKey
	var oldest time.Time
	n := 0
	for k, e := range sh.txns {
		if now.Sub(e.created) >= s.cfg.MinKeep && (oldest.IsZero() || e.created.Before(oldest)) {
			victim, oldest = k, e.created
		}
		if n++; n == evictSample {
			break
		}
	}
	if !oldest.IsZero() {
		delete(sh.txns, victim)
	}
}

// perShard is a shard's share of a bound (at least 1).
func (s *State) perShard(max int) int {
	if n := max / len(s.shards); n > 0 {
		return n
	}
	return 1
}
