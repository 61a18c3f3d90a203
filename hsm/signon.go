package hsm

import (
	"context"
	"crypto/rand"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// SignOn implements Module. Working keys are drawn fresh with odd parity: PIK 8 bytes (001) or
// 16 (003, 004), MAK 8 bytes, TDK 16 bytes (004).
func (s *Software) SignOn(_ context.Context, tmk WrappedKey, layout SignOnLayout) (SignOnKeys, error) {
	if !layout.Valid() {
		return SignOnKeys{}, ErrSignOnLayout
	}
	t, err := s.key(tmk, KeyTMK)
	if err != nil {
		return SignOnKeys{}, err
	}
	f := make([]byte, layout.Field62Len())
	var out SignOnKeys
	off := 0
	if out.PIK, err = s.issue(t, KeyPIK, layout.PIKLen(), f[off:]); err != nil {
		return SignOnKeys{}, err
	}
	off += layout.PIKLen()
	off += copy(f[off:], out.PIK.KCV[:])
	if out.MAK, err = s.issue(t, KeyMAK, 8, f[off:]); err != nil {
		return SignOnKeys{}, err
	}
	off += layout.MACSlot() // 003/004: the 8 bytes after the MAK stay zero
	off += copy(f[off:], out.MAK.KCV[:])
	if layout.HasTDK() {
		if out.TDK, err = s.issue(t, KeyTDK, 16, f[off:]); err != nil {
			return SignOnKeys{}, err
		}
		off += 16
		off += copy(f[off:], out.TDK.KCV[:])
	}
	out.Field62 = f
	return out, nil
}

// issue draws a working key of n bytes, writes it encrypted under the TMK (ECB) to dst[:n] and
// returns it wrapped under the LMK.
func (s *Software) issue(tmk *keyEntry, t KeyType, n int, dst []byte) (WrappedKey, error) {
	k := make([]byte, n) // heap: it is handed to the cipher; wiped below
	defer clear(k)
	_, _ = rand.Read(k)
	alg.SetOddParity(k)
	alg.ECBEncrypt(tmk.blk, dst[:n], k)
	return s.wrap(t, k)
}
