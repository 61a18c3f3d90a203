package hsm

import (
	"context"
	"crypto/subtle"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// TranslatePIN implements Module. The block is decrypted under the PIK, checked against the PAN
// (control nibble 0, PIN length 4–12, decimal digits, F filler) and the same clear block is
// encrypted under the ZPK: the format stays ISO 9564 format 0 with the same PAN.
func (s *Software) TranslatePIN(_ context.Context, pik, zpk WrappedKey, block, pan []byte) ([8]byte, error) {
	var out [8]byte
	if len(block) != 8 {
		return out, &PINBlockError{Reason: PINBlockFormat}
	}
	in, err := s.key(pik, KeyPIK)
	if err != nil {
		return out, err
	}
	to, err := s.key(zpk, KeyZPK)
	if err != nil {
		return out, err
	}
	panField, err := alg.PANField(pan)
	if err != nil {
		return out, err
	}
	sc := alg.GetScratch()
	defer alg.PutScratch(sc)
	clearBlock := sc[:8]
	copy(sc[16:24], block) // only scratch memory is handed to the cipher, so block does not escape
	in.blk.Decrypt(clearBlock, sc[16:24])
	if _, err := alg.CheckPINField(alg.XOR8([8]byte(clearBlock), panField)); err != nil {
		return out, err
	}
	to.blk.Encrypt(sc[8:16], clearBlock)
	copy(out[:], sc[8:16])
	return out, nil
}

// VerifyPIN implements Module.
func (s *Software) VerifyPIN(_ context.Context, zpk WrappedKey, block, pan []byte, expectedPIN string) (bool, error) {
	if len(block) != 8 {
		return false, &PINBlockError{Reason: PINBlockFormat}
	}
	k, err := s.key(zpk, KeyZPK)
	if err != nil {
		return false, err
	}
	panField, err := alg.PANField(pan)
	if err != nil {
		return false, err
	}
	if len(expectedPIN) > 12 {
		return false, ErrPIN
	}
	want, err := alg.PINField([]byte(expectedPIN))
	if err != nil {
		return false, err
	}
	sc := alg.GetScratch()
	defer alg.PutScratch(sc)
	copy(sc[16:24], block)
	k.blk.Decrypt(sc[:8], sc[16:24])
	got := alg.XOR8([8]byte(sc[:8]), panField)
	if _, err := alg.CheckPINField(got); err != nil {
		return false, err
	}
	ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	clear(got[:])
	clear(want[:])
	return ok, nil
}
