package redisstate

import (
	"context"
	"fmt"
	"strconv"

	"github.com/posgate/posgate/gateway"
)

// PutTxn implements gateway.State with one script (create if absent). The record is stored as
// given, Version included (normally 0), and expires Config.TxnTTL later.
func (s *State) PutTxn(ctx context.Context, rec gateway.TxnRecord) error {
	const op = "put txn"
	if err := begin(ctx, op, rec.TID); err != nil {
		return err
	}
	data, err := encodeTxn(&rec)
	if err != nil {
		return &OpError{Op: op, Err: err}
	}
	n, err := putTxnScript.Run(ctx, s.rdb, []string{s.k.txn(rec.Key())}, rec.Version, data, ms(s.cfg.TxnTTL)).Int64()
	switch {
	case err != nil:
		return s.wrap(op, err)
	case n == 0:
		return &OpError{Op: op, Err: gateway.ErrExists}
	}
	return nil
}

// GetTxn implements gateway.State: one HMGET.
func (s *State) GetTxn(ctx context.Context, key gateway.TxnKey) (gateway.TxnRecord, error) {
	const op = "get txn"
	if err := begin(ctx, op, key.TID); err != nil {
		return gateway.TxnRecord{}, err
	}
	v, err := s.rdb.HMGet(ctx, s.k.txn(key), "v", "d").Result()
	if err != nil {
		return gateway.TxnRecord{}, s.wrap(op, err)
	}
	if len(v) != 2 || v[0] == nil {
		return gateway.TxnRecord{}, &OpError{Op: op, Err: gateway.ErrNotFound}
	}
	ver, ok1 := v[0].(string)
	data, ok2 := v[1].(string)
	version, err := strconv.ParseInt(ver, 10, 64)
	rec, ok3 := decodeTxn([]byte(data))
	if !ok1 || !ok2 || err != nil || !ok3 {
		return gateway.TxnRecord{}, &OpError{Op: op, Err: ErrCorrupt}
	}
	rec.Version = version
	return rec, nil
}

// UpdateTxn implements gateway.State with one compare-and-set script. The update keeps the
// record's expiry.
func (s *State) UpdateTxn(ctx context.Context, rec gateway.TxnRecord) (gateway.TxnRecord, error) {
	const op = "update txn"
	if err := begin(ctx, op, rec.TID); err != nil {
		return gateway.TxnRecord{}, err
	}
	data, err := encodeTxn(&rec)
	if err != nil {
		return gateway.TxnRecord{}, &OpError{Op: op, Err: err}
	}
	n, err := updateTxnScript.Run(ctx, s.rdb, []string{s.k.txn(rec.Key())}, rec.Version, rec.Version+1, data).Int64()
	switch {
	case err != nil:
		return gateway.TxnRecord{}, s.wrap(op, err)
	case n == 0:
		return gateway.TxnRecord{}, &OpError{Op: op, Err: gateway.ErrNotFound}
	case n == -1:
		return gateway.TxnRecord{}, &OpError{Op: op, Err: gateway.ErrConflict}
	case n != 1:
		return gateway.TxnRecord{}, &OpError{Op: op, Err: fmt.Errorf("%w: script reply %d", ErrCorrupt, n)}
	}
	rec.Version++
	return rec, nil
}
