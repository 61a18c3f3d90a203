package hsm

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LMKFile is the name of the LMK file LoadOrCreateLMK keeps in the data directory.
const LMKFile = "lmk.hex"

// LMK is the local master key: an AES-256 key under which the software module wraps every key it
// stores. It is never printed: String, GoString and Format show only its check value.
//
// In production it comes from a file (LoadLMK) or an environment variable (ParseLMK), in both
// cases as 64 hex characters; the embedded default keeps one in the data directory
// (LoadOrCreateLMK). Only cmd/ reads files and the environment.
type LMK struct {
	key [32]byte
	set bool
}

// GenerateLMK returns a fresh random LMK.
func GenerateLMK() LMK {
	var l LMK
	_, _ = rand.Read(l.key[:]) // crypto/rand.Read never fails (it crashes the program instead)
	l.set = true
	return l
}

// ParseLMK parses an LMK written as 64 hex characters (either case); surrounding white space is
// ignored. It is the form of both the LMK file and the environment variable.
func ParseLMK(s string) (LMK, error) {
	s = strings.TrimSpace(s)
	var l LMK
	if len(s) != 2*len(l.key) {
		return LMK{}, ErrLMK
	}
	if _, err := hex.Decode(l.key[:], []byte(s)); err != nil {
		return LMK{}, ErrLMK
	}
	l.set = true
	return l, nil
}

// LoadLMK reads an LMK file (64 hex characters). Errors name the path, never the content.
func LoadLMK(path string) (LMK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return LMK{}, fmt.Errorf("hsm: read LMK: %w", err)
	}
	l, err := ParseLMK(string(b))
	clear(b)
	if err != nil {
		return LMK{}, fmt.Errorf("hsm: LMK file %s: %w", path, err)
	}
	return l, nil
}

// LoadOrCreateLMK loads dir/lmk.hex, or, when it does not exist yet, generates an LMK and writes
// it there with mode 0600 (creating dir with mode 0700 if needed). The write is atomic and never
// replaces an existing file: the key goes to a temporary file that is synced and then hard-linked
// to its name, so a crash leaves either no LMK file or a complete one, and of two processes racing
// to create it both end up with the one that won. created reports whether this call made it.
func LoadOrCreateLMK(dir string) (l LMK, created bool, err error) {
	path := filepath.Join(dir, LMKFile)
	l, err = LoadLMK(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return l, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return LMK{}, false, fmt.Errorf("hsm: create LMK directory: %w", err)
	}
	l = GenerateLMK()
	if err := writeNewFile(path, []byte(hex.EncodeToString(l.key[:])+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			l, err = LoadLMK(path)
			return l, false, err
		}
		return LMK{}, false, fmt.Errorf("hsm: write LMK: %w", err)
	}
	return l, true, nil
}

// writeNewFile writes data to path (mode 0600) atomically, failing with fs.ErrExist if path
// exists. data is wiped afterwards.
func writeNewFile(path string, data []byte) (err error) {
	defer clear(data)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".lmk-*.tmp")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after the link, this only drops the temporary name
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Link(tmpName, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // make the new name durable; not all platforms support syncing a directory
		_ = d.Close()
	}
	return nil
}

// IsZero reports whether l holds no key.
func (l LMK) IsZero() bool { return !l.set }

// Check returns the LMK's check value: the first 4 bytes of AES-256(LMK, 16 zero bytes). Log it
// at start-up to confirm which LMK a node runs with.
func (l LMK) Check() KCV {
	var kcv KCV
	if !l.set {
		return kcv
	}
	b, _ := aes.NewCipher(l.key[:])
	var blk [16]byte
	b.Encrypt(blk[:], blk[:])
	copy(kcv[:], blk[:4])
	return kcv
}

// String returns "LMK" and the check value, never the key.
func (l LMK) String() string {
	if !l.set {
		return "<no LMK>"
	}
	return "LMK check " + l.Check().String()
}

// GoString is String.
func (l LMK) GoString() string { return l.String() }

// Format prints String whatever the verb, so no verb can print the key bytes.
func (l LMK) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(l.String())) }
