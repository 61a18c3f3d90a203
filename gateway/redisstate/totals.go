package redisstate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// AddTotals implements gateway.State with one script: the entry id joins the batch's set and,
// only if it is new there, the deltas are added and both keys live TotalsTTL from now.
func (s *State) AddTotals(ctx context.Context, tid string, batch uint32, entry string, delta gateway.Totals) (gateway.Totals, error) {
	const op = "add totals"
	if err := begin(ctx, op, tid); err != nil {
		return gateway.Totals{}, err
	}
	tk, ik := s.k.totals(tid, batch)
	v, err := addTotalsScript.Run(ctx, s.rdb, []string{tk, ik}, entry,
		delta.DebitAmount, delta.DebitCount, delta.CreditAmount, delta.CreditCount, ms(s.cfg.TotalsTTL)).Slice()
	if err != nil {
		return gateway.Totals{}, s.wrap(op, err)
	}
	return parseTotals(op, v)
}

// GetTotals implements gateway.State: one HMGET.
func (s *State) GetTotals(ctx context.Context, tid string, batch uint32) (gateway.Totals, error) {
	const op = "get totals"
	if err := begin(ctx, op, tid); err != nil {
		return gateway.Totals{}, err
	}
	tk, _ := s.k.totals(tid, batch)
	v, err := s.rdb.HMGet(ctx, tk, "da", "dc", "ca", "cc").Result()
	if err != nil {
		return gateway.Totals{}, s.wrap(op, err)
	}
	return parseTotals(op, v)
}

// parseTotals reads the four fields da, dc, ca, cc; a missing field is zero.
func parseTotals(op string, v []any) (gateway.Totals, error) {
	if len(v) != 4 {
		return gateway.Totals{}, &OpError{Op: op, Err: fmt.Errorf("%w: %d totals fields", ErrCorrupt, len(v))}
	}
	var n [4]int64
	for i, f := range v {
		switch f := f.(type) {
		case nil:
		case string:
			var err error
			if n[i], err = strconv.ParseInt(f, 10, 64); err != nil {
				return gateway.Totals{}, &OpError{Op: op, Err: fmt.Errorf("%w: totals field", ErrCorrupt)}
			}
		case int64:
			n[i] = f
		default:
			return gateway.Totals{}, &OpError{Op: op, Err: fmt.Errorf("%w: totals field of type %T", ErrCorrupt, f)}
		}
	}
	return gateway.Totals{DebitAmount: n[0], DebitCount: n[1], CreditAmount: n[2], CreditCount: n[3]}, nil
}

// CountDaily implements gateway.State: INCR and EXPIREAT in one MULTI. The counter of date D
// expires at 00:00 UTC of D+3 — two full days after D has ended; a date already past that counts
// 1 every time and keeps nothing.
func (s *State) CountDaily(ctx context.Context, tid string, date journal.Date) (int64, error) {
	const op = "count daily"
	if err := begin(ctx, op, tid); err != nil {
		return 0, err
	}
	k := s.k.daily(tid, date.Compact())
	var incr *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, k)
		p.ExpireAt(ctx, k, DailyExpiry(date))
		return nil
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return incr.Val(), nil
}

// DailyExpiry is when the daily counter of date expires: 00:00 UTC three days after it.
func DailyExpiry(date journal.Date) time.Time { return date.AddDays(3).Start(time.UTC) }
