package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// loadOrCreateSecret reads n bytes of hex from path, or generates them and writes the file
// with mode 0600 atomically (temporary file, fsync, rename).
func loadOrCreateSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		v, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(v) != n {
			return nil, fmt.Errorf("%s: want %d bytes of hex", path, n)
		}
		return v, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	v := make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(v)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return v, nil
}

// writeFileAtomic writes data to a temporary file in path's directory, syncs it and renames it
// over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
