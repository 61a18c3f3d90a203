package alg

import (
	"crypto/cipher"
	"crypto/des"
	"encoding/binary"
)

const upperHex = "0123456789ABCDEF"

// xorBlocks XORs the 8-byte blocks of data, the last one zero-padded.
func xorBlocks(data []byte) uint64 {
	var r uint64
	for len(data) >= 8 {
		r ^= binary.BigEndian.Uint64(data)
		data = data[8:]
	}
	if len(data) > 0 {
		var last [8]byte
		copy(last[:], data)
		r ^= binary.BigEndian.Uint64(last[:])
	}
	return r
}

// hexUpper writes src as upper-case hex into dst (len(dst) >= 2*len(src)).
func hexUpper(dst, src []byte) {
	for i, c := range src {
		dst[2*i] = upperHex[c>>4]
		dst[2*i+1] = upperHex[c&0x0f]
	}
}

// POSECB computes the dialect's "POS ECB" MAC (terminal protocol §5.3) of mab with mak (DES for
// an 8-byte key, two-key 3DES for a 16-byte one):
//
//	R = XOR of the zero-padded 8-byte blocks of mab
//	H1‖H2 = R as 16 upper-case hex characters
//	T = E(MAK, H1) XOR H2;  E2 = E(MAK, T)
//	MAC = the first 8 upper-case hex characters of E2, as ASCII
func POSECB(mak cipher.Block, mab []byte, s *Scratch) (mac [8]byte) {
	var r [8]byte
	binary.BigEndian.PutUint64(r[:], xorBlocks(mab))
	h := s[0:16]
	hexUpper(h, r[:])
	t := s[16:24]
	mak.Encrypt(t, h[:8])
	binary.BigEndian.PutUint64(t, binary.BigEndian.Uint64(t)^binary.BigEndian.Uint64(h[8:16]))
	mak.Encrypt(t, t)
	hexUpper(mac[:], t[:4])
	clear(s[:24])
	return mac
}

// X919Blocks returns the two single-DES blocks of an ANSI X9.19 key: K1 always, and K2 for a
// 16-byte key (nil for an 8-byte one, where X9.19 reduces to the DES CBC-MAC of X9.9).
func X919Blocks(key []byte) (k1, k2 cipher.Block, err error) {
	switch len(key) {
	case 8, 16:
	default:
		return nil, nil, ErrKeyLength
	}
	if k1, err = des.NewCipher(key[:8]); err != nil {
		return nil, nil, err
	}
	if len(key) == 16 {
		if k2, err = des.NewCipher(key[8:16]); err != nil {
			return nil, nil, err
		}
	}
	return k1, k2, nil
}

// X919 computes the ANSI X9.19 retail MAC (ISO/IEC 9797-1 MAC algorithm 3, padding method 1):
// DES CBC-MAC under K1 with a zero IV over the zero-padded data, then the last block is
// decrypted under K2 and encrypted under K1. With k2 == nil it is the plain DES CBC-MAC. Empty
// data is one zero block.
func X919(k1, k2 cipher.Block, data []byte, s *Scratch) [8]byte {
	st := s[:8]
	var x uint64
	for {
		var blk [8]byte
		n := copy(blk[:], data)
		data = data[n:]
		x ^= binary.BigEndian.Uint64(blk[:])
		binary.BigEndian.PutUint64(st, x)
		k1.Encrypt(st, st)
		x = binary.BigEndian.Uint64(st)
		if len(data) == 0 {
			break
		}
	}
	if k2 != nil {
		k2.Decrypt(st, st)
		k1.Encrypt(st, st)
	}
	var mac [8]byte
	copy(mac[:], st)
	clear(st)
	return mac
}
