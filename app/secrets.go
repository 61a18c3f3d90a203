package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/posgate/posgate/internal/securefile"
)

// loadOrCreateSecret reads n bytes of hex from path, or generates them and writes the file
// with mode 0600 atomically, never over an existing file.
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
	if err := securefile.CreateNew(path, []byte(hex.EncodeToString(v)+"\n"), 0o600); err != nil {
		if errors.Is(err, os.ErrExist) { // another process created it first: use theirs
			return loadOrCreateSecret(path, n)
		}
		return nil, err
	}
	return v, nil
}
