package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/terminal"
)

// CreateMerchant implements terminal.Store. The MID is added to the merchant list first, so a
// crash in between leaves at most a list entry without a record, which ListMerchants skips.
func (s *Store) CreateMerchant(ctx context.Context, m terminal.Merchant) (terminal.Merchant, error) {
	if err := m.Validate(); err != nil {
		return terminal.Merchant{}, err
	}
	now := s.now()
	m.CreatedAt, m.UpdatedAt, m.Revision = now, now, 1
	if err := s.rdb.ZAdd(ctx, s.k.merchants(), redis.Z{Member: m.MID}).Err(); err != nil {
		return terminal.Merchant{}, s.wrap("create merchant", err)
	}
	res, err := createHash.Run(ctx, s.rdb, []string{s.k.merchant(m.MID)}, merchantFields(&m)...).Slice()
	if err != nil {
		return terminal.Merchant{}, s.scriptErr("create merchant", err, terminal.KindMerchant, m.MID, "")
	}
	return decodeMerchant(pairs(res))
}

// GetMerchant implements terminal.Store.
func (s *Store) GetMerchant(ctx context.Context, mid string) (terminal.Merchant, error) {
	if err := terminal.ValidMID(mid); err != nil {
		return terminal.Merchant{}, err
	}
	h, err := s.rdb.HGetAll(ctx, s.k.merchant(mid)).Result()
	if err != nil {
		return terminal.Merchant{}, s.wrap("get merchant", err)
	}
	if len(h) == 0 {
		return terminal.Merchant{}, terminal.NewRecordError(terminal.KindMerchant, mid, terminal.ErrNotFound)
	}
	return decodeMerchant(h)
}

// UpdateMerchant implements terminal.Store.
func (s *Store) UpdateMerchant(ctx context.Context, m terminal.Merchant) (terminal.Merchant, error) {
	if err := m.Validate(); err != nil {
		return terminal.Merchant{}, err
	}
	args := []any{strconv.FormatUint(m.Revision, 10), micros(s.now()),
		fName, m.Name, fMCC, m.MCC, fCity, m.City, fPlan, m.FeePlan, fAcct, m.SettlementAccount}
	res, err := updateHash.Run(ctx, s.rdb, []string{s.k.merchant(m.MID)}, args...).Slice()
	if err != nil {
		return terminal.Merchant{}, s.scriptErr("update merchant", err, terminal.KindMerchant, m.MID, "")
	}
	return decodeMerchant(pairs(res))
}

// ListMerchants implements terminal.Store.
func (s *Store) ListMerchants(ctx context.Context, q terminal.Page) (terminal.MerchantPage, error) {
	limit, err := q.Normalize()
	if err != nil {
		return terminal.MerchantPage{}, err
	}
	var p terminal.MerchantPage
	err = s.scan(ctx, s.k.merchants(), q.After, limit, s.k.merchant, func(id string, h map[string]string) (bool, error) {
		m, err := decodeMerchant(h)
		if err != nil {
			return false, err
		}
		p.Merchants = append(p.Merchants, m)
		return true, nil
	}, &p.Next)
	return p, err
}

// maxScanFactor bounds the index entries one list call reads: a filtered page stops after
// maxScanFactor×limit entries and returns Next, so a rare filter cannot make one call read
// the whole fleet.
const maxScanFactor = 10

// scan walks index (a sorted set of identifiers, lexicographic) after after, reads each record
// with HGETALL (pipelined per chunk) and passes it to take, which reports whether it kept it.
// Entries whose record is missing are skipped. It stops when limit records were kept, the index
// ends, or the scan budget is spent, and sets *next accordingly.
func (s *Store) scan(ctx context.Context, index, after string, limit int, recordKey func(string) string,
	take func(id string, h map[string]string) (bool, error), next *string) error {
	budget := limit * maxScanFactor
	kept, scanned := 0, 0
	chunk := int64(limit)
	for {
		min := "-"
		if after != "" {
			min = "(" + after
		}
		ids, err := s.rdb.ZRangeByLex(ctx, index, &redis.ZRangeBy{Min: min, Max: "+", Count: chunk}).Result()
		if err != nil {
			return s.wrap("list", err)
		}
		if len(ids) == 0 {
			*next = ""
			return nil
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HGetAll(ctx, recordKey(id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return s.wrap("list", err)
		}
		for i, id := range ids {
			after = id
			scanned++
			h := cmds[i].Val()
			if len(h) > 0 {
				ok, err := take(id, h)
				if err != nil {
					return err
				}
				if ok {
					kept++
				}
			}
			if kept == limit || scanned >= budget {
				// More may follow unless this was the index's last entry.
				if i == len(ids)-1 && int64(len(ids)) < chunk {
					*next = ""
				} else {
					*next = id
				}
				return nil
			}
		}
		if int64(len(ids)) < chunk {
			*next = ""
			return nil
		}
	}
}
