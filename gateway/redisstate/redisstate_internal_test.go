package redisstate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
)

// hashTag returns what Redis Cluster hashes of key: the text between the first '{' and the
// first '}' after it, when not empty; else the whole key.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// allKeys returns every key the State writes for tid.
func allKeys(k keys, tid string) []string {
	tot, ids := k.totals(tid, 42)
	return []string{
		k.retransmit(gateway.RetransmitKey{TID: tid, Batch: 42, STAN: 7, MTI: "0200"}),
		k.txn(gateway.TxnKey{TID: tid, Batch: 42, STAN: 7}),
		tot, ids,
		k.daily(tid, 20250301),
	}
}

// TestKeysShareHashTag: every key of a terminal hashes to the terminal's slot (the {TID} tag),
// whatever the TID and prefix, so each script's keys are on one Cluster slot.
func TestKeysShareHashTag(t *testing.T) {
	for _, prefix := range []string{"pg:", "", "a:b:"} {
		for _, tid := range []string{"10000001", "A:1", "x"} {
			for _, key := range allKeys(keys{prefix: prefix}, tid) {
				if got := hashTag(key); got != tid {
					t.Errorf("key %q hashes %q, want the TID %q", key, got, tid)
				}
			}
		}
	}
	want := []string{"pg:rt:{10000001}:42:7:0200", "pg:tx:{10000001}:42:7", "pg:tot:{10000001}:42",
		"pg:tot:{10000001}:42:ids", "pg:day:{10000001}:20250301"}
	for i, key := range allKeys(keys{prefix: "pg:"}, "10000001") {
		if key != want[i] {
			t.Errorf("key %d = %q, want %q (docs/gateway.md)", i, key, want[i])
		}
	}
}

func newTestState(t *testing.T, cfg Config) *State {
	t.Helper()
	srv := redistest.Start(t)
	cfg.URL = srv.URL()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEveryKeyExpires: no key the State writes lives for ever (growth is bounded by the TTLs).
func TestEveryKeyExpires(t *testing.T) {
	ctx := context.Background()
	s := newTestState(t, Config{TxnTTL: 48 * time.Hour, TotalsTTL: 24 * time.Hour})
	const tid = "10000001"
	rk := gateway.RetransmitKey{TID: tid, Batch: 42, STAN: 7, MTI: "0200"}
	if _, _, err := s.Reserve(ctx, rk, gateway.ContentHash{1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTxn(ctx, gateway.TxnRecord{TID: tid, Batch: 42, STAN: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddTotals(ctx, tid, 42, "e", gateway.Totals{DebitCount: 1}); err != nil {
		t.Fatal(err)
	}
	date := journal.DateOf(time.Now().UTC())
	if _, err := s.CountDaily(ctx, tid, date); err != nil {
		t.Fatal(err)
	}
	tot, ids := s.k.totals(tid, 42)
	tests := []struct {
		key      string
		min, max time.Duration
	}{
		{s.k.retransmit(rk), 50 * time.Minute, time.Hour},
		{s.k.txn(gateway.TxnKey{TID: tid, Batch: 42, STAN: 7}), 47 * time.Hour, 48 * time.Hour},
		{tot, 23 * time.Hour, 24 * time.Hour},
		{ids, 23 * time.Hour, 24 * time.Hour},
		{s.k.daily(tid, date.Compact()), 47 * time.Hour, 72 * time.Hour},
	}
	for _, tt := range tests {
		got, err := s.rdb.PTTL(ctx, tt.key).Result()
		if err != nil || got < tt.min || got > tt.max {
			t.Errorf("PTTL %s = %v, %v; want between %v and %v", tt.key, got, err, tt.min, tt.max)
		}
	}
	// An update keeps the record's expiry; Complete sets the response's.
	if _, err := s.UpdateTxn(ctx, gateway.TxnRecord{TID: tid, Batch: 42, STAN: 7}); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, rk, []byte{0}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	for key, min := range map[string]time.Duration{tests[0].key: 110 * time.Minute, tests[1].key: 47 * time.Hour} {
		if got, err := s.rdb.PTTL(ctx, key).Result(); err != nil || got < min {
			t.Errorf("PTTL %s after update = %v, %v; want at least %v", key, got, err, min)
		}
	}
}

// TestCorrupt: a stored value that cannot be decoded is ErrCorrupt, and the error does not
// quote it.
func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	s := newTestState(t, Config{})
	key := gateway.TxnKey{TID: "10000001", Batch: 1, STAN: 1}
	const secret = "6222020200112233445"
	tests := []struct {
		name   string
		fields []any
	}{
		{"NotJSON", []any{"v", "0", "d", secret}},
		{"BadVersion", []any{"v", "x" + secret, "d", "{}"}},
		{"BadDate", []any{"v", "0", "d", `{"bd":20251399}`}},
		{"NoData", []any{"v", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.rdb.Del(ctx, s.k.txn(key))
			if err := s.rdb.HSet(ctx, s.k.txn(key), tt.fields...).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := s.GetTxn(ctx, key)
			if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), secret) {
				t.Errorf("GetTxn: %v, want ErrCorrupt without the stored value", err)
			}
		})
	}
	tk, _ := s.k.totals("10000001", 1)
	s.rdb.HSet(ctx, tk, "da", "not a number")
	if _, err := s.GetTotals(ctx, "10000001", 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GetTotals: %v, want ErrCorrupt", err)
	}
}

// TestInvalidTID: a TID that would break the hash tag is refused before any I/O.
func TestInvalidTID(t *testing.T) {
	ctx := context.Background()
	s := newTestState(t, Config{})
	for _, tid := range []string{"", "1{2", "1}2", "{x}"} {
		_, _, err := s.Reserve(ctx, gateway.RetransmitKey{TID: tid, MTI: "0200"}, gateway.ContentHash{}, time.Hour)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Reserve with TID %q: %v, want ErrInvalid", tid, err)
		}
		if err := s.PutTxn(ctx, gateway.TxnRecord{TID: tid}); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutTxn with TID %q: %v, want ErrInvalid", tid, err)
		}
		if _, err := s.AddTotals(ctx, tid, 1, "e", gateway.Totals{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddTotals with TID %q: %v, want ErrInvalid", tid, err)
		}
	}
}

// TestClose: Close is idempotent and later operations are ErrClosed.
func TestClose(t *testing.T) {
	ctx := context.Background()
	s := newTestState(t, Config{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := s.Reserve(ctx, gateway.RetransmitKey{TID: "1", MTI: "0200"}, gateway.ContentHash{}, time.Hour)
	var oe *OpError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &oe) || oe.Op != "reserve" {
		t.Errorf("Reserve after Close: %v, want an *OpError wrapping ErrClosed", err)
	}
	if _, err := s.GetTotals(ctx, "1", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("GetTotals after Close: %v, want ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		setting string // "" = valid
	}{
		{"Zero", Config{}, ""},
		{"URL", Config{URL: "redis://user:pw@127.0.0.1:6379/2"}, ""},
		{"Addr", Config{Addr: "redis:6379"}, ""},
		{"BadURL", Config{URL: "http://user:s3cret@x"}, "redisstate.URL"},
		{"BadAddr", Config{Addr: "nohost"}, "redisstate.Addr"},
		{"Braces", Config{Prefix: "pg{"}, "redisstate.Prefix"},
		{"NegativeTimeout", Config{ReadTimeout: -1}, "redisstate timeouts"},
		{"NegativePool", Config{PoolSize: -1}, "redisstate.PoolSize"},
		{"TinyTxnTTL", Config{TxnTTL: time.Microsecond}, "redisstate.TxnTTL"},
		{"NegativeTotalsTTL", Config{TotalsTTL: -time.Hour}, "redisstate.TotalsTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var ce *gateway.ConfigError
			switch {
			case tt.setting == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tt.setting != "" && (!errors.As(err, &ce) || ce.Setting != tt.setting || !errors.Is(err, gateway.ErrConfig)):
				t.Errorf("Validate: %v, want a ConfigError for %s", err, tt.setting)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("Validate error quotes the password: %v", err)
			}
		})
	}
}
