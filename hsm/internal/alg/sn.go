package alg

import (
	"crypto/cipher"
	"crypto/des"
)

// SN key derivation constants: KSN = E(TMK, snKeyLeft) ‖ E(TMK, snKeyRight).
var (
	snKeyLeft  = [8]byte{'p', 'o', 's', 'g', 'S', 'N', '-', '1'}
	snKeyRight = [8]byte{'p', 'o', 's', 'g', 'S', 'N', '-', '2'}
)

// MaxSNInput bounds the SN and the random factor (each) accepted by SNCipher.
const MaxSNInput = 200

// SNKey derives a terminal's SN key from its TMK (block tmk: DES or two-key 3DES):
// KSN = E(TMK, "posgSN-1") ‖ E(TMK, "posgSN-2"), a 16-byte key, returned as the two single-DES
// blocks of an X9.19 MAC.
func SNKey(tmk cipher.Block, s *Scratch) (k1, k2 cipher.Block, err error) {
	ksn := s[:16]
	tmk.Encrypt(ksn[:8], snKeyLeft[:])
	tmk.Encrypt(ksn[8:16], snKeyRight[:])
	k1, err = des.NewCipher(ksn[:8])
	if err == nil {
		k2, err = des.NewCipher(ksn[8:16])
	}
	clear(ksn)
	return k1, k2, err
}

// SNCipher computes the value of field 59 tag 04 for sn (tag 02) and random (tag 03): the first
// 4 bytes, as 8 upper-case hex characters, of the X9.19 MAC under KSN of
//
//	len(SN) (1 byte) ‖ SN ‖ len(random) (1 byte) ‖ random
//
// ok is false when sn or random exceeds MaxSNInput bytes.
func SNCipher(k1, k2 cipher.Block, sn, random []byte, s *Scratch) (out [8]byte, ok bool) {
	if len(sn) > MaxSNInput || len(random) > MaxSNInput {
		return out, false
	}
	var buf [2 + 2*MaxSNInput]byte
	n := 0
	buf[n] = byte(len(sn))
	n++
	n += copy(buf[n:], sn)
	buf[n] = byte(len(random))
	n++
	n += copy(buf[n:], random)
	mac := X919(k1, k2, buf[:n], s)
	hexUpper(out[:], mac[:4])
	return out, true
}
