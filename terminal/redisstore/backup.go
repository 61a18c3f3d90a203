package redisstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The registry's epoch marker: a random id written once, when a node first finds the registry
// without one. A node remembers the epoch it serves under; a Redis that restarted without its
// data (or another Redis behind the same address) no longer holds it, and the node knows its
// registry is gone instead of answering every terminal 97.
func (k keys) epoch() string { return k.prefix + "epoch" }

// Epoch returns the registry's epoch marker, "" when there is none.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	v, err := s.rdb.Get(ctx, s.k.epoch()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, s.wrap("epoch", err)
}

// EnsureEpoch returns the registry's epoch marker, creating one when there is none (SET NX:
// of two nodes starting at once, both get the one that was written).
func (s *Store) EnsureEpoch(ctx context.Context) (string, error) {
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := s.now().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
	if err := s.rdb.SetNX(ctx, s.k.epoch(), id, 0).Err(); err != nil {
		return "", s.wrap("epoch", err)
	}
	return s.Epoch(ctx)
}

// backupHeader is the first line of an export.
type backupHeader struct {
	Format  string    `json:"format"` // backupFormat
	Prefix  string    `json:"prefix"`
	Epoch   string    `json:"epoch"`
	Created time.Time `json:"created"`
}

// backupKey is one further line: a key as Redis DUMP serialized it (values hold keys wrapped
// under the LMK, as stored — an export holds no clear key material), and its TTL.
type backupKey struct {
	Key   string `json:"key"`
	PTTL  int64  `json:"pttl_ms,omitempty"` // 0: no expiry
	Value string `json:"dump"`              // base64 of DUMP
}

const backupFormat = "posgate-registry-export/1"

// registryPatterns are the key patterns of the registry (docs/terminal.md), the epoch marker
// included; the gateway state's keys (rt:, tx:, tot:, day:) are not among them.
func (k keys) registryPatterns() []string {
	return []string{k.prefix + "t:*", k.prefix + "sn:*", k.prefix + "m:*", k.merchants(), k.terminals(), k.epoch()}
}

// Export writes every registry key to w, one JSON line each after a header line, and returns
// how many it wrote. Keys written while it runs may or may not be included: export from a
// quiet registry (operators are not changing it).
func (s *Store) Export(ctx context.Context, w io.Writer) (int, error) {
	epoch, err := s.Epoch(ctx)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(backupHeader{Format: backupFormat, Prefix: s.cfg.Prefix, Epoch: epoch, Created: s.now()}); err != nil {
		return 0, err
	}
	n := 0
	for _, pattern := range s.k.registryPatterns() {
		iter := s.rdb.Scan(ctx, 0, pattern, 512).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			dump, err := s.rdb.Dump(ctx, key).Result()
			if errors.Is(err, redis.Nil) {
				continue // deleted meanwhile
			}
			if err != nil {
				return n, s.wrap("export", err)
			}
			ttl, err := s.rdb.PTTL(ctx, key).Result()
			if err != nil {
				return n, s.wrap("export", err)
			}
			line := backupKey{Key: key, Value: base64.StdEncoding.EncodeToString([]byte(dump))}
			if ttl > 0 {
				line.PTTL = ttl.Milliseconds()
			}
			if err := enc.Encode(line); err != nil {
				return n, err
			}
			n++
		}
		if err := iter.Err(); err != nil {
			return n, s.wrap("export", err)
		}
	}
	return n, bw.Flush()
}

// ErrNotEmpty is returned by Import into a registry that already holds terminals or merchants
// (unless replace).
var ErrNotEmpty = errors.New("redisstore: the registry is not empty")

// Import restores an Export into this Redis (RESTORE, same or newer Redis version) and returns
// how many keys it restored. Into a registry that holds terminals or merchants it refuses with
// ErrNotEmpty unless replace, which overwrites the exported keys (others stay). Errors name the
// line, never a value.
func (s *Store) Import(ctx context.Context, r io.Reader, replace bool) (int, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var h backupHeader
	if err := dec.Decode(&h); err != nil {
		return 0, errors.New("redisstore: import: line 1: not an export header")
	}
	if h.Format != backupFormat {
		return 0, fmt.Errorf("redisstore: import: line 1: format %q, want %q", h.Format, backupFormat)
	}
	if h.Prefix != s.cfg.Prefix {
		return 0, fmt.Errorf("redisstore: import: exported with key prefix %q, this registry uses %q", h.Prefix, s.cfg.Prefix)
	}
	if !replace {
		n, err := s.rdb.Exists(ctx, s.k.terminals(), s.k.merchants()).Result()
		if err != nil {
			return 0, s.wrap("import", err)
		}
		if n > 0 {
			return 0, ErrNotEmpty
		}
	}
	restored := 0
	for line := 2; ; line++ {
		var k backupKey
		err := dec.Decode(&k)
		if errors.Is(err, io.EOF) {
			return restored, nil
		}
		if err != nil {
			return restored, fmt.Errorf("redisstore: import: line %d: not a key line", line)
		}
		if !strings.HasPrefix(k.Key, s.cfg.Prefix) {
			return restored, fmt.Errorf("redisstore: import: line %d: key outside the registry prefix", line)
		}
		dump, err := base64.StdEncoding.DecodeString(k.Value)
		if err != nil {
			return restored, fmt.Errorf("redisstore: import: line %d: dump is not base64", line)
		}
		ttl := time.Duration(k.PTTL) * time.Millisecond
		if err := s.rdb.RestoreReplace(ctx, k.Key, ttl, string(dump)).Err(); err != nil {
			return restored, fmt.Errorf("redisstore: import: line %d: %w", line, err)
		}
		restored++
	}
}
