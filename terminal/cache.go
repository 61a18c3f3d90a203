package terminal

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posgate/posgate/hsm"
)

// Cache is a Store whose GetTerminal answers from this process's memory, so that a message
// costs no registry round trip to a remote store. Every change made through the Cache drops
// the terminal here and — through Peers — on every other node before the call returns; an
// entry lives at most TTL, which bounds how stale a node can be that missed an invalidation.
// Create it with NewCache; it is safe for concurrent use.
type Cache struct {
	Store
	cfg CacheConfig

	mu      sync.Mutex
	entries map[string]cacheEntry
	gen     uint64 // bumped by every Forget: a read that overlapped one is not kept
	off     atomic.Bool

	hits, misses atomic.Uint64
}

type cacheEntry struct {
	t       Terminal
	expires time.Time
}

// Invalidator tells the other nodes to drop a terminal from their caches ("" drops them all)
// and returns once each live node has, or ctx ends.
type Invalidator interface {
	Invalidate(ctx context.Context, tid string)
}

// CacheConfig configures a Cache.
type CacheConfig struct {
	// TTL is how long an entry is served without reading the store again. Required, > 0.
	TTL time.Duration
	// Peers reaches the other nodes; nil for a node alone.
	Peers Invalidator
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// NewCache returns a Cache over s.
func NewCache(s Store, cfg CacheConfig) (*Cache, error) {
	if cfg.TTL <= 0 {
		return nil, invalid("TTL", "must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{Store: s, cfg: cfg, entries: map[string]cacheEntry{}}, nil
}

// CacheStats are cumulative lookups answered from memory and from the store.
type CacheStats struct{ Hits, Misses uint64 }

// Stats returns the cumulative counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// GetTerminal implements Store from memory while the entry is fresh.
func (c *Cache) GetTerminal(ctx context.Context, tid string) (Terminal, error) {
	now := c.cfg.Now()
	c.mu.Lock()
	e, ok := c.entries[tid]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) && !c.off.Load() {
		c.hits.Add(1)
		return e.t.Clone(), nil
	}
	c.misses.Add(1)
	t, err := c.Store.GetTerminal(ctx, tid)
	if err != nil || c.off.Load() {
		return t, err
	}
	c.mu.Lock()
	if c.gen == gen { // no invalidation overlapped the read
		c.entries[tid] = cacheEntry{t: t.Clone(), expires: now.Add(c.cfg.TTL)}
	}
	c.mu.Unlock()
	return t, nil
}

// Forget drops tid ("" drops every terminal) from this node's cache: what an invalidation from
// another node does.
func (c *Cache) Forget(tid string) {
	c.mu.Lock()
	c.gen++
	if tid == "" {
		clear(c.entries)
	} else {
		delete(c.entries, tid)
	}
	c.mu.Unlock()
}

// Suspend empties the cache and reads the store for every lookup until Resume: for while the
// node cannot hear invalidations (its NATS connection is down).
func (c *Cache) Suspend() {
	c.off.Store(true)
	c.Forget("")
}

// Resume serves from memory again.
func (c *Cache) Resume() {
	c.Forget("") // what changed while suspended was not heard
	c.off.Store(false)
}

// changed drops tid here and on every other node.
func (c *Cache) changed(ctx context.Context, tid string) {
	c.Forget(tid)
	if c.cfg.Peers != nil {
		c.cfg.Peers.Invalidate(context.WithoutCancel(ctx), tid)
	}
}

// after returns what passes a write's results on once tid is dropped everywhere:
// c.after(ctx, tid)(c.Store.Block(…)) runs the write first.
func (c *Cache) after(ctx context.Context, tid string) func(Terminal, error) (Terminal, error) {
	return func(t Terminal, err error) (Terminal, error) {
		c.changed(ctx, tid)
		return t, err
	}
}

// The writes that change a terminal, each followed by its invalidation.

// UpdateTerminal implements Store.
func (c *Cache) UpdateTerminal(ctx context.Context, t Terminal) (Terminal, error) {
	return c.after(ctx, t.TID)(c.Store.UpdateTerminal(ctx, t))
}

// BindSN implements Store.
func (c *Cache) BindSN(ctx context.Context, tid, sn string) (Terminal, error) {
	return c.after(ctx, tid)(c.Store.BindSN(ctx, tid, sn))
}

// UnbindSN implements Store.
func (c *Cache) UnbindSN(ctx context.Context, tid string) (Terminal, error) {
	return c.after(ctx, tid)(c.Store.UnbindSN(ctx, tid))
}

// Block implements Store.
func (c *Cache) Block(ctx context.Context, tid string, reason BlockReason) (Terminal, error) {
	return c.after(ctx, tid)(c.Store.Block(ctx, tid, reason))
}

// Unblock implements Store.
func (c *Cache) Unblock(ctx context.Context, tid string) (Terminal, error) {
	return c.after(ctx, tid)(c.Store.Unblock(ctx, tid))
}

// Activate implements Store. A refused activation (wrong or spent code, blocked terminal)
// changes nothing and returns no terminal: it is not announced, so guessing codes costs the
// other nodes nothing.
func (c *Cache) Activate(ctx context.Context, sn string, verifier, tmk hsm.WrappedKey) (Terminal, error) {
	out, err := c.Store.Activate(ctx, sn, verifier, tmk)
	if out.TID != "" {
		c.changed(ctx, out.TID)
	}
	return out, err
}

// RotateKeys implements Store.
func (c *Cache) RotateKeys(ctx context.Context, tid string, generation uint64, keys Keys, seq uint64) (Terminal, error) {
	return c.after(ctx, tid)(c.Store.RotateKeys(ctx, tid, generation, keys, seq))
}

// AdvanceBatch implements Store.
func (c *Cache) AdvanceBatch(ctx context.Context, tid string, from Batch) (Batch, error) {
	out, err := c.Store.AdvanceBatch(ctx, tid, from)
	c.changed(ctx, tid)
	return out, err
}

// Seen implements Store. Telemetry only: the other nodes' entries may show an older version
// for up to TTL, which changes no decision but the software-update hint; this node's is
// dropped.
func (c *Cache) Seen(ctx context.Context, tid, softwareVersion string) error {
	err := c.Store.Seen(ctx, tid, softwareVersion)
	c.Forget(tid)
	return err
}
