package securefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateNewAndReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	if err := CreateNew(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CreateNew(p, []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateNew: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("content %q after a refused CreateNew", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := Replace(p, []byte("three"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "three" {
		t.Fatalf("content %q after Replace", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := CreateNew(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Fatal("CreateNew in a missing directory succeeded")
	}
}
