package redisstate

import (
	"context"
	"fmt"
	"time"

	"github.com/posgate/posgate/gateway"
)

// Reserve implements gateway.State with one script. A ttl ≤ 0 is ErrInvalid; a ttl under a
// millisecond is one. For ReserveDone, resp is the caller's.
func (s *State) Reserve(ctx context.Context, key gateway.RetransmitKey, hash gateway.ContentHash, ttl time.Duration) (gateway.Reservation, []byte, error) {
	const op = "reserve"
	if err := begin(ctx, op, key.TID); err != nil {
		return 0, nil, err
	}
	if ttl <= 0 {
		return 0, nil, &OpError{Op: op, Err: ErrInvalid}
	}
	v, err := reserveScript.Run(ctx, s.rdb, []string{s.k.retransmit(key)}, hash[:], ms(ttl)).Result()
	if err != nil {
		return 0, nil, s.wrap(op, err)
	}
	switch v := v.(type) {
	case int64:
		switch v {
		case 1:
			return gateway.ReserveNew, nil, nil
		case 3:
			return gateway.ReserveBusy, nil, nil
		case 4:
			return gateway.ReserveConflict, nil, nil
		}
	case string:
		return gateway.ReserveDone, []byte(v), nil
	}
	return 0, nil, &OpError{Op: op, Err: fmt.Errorf("%w: script reply of type %T", ErrCorrupt, v)}
}

// Complete implements gateway.State with one script: resp is stored for ttl from now under the
// reservation's hash; without a reservation (released, or expired before the response came)
// under the zero hash, so a later Reserve sees ReserveConflict. A ttl ≤ 0 is ErrInvalid.
func (s *State) Complete(ctx context.Context, key gateway.RetransmitKey, resp []byte, ttl time.Duration) error {
	const op = "complete"
	if err := begin(ctx, op, key.TID); err != nil {
		return err
	}
	if ttl <= 0 {
		return &OpError{Op: op, Err: ErrInvalid}
	}
	return s.wrap(op, completeScript.Run(ctx, s.rdb, []string{s.k.retransmit(key)}, resp, ms(ttl)).Err())
}

// Restore implements gateway.State with one script. A ttl ≤ 0 is ErrInvalid.
func (s *State) Restore(ctx context.Context, key gateway.RetransmitKey, hash gateway.ContentHash, resp []byte, ttl time.Duration) error {
	const op = "restore"
	if err := begin(ctx, op, key.TID); err != nil {
		return err
	}
	if ttl <= 0 {
		return &OpError{Op: op, Err: ErrInvalid}
	}
	return s.wrap(op, restoreScript.Run(ctx, s.rdb, []string{s.k.retransmit(key)}, hash[:], resp, ms(ttl)).Err())
}

// Release implements gateway.State. It drops a reservation that is not completed; a stored
// response is kept (retransmissions must keep getting it), and an unknown key is no error.
func (s *State) Release(ctx context.Context, key gateway.RetransmitKey) error {
	const op = "release"
	if err := begin(ctx, op, key.TID); err != nil {
		return err
	}
	return s.wrap(op, releaseScript.Run(ctx, s.rdb, []string{s.k.retransmit(key)}).Err())
}
