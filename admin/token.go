package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/posgate/posgate/internal/securefile"
)

// Token limits. A generated token is 32 random bytes in unpadded base64url: 43 characters.
const (
	MinTokenLen = 16
	MaxTokenLen = 256
	// DefaultTokenFile is the name of the token file LoadOrCreateToken is given in the embedded
	// default's data directory.
	DefaultTokenFile = "admin.token"
)

const tokenRule = "16 to 256 printable ASCII characters without spaces"

// ErrToken: a token (or a token file's content) is not acceptable. Its text never holds the
// token.
var ErrToken = errors.New("admin: invalid token: must be " + tokenRule)

// ValidToken checks a bearer token: 16 to 256 printable ASCII characters, no spaces.
func ValidToken(tok string) error {
	if len(tok) < MinTokenLen || len(tok) > MaxTokenLen {
		return ErrToken
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return ErrToken
		}
	}
	return nil
}

// ParseToken returns s without surrounding white space (a trailing newline of a file or an
// environment variable) if it is a valid token, ErrToken otherwise.
func ParseToken(s string) (string, error) {
	tok := strings.TrimSpace(s)
	if err := ValidToken(tok); err != nil {
		return "", err
	}
	return tok, nil
}

// NewToken returns a fresh random token: 32 bytes from crypto/rand in unpadded base64url.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// LoadToken reads a token file (production: a secret mounted by the operator). Errors name the
// path, never the content.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin: read token: %w", err)
	}
	tok, err := ParseToken(string(b))
	clear(b)
	if err != nil {
		return "", fmt.Errorf("admin: token file %s: %w", path, err)
	}
	return tok, nil
}

// LoadOrCreateToken loads the token file at path or, when it does not exist, writes a new random
// token there with mode 0600 (creating its directory with mode 0700). The write is atomic and
// never replaces an existing file: the token goes to a synced temporary file that is then
// hard-linked to path, so a crash leaves no file or a complete one, and of two processes racing
// to create it both end up with the winner's token. An existing file that does not hold a valid
// token is an error (it is left for the operator to fix, not overwritten). created reports
// whether this call wrote the file.
func LoadOrCreateToken(path string) (tok string, created bool, err error) {
	tok, err = LoadToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("admin: create token directory: %w", err)
	}
	tok = NewToken()
	if err := writeNewFile(path, []byte(tok+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			tok, err = LoadToken(path)
			return tok, false, err
		}
		return "", false, fmt.Errorf("admin: write token: %w", err)
	}
	return tok, true, nil
}

// writeNewFile writes data to path (mode 0600) atomically, failing with fs.ErrExist if path
// exists. data is wiped afterwards.
func writeNewFile(path string, data []byte) error {
	defer clear(data)
	return securefile.CreateNew(path, data, 0o600)
}

// tokenChecker compares presented tokens with the configured one in constant time. Both sides
// are hashed first so that the comparison does not leak the token's length either.
type tokenChecker struct{ want [sha256.Size]byte }

func newTokenChecker(tok string) tokenChecker { return tokenChecker{want: sha256.Sum256([]byte(tok))} }

// matches reports whether tok is the configured token.
func (c tokenChecker) matches(tok string) bool {
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], c.want[:]) == 1
}

// bearer returns the token of an Authorization header value "Bearer <token>".
func bearer(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(header[len(prefix):])
	return tok, tok != ""
}
