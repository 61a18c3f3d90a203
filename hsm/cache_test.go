package hsm

import (
	"context"
	"testing"
)

func TestKeyCacheBounded(t *testing.T) {
	m, err := NewSoftware(Config{LMK: GenerateLMK(), KeyCacheSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := make([]WrappedKey, 10)
	for i := range keys {
		keys[i], _ = m.GenerateKey(ctx, KeyMAK)
	}
	for round := 0; round < 3; round++ {
		for _, k := range keys {
			mac, err := m.GenerateMAC(ctx, k, MACPOSECB, []byte("message"))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.VerifyMAC(ctx, k, MACPOSECB, []byte("message"), mac[:]); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if n := m.cache.len(); n > 4 {
				t.Fatalf("cache holds %d entries, bound 4", n)
			}
		}
	}
	if m.cache.len() != 4 {
		t.Errorf("cache holds %d entries after use, want 4", m.cache.len())
	}
}

func TestDefaultCacheSize(t *testing.T) {
	m, _ := NewSoftware(Config{LMK: GenerateLMK()})
	if m.cache == nil || m.cache.max != DefaultKeyCacheSize {
		t.Fatalf("default cache not set up")
	}
	m, _ = NewSoftware(Config{LMK: GenerateLMK(), KeyCacheSize: -1})
	if m.cache != nil {
		t.Fatal("negative KeyCacheSize did not disable the cache")
	}
}

func TestGeneratedKeysHaveOddParity(t *testing.T) {
	m, _ := NewSoftware(Config{LMK: GenerateLMK()})
	ctx := context.Background()
	tmk, _ := m.GenerateKey(ctx, KeyTMK)
	keys, err := m.SignOn(ctx, tmk, SignOn004)
	if err != nil {
		t.Fatal(err)
	}
	for _, wk := range []WrappedKey{tmk, keys.PIK, keys.MAK, keys.TDK} {
		var buf [32]byte
		k, err := m.unwrap(wk, wk.Type, buf[:])
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range k {
			n := 0
			for ; c != 0; c &= c - 1 {
				n++
			}
			if n%2 != 1 {
				t.Fatalf("%v has a byte with even parity", wk)
			}
		}
		if len(k) == 16 && string(k[:8]) == string(k[8:]) {
			t.Fatalf("%v has equal halves", wk)
		}
	}
}
