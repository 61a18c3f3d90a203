package admin_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/posgate/posgate/admin"
)

func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", admin.DefaultTokenFile)
	tok, created, err := admin.LoadOrCreateToken(path)
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	if err := admin.ValidToken(tok); err != nil || len(tok) != 43 {
		t.Errorf("generated token of %d characters: %v", len(tok), err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
	}
	again, created, err := admin.LoadOrCreateToken(path)
	if err != nil || created || again != tok {
		t.Errorf("second call: same %v created %v, %v", again == tok, created, err)
	}
	if loaded, err := admin.LoadToken(path); err != nil || loaded != tok {
		t.Errorf("LoadToken: same %v, %v", loaded == tok, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the token file", len(entries))
	}
}

func TestLoadOrCreateTokenRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), admin.DefaultTokenFile)
	const n = 8
	toks := make([]string, n)
	made := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			toks[i], made[i], err = admin.LoadOrCreateToken(path)
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if toks[i] != toks[0] {
			t.Errorf("racer %d got a different token", i)
		}
		if made[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d racers created the file, want 1", creators)
	}
}

func TestLoadTokenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content string
		want          error
	}{
		{"empty", "", admin.ErrToken},
		{"short", "abc\n", admin.ErrToken},
		{"inner space", "abcdefgh ijklmnopqrstu\n", admin.ErrToken},
		{"control character", "abcdefghijklmnop\x00qrstu", admin.ErrToken},
		{"valid with newline", "abcdefghijklmnopqrstu\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "_"), tc.content)
			tok, err := admin.LoadToken(p)
			if !errors.Is(err, tc.want) || (tc.want == nil && tok != strings.TrimSpace(tc.content)) {
				t.Fatalf("LoadToken = %q, %v; want %v", tok, err, tc.want)
			}
			if err != nil && tc.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.content)) {
				t.Errorf("error quotes the file: %v", err)
			}
			// An existing invalid file is never overwritten.
			_, created, err := admin.LoadOrCreateToken(p)
			if !errors.Is(err, tc.want) || created {
				t.Errorf("LoadOrCreateToken on it = created %v, %v", created, err)
			}
			if b, _ := os.ReadFile(p); string(b) != tc.content {
				t.Errorf("file rewritten")
			}
		})
	}
	if _, err := admin.LoadToken(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if tok, err := admin.ParseToken("  " + strings.Repeat("k", 20) + "\r\n"); err != nil || tok != strings.Repeat("k", 20) {
		t.Errorf("ParseToken = %q, %v", tok, err)
	}
}
