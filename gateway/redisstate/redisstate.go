// Package redisstate is the Redis gateway.State that production gateway nodes share: the
// retransmission cache, transaction index, batch totals and daily risk counters.
//
// Every key of one terminal carries the hash tag {TID} (the key schema is in docs/gateway.md),
// so every operation touches one Cluster slot and is one round trip: a Lua script (EVALSHA, with
// EVAL fallback) where it must read before it writes, a MULTI for the counters, a plain read
// otherwise. That is what makes each method atomic across nodes. Every key expires: nothing
// here is the book of record (the journal is).
package redisstate

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/internal/redisconn"

	"github.com/posgate/posgate/gateway"
)

// Defaults of Config.
const (
	DefaultAddr         = "127.0.0.1:6379"
	DefaultPrefix       = "pg:"
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	DefaultTxnTTL       = 31 * 24 * time.Hour // refunds may name originals of the last month
	DefaultTotalsTTL    = 7 * 24 * time.Hour  // a batch left unsettled for a week starts over
)

// Config configures a State.
type Config struct {
	// URL of the server, "redis://[user:password@]host:port/db" or "rediss://…" for TLS. Takes
	// precedence over Addr. cmd/ builds it from a file or the environment, never from argv,
	// when it holds a password.
	URL string
	// Addr is "host:port" when URL is empty. Default DefaultAddr.
	Addr string
	// Prefix of every key. Default DefaultPrefix. It must not contain '{' or '}'.
	Prefix string
	// Socket timeouts; defaults DefaultDialTimeout, DefaultReadTimeout, DefaultWriteTimeout. A
	// deadline on the ctx of a call applies as well (it is usually shorter: the terminal's
	// time budget).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the connection pool size; 0 is go-redis's default (10 per CPU).
	PoolSize int
	// TxnTTL is how long a transaction stays in the index after PutTxn (updates keep the
	// expiry). Default DefaultTxnTTL.
	TxnTTL time.Duration
	// TotalsTTL is how long a batch's totals and entry ids live after their last AddTotals that
	// added. Default DefaultTotalsTTL.
	TotalsTTL time.Duration
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.URL != "" {
		if _, err := redis.ParseURL(c.URL); err != nil {
			// go-redis's parse errors may quote the URL, which can hold a password.
			return &gateway.ConfigError{Setting: "redisstate.URL", Problem: "must be a redis:// or rediss:// URL"}
		}
	} else if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return &gateway.ConfigError{Setting: "redisstate.Addr", Problem: "must be host:port"}
		}
	}
	switch {
	case strings.ContainsAny(c.Prefix, "{}"):
		return &gateway.ConfigError{Setting: "redisstate.Prefix", Problem: "must not contain braces"}
	case c.DialTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0:
		return &gateway.ConfigError{Setting: "redisstate timeouts", Problem: "must not be negative"}
	case c.PoolSize < 0:
		return &gateway.ConfigError{Setting: "redisstate.PoolSize", Problem: "must not be negative"}
	case c.TxnTTL < 0 || c.TxnTTL > 0 && c.TxnTTL < time.Millisecond:
		return &gateway.ConfigError{Setting: "redisstate.TxnTTL", Problem: "must be 0 (default) or at least 1ms"}
	case c.TotalsTTL < 0 || c.TotalsTTL > 0 && c.TotalsTTL < time.Millisecond:
		return &gateway.ConfigError{Setting: "redisstate.TotalsTTL", Problem: "must be 0 (default) or at least 1ms"}
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
	if c.TxnTTL == 0 {
		c.TxnTTL = DefaultTxnTTL
	}
	if c.TotalsTTL == 0 {
		c.TotalsTTL = DefaultTotalsTTL
	}
	return c
}

// Errors of the package besides the gateway.State sentinels.
var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("redisstate: closed")
	// ErrInvalid is returned for an argument the State cannot honour: a ttl ≤ 0, or a TID that
	// is empty or holds '{' or '}' (they delimit the hash tag).
	ErrInvalid = errors.New("redisstate: invalid argument")
	// ErrCorrupt is returned when a stored value cannot be decoded.
	ErrCorrupt = errors.New("redisstate: corrupt stored value")
)

// OpError names the operation that failed. Err is a gateway sentinel (ErrNotFound, ErrExists,
// ErrConflict), one of the package's errors, the ctx's error or the client's error. The text
// never holds record data or key names: Redis error replies do not echo arguments.
type OpError struct {
	Op  string // "reserve", "put txn", …
	Err error
}

func (e *OpError) Error() string { return "redisstate: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *OpError) Unwrap() error { return e.Err }

// State is the Redis gateway.State. It is safe for concurrent use by any number of goroutines
// and nodes.
type State struct {
	cfg Config
	rdb redis.UniversalClient
	k   keys
}

var _ gateway.State = (*State)(nil)

// New validates cfg and creates a client; it does no I/O (see Ping).
func New(cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rdb, err := redisconn.New(redisconn.Config{URL: cfg.URL, Addr: cfg.Addr, DialTimeout: cfg.DialTimeout,
		ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, PoolSize: cfg.PoolSize})
	if err != nil {
		return nil, &gateway.ConfigError{Setting: "redisstate.URL", Problem: "must be a redis:// or rediss:// URL"}
	}
	return NewWithClient(rdb, cfg)
}

// NewWithClient uses a client the caller built (a Cluster or Sentinel client, for instance);
// cfg's address, timeouts and pool size are then ignored. The State owns rdb: Close closes it.
func NewWithClient(rdb redis.UniversalClient, cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &State{cfg: cfg, rdb: rdb, k: keys{prefix: cfg.Prefix}}, nil
}

// Ping checks that the server answers.
func (s *State) Ping(ctx context.Context) error {
	return s.wrap("ping", s.rdb.Ping(ctx).Err())
}

// Close closes the client. Calling it again returns nil; operations after Close return
// ErrClosed.
func (s *State) Close() error {
	return redisconn.Close(s.rdb)
}

// wrap turns a client error into an *OpError: ErrClosed for a closed client.
func (s *State) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.ErrClosed):
		err = ErrClosed
	}
	return &OpError{Op: op, Err: err}
}

// begin checks what every operation checks before any I/O: the ctx and the TID.
func begin(ctx context.Context, op, tid string) error {
	if err := ctx.Err(); err != nil {
		return &OpError{Op: op, Err: err}
	}
	if tid == "" || strings.ContainsAny(tid, "{}") {
		return &OpError{Op: op, Err: ErrInvalid}
	}
	return nil
}

// ms returns d in whole milliseconds, at least 1 (Redis refuses a zero expiry).
func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// keys builds key names; see docs/gateway.md for the schema. The TID is the hash tag; it holds
// no '}' (begin checks), so the tag ends where the TID does and the numbers after it cannot run
// into it.
type keys struct{ prefix string }

func (k keys) base(dst []byte, kind, tid string, batch uint32) []byte {
	dst = append(dst, k.prefix...)
	dst = append(dst, kind...)
	dst = append(dst, ":{"...)
	dst = append(dst, tid...)
	dst = append(dst, "}:"...)
	return strconv.AppendUint(dst, uint64(batch), 10)
}

// retransmit: pg:rt:{TID}:<batch>:<stan>:<mti>.
func (k keys) retransmit(key gateway.RetransmitKey) string {
	b := k.base(make([]byte, 0, 48), "rt", key.TID, key.Batch)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(key.STAN), 10)
	b = append(b, ':')
	return string(append(b, key.MTI...))
}

// txn: pg:tx:{TID}:<batch>:<stan>.
func (k keys) txn(key gateway.TxnKey) string {
	b := k.base(make([]byte, 0, 40), "tx", key.TID, key.Batch)
	b = append(b, ':')
	return string(strconv.AppendUint(b, uint64(key.STAN), 10))
}

// totals: pg:tot:{TID}:<batch>; ids: pg:tot:{TID}:<batch>:ids.
func (k keys) totals(tid string, batch uint32) (totals, ids string) {
	b := k.base(make([]byte, 0, 40), "tot", tid, batch)
	return string(b), string(append(b, ":ids"...))
}

// daily: pg:day:{TID}:<YYYYMMDD>.
func (k keys) daily(tid string, date uint32) string {
	b := k.base(make([]byte, 0, 40), "day", tid, date)
	return string(b)
}
