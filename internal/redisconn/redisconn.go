// Package redisconn builds the go-redis client the Redis-backed stores share: one place that
// turns a URL or address and timeouts into client options.
package redisconn

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrURL is returned for a URL that is not redis:// or rediss://. Its text holds no part of
// the URL, which may carry a password.
var ErrURL = errors.New("must be a redis:// or rediss:// URL")

// Config locates a Redis server. URL wins over Addr.
type Config struct {
	URL, Addr                              string
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	PoolSize                               int // 0: go-redis's default
}

// New returns a client for cfg; it does no I/O. Every call is bounded by its context's
// deadline as well as by the socket timeouts.
func New(cfg Config) (*redis.Client, error) {
	opt := &redis.Options{Addr: cfg.Addr}
	if cfg.URL != "" {
		var err error
		if opt, err = redis.ParseURL(cfg.URL); err != nil {
			return nil, ErrURL
		}
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout
	opt.ContextTimeoutEnabled = true
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	return redis.NewClient(opt), nil
}

// Close closes rdb; closing an already closed client is not an error (stores' Close is
// idempotent).
func Close(rdb redis.UniversalClient) error {
	if err := rdb.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
