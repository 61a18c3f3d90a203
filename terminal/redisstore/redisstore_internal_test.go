package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string // "" means valid
	}{
		{"zero uses defaults", Config{}, ""},
		{"url", Config{URL: "redis://127.0.0.1:6379/2"}, ""},
		{"addr", Config{Addr: "redis.internal:6379", Prefix: "posgate:"}, ""},
		{"bad url with password", Config{URL: "http://user:hunter2@host"}, "URL"},
		{"bad addr", Config{Addr: "no-port"}, "Addr"},
		{"brace prefix", Config{Prefix: "pg{x}:"}, "Prefix"},
		{"negative timeout", Config{ReadTimeout: -time.Second}, "Timeouts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *terminal.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate: got %v, want FieldError for %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
	if _, err := New(Config{URL: "http://x"}); !errors.Is(err, terminal.ErrInvalid) {
		t.Errorf("New with bad config: %v, want ErrInvalid", err)
	}
}

func testStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	srv := redistest.Start(t)
	s, err := New(Config{URL: srv.URL(), Prefix: "pg:", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func seed(t *testing.T, s *Store, ctx context.Context, tids ...string) {
	t.Helper()
	_, err := s.CreateMerchant(ctx, terminal.Merchant{MID: "898310048161234", Name: "Shop", MCC: "5411", SettlementAccount: "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		if _, err := s.CreateTerminal(ctx, terminal.Terminal{TID: tid, MID: "898310048161234"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKeySchema checks the keys a terminal's life creates against docs/terminal.md.
func TestKeySchema(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, time.Now)
	seed(t, s, ctx, "10000001")
	if _, err := s.BindSN(ctx, "10000001", "SN-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueActivationCode(ctx, "10000001", hsm.WrappedKey{Type: hsm.KeyACV, Cipher: []byte{1, 2}}, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{
		"pg:m:{898310048161234}", "pg:m:{898310048161234}:tids", "pg:merchants",
		"pg:sn:{SN-1}", "pg:t:{10000001}", "pg:t:{10000001}:code", "pg:terminals",
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys:\n got %q\nwant %q", got, want)
	}
}

// TestStaleSNIndex covers index entries left by a bind that crashed half-way.
func TestStaleSNIndex(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	s := testStore(t, func() time.Time { return now })
	seed(t, s, ctx, "10000001", "10000002")
	sn := "000001024501ABC123"
	key := s.k.sn(sn)

	// A fresh entry for a terminal that does not (yet) hold the SN: a bind in progress.
	fresh := "10000002:" + strconv.FormatInt(now.Add(-time.Second).UnixMilli(), 10)
	if err := s.rdb.Set(ctx, key, fresh, 0).Err(); err != nil {
		t.Fatal(err)
	}
	var sb *terminal.SNBoundError
	if _, err := s.BindSN(ctx, "10000001", sn); !errors.As(err, &sb) || sb.TID != "10000002" {
		t.Fatalf("BindSN over a bind in progress: got %v, want SNBoundError held by 10000002", err)
	}
	if _, err := s.GetTerminalBySN(ctx, sn); !errors.Is(err, terminal.ErrNotFound) {
		t.Errorf("GetTerminalBySN through an entry the terminal does not confirm: %v, want ErrNotFound", err)
	}
	// The same entry once older than StaleBindAfter is taken over.
	stale := "10000002:" + strconv.FormatInt(now.Add(-2*DefaultStaleBindAfter).UnixMilli(), 10)
	if err := s.rdb.Set(ctx, key, stale, 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.BindSN(ctx, "10000001", sn)
	if err != nil || got.SN != sn {
		t.Fatalf("BindSN over a stale entry: %+v, %v", got, err)
	}
	if x, err := s.GetTerminalBySN(ctx, sn); err != nil || x.TID != "10000001" {
		t.Errorf("GetTerminalBySN after take-over: %s, %v", x.TID, err)
	}
	// An old entry whose terminal does hold the SN is never taken over.
	if err := s.rdb.Set(ctx, key, "10000001:1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BindSN(ctx, "10000002", sn); !errors.Is(err, terminal.ErrSNBound) {
		t.Errorf("BindSN of a held SN with an old entry: %v, want ErrSNBound", err)
	}
}

// TestStaleListEntries: index entries without records are skipped by lists.
func TestStaleListEntries(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, time.Now)
	seed(t, s, ctx, "10000001", "10000003")
	for _, k := range []string{s.k.terminals(), s.k.byMID("898310048161234")} {
		s.rdb.ZAdd(ctx, k, redisZ("10000002"))
	}
	s.rdb.ZAdd(ctx, s.k.merchants(), redisZ("000000000000000"))
	for _, q := range []terminal.TerminalQuery{{}, {MID: "898310048161234"}} {
		p, err := s.ListTerminals(ctx, q)
		if err != nil || len(p.Terminals) != 2 || p.Terminals[0].TID != "10000001" || p.Terminals[1].TID != "10000003" {
			t.Errorf("ListTerminals(%+v): %+v, %v", q, p, err)
		}
	}
	mp, err := s.ListMerchants(ctx, terminal.Page{})
	if err != nil || len(mp.Merchants) != 1 {
		t.Errorf("ListMerchants: %+v, %v", mp, err)
	}
}

func TestClosed(t *testing.T) {
	s := testStore(t, time.Now)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.GetTerminal(context.Background(), "10000001"); !errors.Is(err, terminal.ErrClosed) {
		t.Errorf("GetTerminal after Close: %v, want ErrClosed", err)
	}
}

func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	s := testStore(t, time.Now)
	seed(t, s, ctx, "10000001")
	s.rdb.HSet(ctx, s.k.terminal("10000001"), fPIK, "PIK:zz:secretcipher")
	_, err := s.GetTerminal(ctx, "10000001")
	if !errors.Is(err, errCorrupt) || strings.Contains(err.Error(), "secretcipher") {
		t.Errorf("GetTerminal of a corrupt record: %v, want errCorrupt without the value", err)
	}
}

func redisZ(member string) redis.Z { return redis.Z{Member: member} }
