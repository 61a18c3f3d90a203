// Package memstate is the in-memory gateway.State of the embedded, single-node posgate: the
// retransmission cache, transaction index, batch totals and daily risk counters in maps.
//
// The maps are split into shards by TID (the way the Redis backend gives every key of a terminal
// one hash tag), each under its own mutex, so terminals do not contend with each other and a
// sweep locks one shard at a time.
//
// # Expiry and growth
//
// Every entry has an expiry: retransmission entries the ttl their caller passes, transactions
// Config.TxnTTL after PutTxn, batch totals Config.TotalsTTL after their last AddTotals, daily
// counters at 00:00 UTC three days after their date. Expired entries are invisible at once (lazy
// expiry on access) and freed by a sweep every Config.SweepInterval, run by one goroutine that
// Close stops. Memory is therefore bounded by rate × lifetime: about (request rate × ttl) cache
// entries of ~150 bytes plus the response frame, and (transaction rate × TxnTTL) records of
// ~400 bytes. At 100 transactions a second and a one-day ttl that is ~8.6 million cache entries
// (~3 GB); lower the ttl, or use Redis, for a node that busy.
//
// # Restart
//
// Nothing is persisted by the State itself: the journal is the book of record and the write-ahead
// log. After a restart of the embedded node, gateway.Processor.Recover rebuilds the retransmission
// answers, the transaction index and the batch totals from the journal before the listener opens
// (docs/gateway.md, "Crash safety") — from a checkpoint (gateway/checkpoint) when there is one: a
// State replayed from the journal in the background and saved with WriteSnapshot, which a restart
// loads with ReadSnapshot before replaying the records that followed.
package memstate

import (
	"context"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/posgate/posgate/gateway"
)

// Defaults of Config.
const (
	DefaultTxnTTL        = 31 * 24 * time.Hour // refunds may name originals of the last month
	DefaultTotalsTTL     = 7 * 24 * time.Hour  // a batch left unsettled for a week starts over
	DefaultSweepInterval = time.Minute
	DefaultShards        = 64
	// DefaultMaxResponses and DefaultMaxTxns bound the entries kept in memory (a few hundred
	// bytes each): about 300 MB together at most, whatever the traffic. Production keeps them
	// in Redis with their full lifetimes instead.
	DefaultMaxResponses = 1 << 18
	DefaultMaxTxns      = 1 << 19
	// DefaultMinKeep is how young an entry may be and still never be evicted for room: twice a
	// terminal's usual 60 s timeout, so retransmissions and reversals still find their entry.
	DefaultMinKeep = 2 * time.Minute
)

// Config configures a State. The zero Config is valid and means the defaults.
type Config struct {
	// TxnTTL is how long a transaction stays in the index after PutTxn (updates do not extend
	// it). Default DefaultTxnTTL.
	TxnTTL time.Duration
	// TotalsTTL is how long a batch's totals and entry ids live after their last AddTotals.
	// Default DefaultTotalsTTL.
	TotalsTTL time.Duration
	// SweepInterval is how often expired entries are freed. Default DefaultSweepInterval;
	// negative disables the sweep goroutine (expired entries are then only dropped when their
	// key is touched again: tests only).
	SweepInterval time.Duration
	// Shards is the number of lock shards, rounded up to a power of two. Default DefaultShards.
	Shards int
	// MaxResponses and MaxTxns bound the retransmission cache and the transaction index: past
	// them, inserting evicts the oldest of a few sampled entries older than MinKeep (a soft
	// bound: entries younger than MinKeep are never evicted, so a burst may exceed it).
	// Defaults DefaultMaxResponses, DefaultMaxTxns.
	MaxResponses, MaxTxns int
	// MinKeep protects young entries from eviction. Default DefaultMinKeep.
	MinKeep time.Duration
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.TxnTTL < 0:
		return &gateway.ConfigError{Setting: "memstate.TxnTTL", Problem: "must not be negative"}
	case c.TotalsTTL < 0:
		return &gateway.ConfigError{Setting: "memstate.TotalsTTL", Problem: "must not be negative"}
	case c.MaxResponses < 0 || c.MaxTxns < 0 || c.MinKeep < 0:
		return &gateway.ConfigError{Setting: "memstate.MaxResponses/MaxTxns/MinKeep", Problem: "must not be negative"}
	case c.Shards < 0 || c.Shards > 1<<16:
		return &gateway.ConfigError{Setting: "memstate.Shards", Problem: "must be between 0 and 65536"}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.TxnTTL == 0 {
		c.TxnTTL = DefaultTxnTTL
	}
	if c.TotalsTTL == 0 {
		c.TotalsTTL = DefaultTotalsTTL
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.MaxResponses == 0 {
		c.MaxResponses = DefaultMaxResponses
	}
	if c.MaxTxns == 0 {
		c.MaxTxns = DefaultMaxTxns
	}
	if c.MinKeep == 0 {
		c.MinKeep = DefaultMinKeep
	}
	n := 1
	for n < c.Shards {
		n <<= 1
	}
	c.Shards = n
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Errors of the package besides the gateway.State sentinels.
var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("memstate: closed")
	// ErrInvalid is returned for an argument the State cannot honour (a ttl ≤ 0).
	ErrInvalid = errors.New("memstate: invalid argument")
)

// OpError names the operation that failed. Err is a gateway sentinel (ErrNotFound, ErrExists,
// ErrConflict), ErrClosed, ErrInvalid or the ctx's error; the text never holds record data.
type OpError struct {
	Op  string // "reserve", "put txn", …
	Err error
}

func (e *OpError) Error() string { return "memstate: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *OpError) Unwrap() error { return e.Err }

// State is the in-memory gateway.State. Create it with New and stop it with Close; it is safe
// for concurrent use.
type State struct {
	cfg    Config
	seed   maphash.Seed // picks a terminal's shard
	idKey  uint64       // keys the hashes of batch entry ids (entryHash); kept by snapshots
	shards []shard
	mask   uint64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ gateway.State = (*State)(nil)

// shard holds every entry of the terminals whose TID hashes to it.
type shard struct {
	mu     sync.Mutex
	closed bool // set by Close; the maps are then nil
	rt     map[gateway.RetransmitKey]*rtEntry
	txns   map[gateway.TxnKey]*txnEntry
	totals map[totalsKey]*totalsEntry
	daily  map[dailyKey]*dailyEntry
	_      [32]byte // keeps neighbouring shards' mutexes off one cache line
}

// New validates cfg and returns a running State whose sweep goroutine (unless disabled) runs
// until Close.
func New(cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &State{
		cfg:    cfg,
		seed:   maphash.MakeSeed(),
		idKey:  rand.Uint64(),
		shards: make([]shard, cfg.Shards),
		mask:   uint64(cfg.Shards - 1),
		stop:   make(chan struct{}),
	}
	for i := range s.shards {
		sh := &s.shards[i]
		// Sized for the bounds, so filling them (a busy day, or the replay after a restart)
		// never rehashes: ~30 MB for the default bounds.
		sh.rt = make(map[gateway.RetransmitKey]*rtEntry, s.perShard(cfg.MaxResponses))
		sh.txns = make(map[gateway.TxnKey]*txnEntry, s.perShard(cfg.MaxTxns))
		sh.totals = make(map[totalsKey]*totalsEntry)
		sh.daily = make(map[dailyKey]*dailyEntry)
	}
	if cfg.SweepInterval > 0 {
		s.wg.Add(1)
		go s.sweeper()
	}
	return s, nil
}

// Close stops the sweep goroutine and waits for it, and drops every entry. Operations after
// Close return ErrClosed. Calling Close again returns nil.
func (s *State) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			sh.closed = true
			sh.rt, sh.txns, sh.totals, sh.daily = nil, nil, nil, nil
			sh.mu.Unlock()
		}
	})
	return nil
}

// lock checks ctx and the closed flag and returns the shard of tid, locked. The caller must call
// sh.mu.Unlock().
func (s *State) lock(ctx context.Context, op, tid string) (*shard, error) {
	if err := ctx.Err(); err != nil {
		return nil, &OpError{Op: op, Err: err}
	}
	sh := s.shard(tid)
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return nil, &OpError{Op: op, Err: ErrClosed}
	}
	return sh, nil
}

// count returns the number of entries of each kind across the shards.
func (s *State) count() (rt, txns, totals, daily int) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		rt, txns, totals, daily = rt+len(sh.rt), txns+len(sh.txns), totals+len(sh.totals), daily+len(sh.daily)
		sh.mu.Unlock()
	}
	return
}

// shard returns the shard of tid, not locked.
func (s *State) shard(tid string) *shard { return &s.shards[maphash.String(s.seed, tid)&s.mask] }

// sweeper frees expired entries every SweepInterval until Close.
func (s *State) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep frees every expired entry, one shard at a time, and returns how many it freed.
func (s *State) sweep() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		now := s.cfg.Now()
		sh.mu.Lock()
		for k, e := range sh.rt {
			if !now.Before(e.expires) {
				delete(sh.rt, k)
				n++
			}
		}
		for k, e := range sh.txns {
			if !now.Before(e.expires) {
				delete(sh.txns, k)
				n++
			}
		}
		for k, e := range sh.totals {
			if !now.Before(e.expires) {
				delete(sh.totals, k)
				n++
			}
		}
		for k, e := range sh.daily {
			if !now.Before(e.expires) {
				delete(sh.daily, k)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}
