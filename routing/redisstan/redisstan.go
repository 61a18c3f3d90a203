// Package redisstan is the routing.STANSource several gateway nodes share: one Redis counter
// per route and UTC day, so upstream STANs stay unique per route per day across nodes.
package redisstan

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/routing"
)

// DefaultPrefix is the key prefix: keys are PREFIX{stan}:ROUTE:YYYYMMDD.
const DefaultPrefix = "pg:"

// keep is how long a day's counter lives at least after its first draw: two days, so a request
// of that day that arrives late (a clock a little behind, a retry) still continues the day's
// sequence instead of starting it again at 1.
const keep = 48 * time.Hour

// ErrRedis wraps every Redis failure; its text holds no key or value.
var ErrRedis = errors.New("redisstan: redis failed")

// DefaultBlock is how many STANs a Source draws from Redis at once: one round trip per
// DefaultBlock requests instead of one per request. The numbers of a block stay unique across
// nodes; a restart leaves the rest of its block unused (a gap in the day's sequence).
const DefaultBlock = 64

// Source draws STANs from Redis in blocks. Safe for concurrent use.
type Source struct {
	rdb    redis.UniversalClient
	prefix string
	block  int64

	mu     sync.Mutex // held across a block's draw: the other callers wait for it, not draw more
	blocks map[string]*stanBlock
}

// stanBlock is what is left of the block drawn for a route and day.
type stanBlock struct {
	day       int64 // the day's start, Unix seconds
	next, end int64 // next ≤ end while numbers are left
}

var _ routing.STANSource = (*Source)(nil)

// New returns a Source on rdb (not owned: the caller closes it). prefix "" means DefaultPrefix.
func New(rdb redis.UniversalClient, prefix string) *Source {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Source{rdb: rdb, prefix: prefix, block: DefaultBlock, blocks: map[string]*stanBlock{}}
}

// WithBlock returns s drawing n STANs per round trip (n ≥ 1; 1 draws every one).
func (s *Source) WithBlock(n int) *Source {
	s.block = int64(max(n, 1))
	return s
}

// next increments the day's counter and, on its first draw, sets it to expire two days after
// the day began — or, for a day already that old, two days after Redis's own clock: the expiry
// is never in the past (an EXPIREAT in the past deletes the key at once, and every draw would
// return 1). ARGV[1] is the day's start + 48 h, ARGV[2] the minimum lifetime in seconds, ARGV[3] the block
// size; it returns the block's last number.
var next = redis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[3])
if n == tonumber(ARGV[3]) then
  local now = tonumber(redis.call('TIME')[1])
  local at = math.max(tonumber(ARGV[1]), now + tonumber(ARGV[2]))
  redis.call('EXPIREAT', KEYS[1], at)
end
return n`)

// NextSTAN implements routing.STANSource: the day's counter, reduced to 1–999999.
func (s *Source) NextSTAN(ctx context.Context, route string, at time.Time) (uint32, error) {
	day := at.UTC()
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.blocks[route]
	if b == nil || b.day != start.Unix() || b.next > b.end {
		key := s.prefix + "{stan}:" + route + ":" + start.Format("20060102")
		end, err := next.Run(ctx, s.rdb, []string{key},
			strconv.FormatInt(start.Add(keep).Unix(), 10), strconv.FormatInt(int64(keep/time.Second), 10),
			strconv.FormatInt(s.block, 10)).Int64()
		if err != nil {
			return 0, errors.Join(ErrRedis, err)
		}
		b = &stanBlock{day: start.Unix(), next: end - s.block + 1, end: end}
		s.blocks[route] = b
	}
	n := b.next
	b.next++
	return uint32((n-1)%999_999) + 1, nil
}
