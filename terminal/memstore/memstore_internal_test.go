package memstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

const (
	mid = "898310048161234"
	tid = "10000001"
	sn  = "000001024501ABC123"
)

// populate creates a merchant, an activated and signed-on terminal and a pending code.
func populate(t testing.TB, s *Store) terminal.Terminal {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateMerchant(ctx, terminal.Merchant{MID: mid, Name: "Shop", MCC: "5411", SettlementAccount: "6222"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTerminal(ctx, terminal.Terminal{TID: tid, MID: mid, SN: sn, Operators: terminal.Operators{"01", "02"}}); err != nil {
		t.Fatal(err)
	}
	v := hsm.WrappedKey{Type: hsm.KeyACV, Cipher: []byte("verifier-bytes"), KCV: hsm.KCV{1, 2, 3, 4}}
	if _, err := s.IssueActivationCode(ctx, tid, v, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(ctx, sn, v, hsm.WrappedKey{Type: hsm.KeyTMK, Cipher: []byte("tmk-under-lmk"), KCV: hsm.KCV{5, 6, 7, 8}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IssueActivationCode(ctx, tid, v, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimProof(ctx, sn); err != nil {
		t.Fatal(err)
	}
	_, err := s.RotateKeys(ctx, tid, 0, terminal.Keys{
		PIK: hsm.WrappedKey{Type: hsm.KeyPIK, Cipher: []byte("pik-under-lmk")},
		MAK: hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: []byte("mak-under-lmk")},
	}, terminal.SignOnSeq(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Seen(ctx, tid, "V1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTerminal(ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.json")
	s, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := populate(t, s)
	wantCode, err := s.GetActivationCode(context.Background(), sn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.GetTerminal(context.Background(), tid); !errors.Is(err, terminal.ErrClosed) {
		t.Errorf("GetTerminal after Close: %v, want ErrClosed", err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the snapshot (no temp files)", len(entries))
	}
	data, _ := os.ReadFile(path)
	// Keys appear only as wrapped-key text: TYPE:KCV:HEX.
	for _, raw := range []string{"tmk-under-lmk", "pik-under-lmk", "verifier-bytes"} {
		if strings.Contains(string(data), raw) {
			t.Errorf("snapshot holds key bytes %q outside wrapped-key text", raw)
		}
	}

	r, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer r.Close()
	got, err := r.GetTerminal(context.Background(), tid)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Keys.TMK.Equal(want.Keys.TMK) || !got.Keys.PIK.Equal(want.Keys.PIK) || got.Revision != want.Revision ||
		got.KeyGeneration != 1 || !slices.Equal(got.Operators, want.Operators) || got.SN != sn ||
		!got.LastSeen.Equal(want.LastSeen) || !got.CreatedAt.Equal(want.CreatedAt) || got.Status != terminal.StatusActive {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	code, err := r.GetActivationCode(context.Background(), sn)
	if err != nil || code.WrongProofs != 1 || !code.Verifier.Equal(wantCode.Verifier) || !code.ExpiresAt.Equal(wantCode.ExpiresAt) {
		t.Errorf("code after reopen: %+v, %v", code, err)
	}
	if x, err := r.GetTerminalBySN(context.Background(), sn); err != nil || x.TID != tid {
		t.Errorf("SN index after reopen: %v", err)
	}
	p, err := r.ListTerminals(context.Background(), terminal.TerminalQuery{MID: mid})
	if err != nil || len(p.Terminals) != 1 {
		t.Errorf("merchant index after reopen: %+v, %v", p, err)
	}
}

// TestPeriodicSave runs the saver in a synctest bubble: after one interval a change is on disk,
// and an interval without changes writes nothing.
func TestPeriodicSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(Config{Path: path, SnapshotInterval: time.Minute}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		populate(t, s)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("snapshot written before the interval: %v", err)
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatalf("no snapshot after one interval: %v", err)
		}
		// No change: the next tick leaves the file alone.
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		fi2, _ := os.Stat(path)
		if fi2.Mode().Perm() != 0o400 || !fi2.ModTime().Equal(fi.ModTime()) {
			t.Error("snapshot rewritten without changes")
		}
	})
}

func TestOpenBadSnapshot(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{"not json", "secret-looking {garbage"},
		{"wrong version", `{"Version":99}`},
		{"bad key text", `{"Version":1,"Merchants":[{"MID":"898310048161234","Name":"S","MCC":"5411","SettlementAccount":"1"}],` +
			`"Terminals":[{"TID":"10000001","MID":"898310048161234","Status":"active","Keys":{"TMK":"TMK:zz:SECRETHEX"}}]}`},
		{"terminal of unknown merchant", `{"Version":1,"Terminals":[{"TID":"10000001","MID":"898310048161234","Status":"active"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(Config{Path: path}, nil)
			if err == nil {
				t.Fatal("Open accepted a bad snapshot")
			}
			if strings.Contains(err.Error(), "SECRETHEX") || strings.Contains(err.Error(), "secret-looking") {
				t.Errorf("error %q quotes the file", err)
			}
		})
	}
}

func TestMissingSnapshotIsEmpty(t *testing.T) {
	s, err := Open(Config{Path: filepath.Join(t.TempDir(), "none.json")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.ListMerchants(context.Background(), terminal.Page{})
	if err != nil || len(p.Merchants) != 0 {
		t.Errorf("fresh store lists %+v, %v", p, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{Path: "data/registry.json"}, true},
		{Config{Path: "data/"}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
}
