package hsm

import (
	"context"
	"crypto/subtle"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// CheckSN implements Module. snCipher is compared case-insensitively, in constant time.
func (s *Software) CheckSN(_ context.Context, tmk WrappedKey, sn, random, snCipher []byte) error {
	k, err := s.key(tmk, KeyTMK)
	if err != nil {
		return err
	}
	if len(snCipher) != 8 {
		return ErrSNCipher
	}
	sc := alg.GetScratch()
	defer alg.PutScratch(sc)
	want, ok := alg.SNCipher(k.k1, k.k2, sn, random, sc)
	if !ok {
		return ErrSNCipher
	}
	var got [8]byte
	for i, c := range snCipher {
		if c >= 'a' && c <= 'f' {
			c -= 'a' - 'A'
		}
		got[i] = c
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrSNCipher
	}
	return nil
}
