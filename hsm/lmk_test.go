package hsm_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/posgate/posgate/hsm"
)

func TestParseLMK(t *testing.T) {
	const k = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
	l, err := hsm.ParseLMK("  " + strings.ToLower(k) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := hsm.ParseLMK(k)
	if l.Check() != l2.Check() || l.IsZero() {
		t.Fatal("case or white space changed the LMK")
	}
	for _, bad := range []string{"", k[:62], k + "00", k[:63] + "G"} {
		if _, err := hsm.ParseLMK(bad); !errors.Is(err, hsm.ErrLMK) {
			t.Errorf("ParseLMK(malformed): got %v, want ErrLMK", err)
		}
	}
	for _, s := range []string{l.String(), fmt.Sprintf("%v %+v %#v %s %x %X %d %q", l, l, l, l, l, l, l, l)} {
		for _, frag := range []string{k[:16], strings.ToLower(k[:16]), "[0 1 2 3", "0x0, 0x1"} {
			if strings.Contains(s, frag) {
				t.Fatalf("formatting the LMK prints key material: %q", s)
			}
		}
	}
	if _, err := hsm.NewSoftware(hsm.Config{}); !errors.Is(err, hsm.ErrLMK) {
		t.Errorf("NewSoftware without LMK: got %v, want ErrLMK", err)
	}
}

func TestLoadOrCreateLMK(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l1, created, err := hsm.LoadOrCreateLMK(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateLMK: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, hsm.LMKFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("LMK file mode = %v, want 0600", fi.Mode().Perm())
	}
	l2, created, err := hsm.LoadOrCreateLMK(dir)
	if err != nil || created || l2.Check() != l1.Check() {
		t.Fatalf("second LoadOrCreateLMK: created=%v err=%v same=%v", created, err, l2.Check() == l1.Check())
	}
	l3, err := hsm.LoadLMK(filepath.Join(dir, hsm.LMKFile))
	if err != nil || l3.Check() != l1.Check() {
		t.Fatalf("LoadLMK: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only the LMK file", len(entries))
	}
	// Keys wrapped before a restart open after it.
	m1, _ := hsm.NewSoftware(hsm.Config{LMK: l1})
	wk, _ := m1.ImportKey(hsm.KeyMAK, make([]byte, 8))
	m2, _ := hsm.NewSoftware(hsm.Config{LMK: l2})
	if _, err := m2.GenerateMAC(t.Context(), wk, hsm.MACPOSECB, []byte("x")); err != nil {
		t.Errorf("key wrapped before restart: %v", err)
	}
}

func TestLoadOrCreateLMKRace(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	checks := make([]hsm.KCV, 8)
	for i := range checks {
		wg.Go(func() {
			l, _, err := hsm.LoadOrCreateLMK(dir)
			if err != nil {
				t.Error(err)
			}
			checks[i] = l.Check()
		})
	}
	wg.Wait()
	for _, c := range checks[1:] {
		if c != checks[0] {
			t.Fatal("racing creators ended with different LMKs")
		}
	}
}

func TestLoadLMKErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := hsm.LoadLMK(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}
	secret := hex.EncodeToString([]byte("0123456789abcdef0123456789abcde"))
	p := filepath.Join(dir, "bad")
	os.WriteFile(p, []byte(secret), 0o600)
	_, err := hsm.LoadLMK(p)
	if !errors.Is(err, hsm.ErrLMK) || strings.Contains(err.Error(), secret) {
		t.Errorf("malformed file: got %v", err)
	}
	os.WriteFile(filepath.Join(dir, hsm.LMKFile), []byte("junk"), 0o600)
	if _, _, err := hsm.LoadOrCreateLMK(dir); !errors.Is(err, hsm.ErrLMK) {
		t.Errorf("LoadOrCreateLMK over a malformed file: got %v, want ErrLMK (never replace it)", err)
	}
}
