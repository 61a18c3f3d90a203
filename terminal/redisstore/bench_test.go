package redisstore

import (
	"context"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
)

// BenchmarkGetTerminal reads an activated, signed-on terminal by TID: one HGETALL over loopback.
func BenchmarkGetTerminal(b *testing.B) {
	ctx := context.Background()
	srv := redistest.Start(b)
	s, err := New(Config{URL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.CreateMerchant(ctx, terminal.Merchant{MID: "898310048161234", Name: "Shop", MCC: "5411", SettlementAccount: "1"}); err != nil {
		b.Fatal(err)
	}
	tmk := hsm.WrappedKey{Type: hsm.KeyTMK, Cipher: make([]byte, 24)}
	if _, err := s.CreateTerminal(ctx, terminal.Terminal{TID: "10000001", MID: "898310048161234", SN: "000001024501ABC123", Keys: terminal.Keys{TMK: tmk}}); err != nil {
		b.Fatal(err)
	}
	keys := terminal.Keys{
		PIK: hsm.WrappedKey{Type: hsm.KeyPIK, Cipher: make([]byte, 24)},
		MAK: hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: make([]byte, 24)},
		TDK: hsm.WrappedKey{Type: hsm.KeyTDK, Cipher: make([]byte, 24)},
	}
	if _, err := s.RotateKeys(ctx, "10000001", 0, keys, terminal.SignOnSeq(1, 1)); err != nil {
		b.Fatal(err)
	}
	s.Seen(ctx, "10000001", "V1.0")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.GetTerminal(ctx, "10000001"); err != nil {
			b.Fatal(err)
		}
	}
}
