package loadtest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/loadtest/termsim"
)

func TestFleetIdentities(t *testing.T) {
	ids := fleetIdentities("AB12", 2000, 20)
	tids, sns := map[string]bool{}, map[string]bool{}
	mids := map[string]int{}
	for i, id := range ids {
		if len(id.TID) != 8 || len(id.MID) != 15 || len(id.SN) > 50 {
			t.Fatalf("identity %d: %+v has wrong lengths", i, id)
		}
		if !strings.HasPrefix(id.TID, "AB12") || !strings.Contains(id.MID, "AB12") || !strings.Contains(id.SN, "AB12") {
			t.Fatalf("identity %d: %+v does not carry the run id", i, id)
		}
		if tids[id.TID] || sns[id.SN] {
			t.Fatalf("identity %d: %+v repeats a TID or SN", i, id)
		}
		tids[id.TID], sns[id.SN] = true, true
		mids[id.MID]++
	}
	if len(mids) != 100 {
		t.Errorf("%d merchants for 2000 terminals at 20 each, want 100", len(mids))
	}
	if ids[0].TID != "AB120000" || ids[36].TID != "AB120010" || ids[1999].TID != "AB1201JJ" {
		t.Errorf("TIDs %s %s %s", ids[0].TID, ids[36].TID, ids[1999].TID)
	}
	if b36(MaxTerminals-1, 4) == b36(0, 4) {
		t.Errorf("MaxTerminals does not fit four base-36 digits")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		if id := newRunID(rng); !validRunID(id) {
			t.Fatalf("newRunID drew %q", id)
		}
	}
	for _, bad := range []string{"", "ABC", "ABCDE", "ab12", "AB-2"} {
		if validRunID(bad) {
			t.Errorf("validRunID(%q) = true", bad)
		}
	}
}

func TestTestCards(t *testing.T) {
	if c := luhn([]byte("7992739871")); c != '3' {
		t.Errorf("luhn(7992739871) = %c, want 3", c)
	}
	cards := testCards(rand.New(rand.NewPCG(3, 4)), 50, DefaultPIN)
	for _, c := range cards {
		if len(c.PAN) != 19 || !strings.HasPrefix(c.PAN, cardBIN) || luhn([]byte(c.PAN[:18])) != c.PAN[18] {
			t.Fatalf("bad test PAN (masked) %v", c)
		}
		if len(c.Track2) > 37 || !strings.HasPrefix(c.Track2, c.PAN+"D"+cardExpiry) {
			t.Fatalf("bad track for %v", c)
		}
	}
}

func TestDialerSource(t *testing.T) {
	d := newDialer("127.0.0.1:8583")
	if !d.spread {
		t.Fatal("IPv4 loopback target does not spread")
	}
	for _, tc := range []struct {
		slot int
		want string
	}{
		{0, "127.0.0.1"}, {ConnsPerSourceAddr - 1, "127.0.0.1"}, {ConnsPerSourceAddr, "127.0.0.2"},
		{254 * ConnsPerSourceAddr, "127.0.0.255"}, {255 * ConnsPerSourceAddr, "127.0.1.0"},
	} {
		if got := d.source(tc.slot); got != netip.MustParseAddr(tc.want) {
			t.Errorf("source(%d) = %s, want %s", tc.slot, got, tc.want)
		}
	}
	for _, target := range []string{"[::1]:8583", "localhost:8583", "10.1.1.1:8583", "nonsense"} {
		if newDialer(target).spread {
			t.Errorf("%s spreads over 127/8 source addresses", target)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	ctx := context.Background()
	for _, h := range []string{"", "127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1", "localhost"} {
		if err := CheckLoopback(ctx, h); err != nil {
			t.Errorf("CheckLoopback(%q) = %v", h, err)
		}
	}
	for _, h := range []string{"10.0.0.1", "192.168.1.1", "::2", "8.8.8.8", "fe80::1", "0.0.0.0"} {
		if err := CheckLoopback(ctx, h); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("CheckLoopback(%q) = %v, want ErrNotLoopback", h, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{Target: "127.0.0.1:8583", Admin: &adminapi.Client{BaseURL: "http://127.0.0.1:8080", Token: "x"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	tests := []struct {
		field string
		tweak func(*Config)
	}{
		{"Target", func(c *Config) { c.Target = "127.0.0.1" }},
		{"Admin", func(c *Config) { c.Admin = nil }},
		{"Admin", func(c *Config) { c.Admin = &adminapi.Client{BaseURL: "ftp://x"} }},
		{"Terminals", func(c *Config) { c.Terminals = -1 }},
		{"Terminals", func(c *Config) { c.Terminals = MaxTerminals + 1 }},
		{"Rate", func(c *Config) { c.Rate = -5 }},
		{"Duration", func(c *Config) { c.Duration = -time.Second }},
		{"Timeout", func(c *Config) { c.Timeout = -time.Second }},
		{"IdleConnections", func(c *Config) { c.IdleConnections = -1 }},
		{"RunID", func(c *Config) { c.RunID = "toolong" }},
		{"PIN", func(c *Config) { c.PIN = "12" }},
		{"Mix", func(c *Config) { c.Mix = Mix{Purchase: -1, Void: 2} }},
	}
	for _, tc := range tests {
		c := good
		tc.tweak(&c)
		var ce *ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want a ConfigError for %s", tc.field, err, tc.field)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted the config", tc.field)
		}
	}
}

func TestErrorKind(t *testing.T) {
	declined := &termsim.DeclinedError{Op: termsim.OpPurchase, Code: "51"}
	tests := []struct {
		res  termsim.Result
		err  error
		want string
	}{
		{termsim.Result{Code: "00"}, nil, ""},
		{termsim.Result{Code: "51"}, declined, ""},
		{termsim.Result{}, declined, "sign_on"},
		{termsim.Result{}, &termsim.ExchangeError{Op: termsim.OpPurchase, Err: termsim.ErrTimeout}, "timeout"},
		{termsim.Result{}, &termsim.ExchangeError{Op: termsim.OpPurchase, Err: termsim.ErrNoResponse}, "connection_lost"},
		{termsim.Result{Code: "00"}, &termsim.ExchangeError{Op: termsim.OpPurchase, Err: termsim.ErrResponseMAC}, "response_mac"},
		{termsim.Result{}, termsim.ErrReversalPending, "reversal_pending"},
		{termsim.Result{}, context.Canceled, "canceled"},
		{termsim.Result{}, errors.New("something"), "other"},
	}
	for _, tc := range tests {
		if got := errorKind(tc.res, tc.err); got != tc.want {
			t.Errorf("errorKind(%q, %v) = %q, want %q", tc.res.Code, tc.err, got, tc.want)
		}
	}
}
