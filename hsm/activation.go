package hsm

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// ActivationCodeDigits is the number of decimal digits in an activation code: 10^20 ≈ 2^66.4
// codes. Digits only, so any POS keypad can enter it.
const ActivationCodeDigits = alg.ActivationCodeDigits

var maxActivationCode = new(big.Int).Exp(big.NewInt(10), big.NewInt(ActivationCodeDigits), nil)

// NewActivationCode implements Module.
func (s *Software) NewActivationCode(ctx context.Context) (ActivationCode, error) {
	n, err := rand.Int(rand.Reader, maxActivationCode)
	if err != nil {
		return ActivationCode{}, err
	}
	digits := n.Text(10)
	for len(digits) < ActivationCodeDigits {
		digits = "0" + digits
	}
	acv, err := s.ActivationVerifier(ctx, digits)
	if err != nil {
		return ActivationCode{}, err
	}
	return ActivationCode{Code: alg.FormatActivationCode(digits), Verifier: acv}, nil
}

// ActivationVerifier implements Module. The verifier is the proof key
// SHA-256("posgate-activation-v1" ‖ 20 code digits), wrapped under the LMK as a KeyACV; its KCV
// is left zero so that nothing outside the LMK can test guesses of the code.
func (s *Software) ActivationVerifier(_ context.Context, code string) (WrappedKey, error) {
	canonical, err := alg.NormalizeActivationCode(code)
	if err != nil {
		return WrappedKey{}, err
	}
	k := alg.ActivationKey(canonical)
	defer clear(k[:])
	return s.wrap(KeyACV, k[:])
}

// Activate implements Module. The TMK is 16 bytes with odd parity; it is encrypted with
// RSA-OAEP, SHA-256 for both the hash and MGF1, and an empty label.
func (s *Software) Activate(_ context.Context, acv WrappedKey, sn, pubDER, proof []byte) (Activation, error) {
	var buf [32]byte
	key, err := s.unwrap(acv, KeyACV, buf[:])
	if err != nil {
		return Activation{}, err
	}
	want := alg.ActivationProof(key, sn, pubDER)
	clear(buf[:])
	if !hmac.Equal(want, proof) {
		return Activation{}, ErrProof
	}
	pub, err := alg.ParseRSA2048(pubDER)
	if err != nil {
		return Activation{}, err
	}
	tmk := make([]byte, 16)
	defer clear(tmk)
	_, _ = rand.Read(tmk)
	alg.SetOddParity(tmk)
	wk, err := s.wrap(KeyTMK, tmk)
	if err != nil {
		return Activation{}, err
	}
	enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, tmk, nil)
	if err != nil {
		return Activation{}, ErrPublicKey
	}
	return Activation{TMK: wk, EncryptedTMK: enc, KCV: wk.KCV}, nil
}
