package hsm

import (
	"context"
	"crypto/subtle"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// GenerateMAC implements Module.
func (s *Software) GenerateMAC(_ context.Context, mak WrappedKey, a MACAlgorithm, mab []byte) ([8]byte, error) {
	k, err := s.key(mak, KeyMAK)
	if err != nil {
		return [8]byte{}, err
	}
	return computeMAC(k, a, mab)
}

// VerifyMAC implements Module.
func (s *Software) VerifyMAC(_ context.Context, mak WrappedKey, a MACAlgorithm, mab, mac []byte) error {
	k, err := s.key(mak, KeyMAK)
	if err != nil {
		return err
	}
	want, err := computeMAC(k, a, mab)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want[:], mac) != 1 {
		return ErrMACMismatch
	}
	return nil
}

func computeMAC(k *keyEntry, a MACAlgorithm, mab []byte) ([8]byte, error) {
	sc := alg.GetScratch()
	defer alg.PutScratch(sc)
	switch a {
	case MACPOSECB:
		return alg.POSECB(k.blk, mab, sc), nil
	case MACX919:
		return alg.X919(k.k1, k.k2, mab, sc), nil
	}
	return [8]byte{}, ErrMACAlgorithm
}
