// Package redisstore is the Redis terminal.Store, the registry production gateway nodes share.
//
// Every record is a Redis hash; the key schema is documented in docs/terminal.md. All keys of
// one terminal share the hash tag {TID}, so each terminal-level operation (activation-code
// spend, wrong-proof count, batch advance, key rotation, status and SN changes) is one Lua
// script on one slot: atomic, and valid on Redis Cluster. The SN index and the merchant and
// list indexes live in other slots; they are written before the terminal (SN: set-if-absent
// first, released again if the terminal write fails) and every read through an index checks
// the terminal, so an index entry left by a crash is never believed. GetTerminal is one HGETALL.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/internal/redisconn"

	"github.com/posgate/posgate/terminal"
)

// Defaults of Config.
const (
	DefaultAddr           = "127.0.0.1:6379"
	DefaultPrefix         = "pg:"
	DefaultDialTimeout    = 2 * time.Second
	DefaultReadTimeout    = time.Second
	DefaultWriteTimeout   = time.Second
	DefaultStaleBindAfter = time.Minute
)

// Config configures a Store.
type Config struct {
	// URL of the server, "redis://[user:password@]host:port/db" or "rediss://…" for TLS. Takes
	// precedence over Addr. cmd/ builds it from a file or the environment, never from argv,
	// when it holds a password.
	URL string
	// Addr is "host:port" when URL is empty. Default DefaultAddr.
	Addr string
	// Prefix of every key. Default "pg:". It must not contain '{' or '}'.
	Prefix string
	// Socket timeouts; defaults DefaultDialTimeout, DefaultReadTimeout, DefaultWriteTimeout.
	// Per-call deadlines come from the ctx the caller passes.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the connection pool size; 0 is go-redis's default (10 per CPU).
	PoolSize int
	// StaleBindAfter is how old an SN index entry whose terminal does not hold the SN must be
	// before another terminal may take the SN over (such an entry is left by a bind that
	// crashed half-way). Default DefaultStaleBindAfter; it must exceed the longest bind.
	StaleBindAfter time.Duration
	// Now returns the current time; nil means time.Now. All nodes' clocks should agree (NTP):
	// activation code expiry compares against the calling node's clock.
	Now func() time.Time
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.URL != "" {
		if _, err := redis.ParseURL(c.URL); err != nil {
			// go-redis's parse errors may quote the URL, which can hold a password.
			return &terminal.FieldError{Field: "URL", Reason: "must be a redis:// or rediss:// URL"}
		}
	} else if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return &terminal.FieldError{Field: "Addr", Reason: "must be host:port"}
		}
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return &terminal.FieldError{Field: "Prefix", Reason: "must not contain braces"}
	}
	if c.DialTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.StaleBindAfter < 0 || c.PoolSize < 0 {
		return &terminal.FieldError{Field: "Timeouts", Reason: "must not be negative"}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.URL == "" && c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.StaleBindAfter == 0 {
		c.StaleBindAfter = DefaultStaleBindAfter
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Store is the Redis registry. It is safe for concurrent use.
type Store struct {
	cfg Config
	rdb redis.UniversalClient
	k   keys
}

var _ terminal.Store = (*Store)(nil)

// New validates cfg and creates a client; it does no I/O (see Ping).
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rdb, err := redisconn.New(redisconn.Config{URL: cfg.URL, Addr: cfg.Addr, DialTimeout: cfg.DialTimeout,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, PoolSize: cfg.PoolSize})
	if err != nil {
		return nil, &terminal.FieldError{Field: "URL", Reason: "must be a redis:// or rediss:// URL"}
	}
	return NewWithClient(rdb, cfg)
}

// NewWithClient uses a client the caller built (a cluster or sentinel client, for instance);
// cfg's address and timeouts are then ignored. The Store owns rdb: Close closes it.
func NewWithClient(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Store{cfg: cfg, rdb: rdb, k: keys{prefix: cfg.Prefix}}, nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.wrap("ping", s.rdb.Ping(ctx).Err())
}

// Close closes the client. Calling it again returns nil; operations after Close return
// terminal.ErrClosed.
func (s *Store) Close() error {
	return redisconn.Close(s.rdb)
}

// now returns the store's time with microsecond precision, the precision stored.
func (s *Store) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// keys builds key names. See docs/terminal.md for the schema.
type keys struct{ prefix string }

func (k keys) terminal(tid string) string { return k.prefix + "t:{" + tid + "}" }
func (k keys) code(tid string) string     { return k.prefix + "t:{" + tid + "}:code" }
func (k keys) sn(sn string) string        { return k.prefix + "sn:{" + sn + "}" }
func (k keys) merchant(mid string) string { return k.prefix + "m:{" + mid + "}" }
func (k keys) byMID(mid string) string    { return k.prefix + "m:{" + mid + "}:tids" }
func (k keys) merchants() string          { return k.prefix + "merchants" }
func (k keys) terminals() string          { return k.prefix + "terminals" }

// wrap turns a client error into the store's errors: ErrClosed for a closed client, the
// operation named otherwise. Redis errors never echo command arguments, so no value leaks.
func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		return terminal.ErrClosed
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// scriptErr maps the "PG_…" error replies of the Lua scripts to the package's errors: kind and
// id name the record for RecordError, tid the terminal for StatusError.
func (s *Store) scriptErr(op string, err error, kind terminal.Kind, id, tid string) error {
	f, ok := scriptReply(err)
	if !ok {
		return s.wrap(op, err)
	}
	switch f[0] {
	case "PG_NOTFOUND":
		return terminal.NewRecordError(kind, id, terminal.ErrNotFound)
	case "PG_EXISTS":
		return terminal.NewRecordError(kind, id, terminal.ErrExists)
	case "PG_CONFLICT":
		return terminal.NewRecordError(kind, id, terminal.ErrConflict)
	case "PG_STALE":
		return terminal.NewRecordError(kind, id, terminal.ErrStale)
	case "PG_NOSN":
		return terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrNoSN)
	case "PG_LOCKED":
		return terminal.NewRecordError(terminal.KindSN, id, terminal.ErrLocked)
	case "PG_SPENT":
		return terminal.NewRecordError(terminal.KindActivationCode, id, terminal.ErrCodeSpent)
	case "PG_EXPIRED":
		return terminal.NewRecordError(terminal.KindActivationCode, id, terminal.ErrCodeExpired)
	case "PG_STATUS":
		// PG_STATUS <status> [reason]
		se := &terminal.StatusError{TID: tid}
		if len(f) > 1 {
			se.Status, _ = terminal.ParseStatus(f[1])
		}
		if len(f) > 2 {
			se.Reason, _ = terminal.ParseBlockReason(f[2])
		}
		return se
	}
	return fmt.Errorf("redisstore: %s: unexpected script reply %q", op, f[0])
}

// scriptReply splits a "PG_…" error reply into words. Some Redis versions prefix script errors
// with "ERR ".
func scriptReply(err error) ([]string, bool) {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return nil, false
	}
	msg := strings.TrimPrefix(err.Error(), "ERR ")
	if !strings.HasPrefix(msg, "PG_") {
		return nil, false
	}
	return strings.Fields(msg), true
}
