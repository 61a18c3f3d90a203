package alg

import (
	"crypto/cipher"
	"crypto/des"
)

// Scratch holds the buffers handed to a cipher.Block. Get one with GetScratch, give it back with
// PutScratch (which wipes it).
type Scratch [32]byte

// NewBlock returns DES for an 8-byte key and two-key triple DES (K1 K2 K1) for a 16-byte one.
func NewBlock(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 8:
		return des.NewCipher(key)
	case 16:
		var k [24]byte
		copy(k[:], key)
		copy(k[16:], key[:8])
		b, err := des.NewTripleDESCipher(k[:])
		clear(k[:])
		return b, err
	}
	return nil, ErrKeyLength
}

// KCV returns the key check value of b's key: the first 4 bytes of E(key, 8 zero bytes).
func KCV(b cipher.Block, s *Scratch) (kcv [4]byte) {
	clear(s[:8])
	b.Encrypt(s[:8], s[:8])
	copy(kcv[:], s[:4])
	clear(s[:8])
	return kcv
}

// KeyKCV is KCV for a clear key (DES or two-key 3DES by its length).
func KeyKCV(key []byte) ([4]byte, error) {
	b, err := NewBlock(key)
	if err != nil {
		return [4]byte{}, err
	}
	s := GetScratch()
	defer PutScratch(s)
	return KCV(b, s), nil
}

// ECBEncrypt encrypts src (a multiple of 8 bytes) into dst block by block. dst and src must be
// heap memory the caller owns (they are handed to b) and may be the same slice.
func ECBEncrypt(b cipher.Block, dst, src []byte) {
	for i := 0; i+8 <= len(src); i += 8 {
		b.Encrypt(dst[i:i+8], src[i:i+8])
	}
}

// ECBDecrypt is the inverse of ECBEncrypt.
func ECBDecrypt(b cipher.Block, dst, src []byte) {
	for i := 0; i+8 <= len(src); i += 8 {
		b.Decrypt(dst[i:i+8], src[i:i+8])
	}
}

// SetOddParity sets each byte's low bit so that the byte has an odd number of one bits, the DES
// key convention (DES ignores the parity bits; terminals and HSMs often check them).
func SetOddParity(key []byte) {
	for i, c := range key {
		c &^= 1
		p := c ^ c>>4
		p ^= p >> 2
		p ^= p >> 1
		key[i] = c | (^p & 1)
	}
}
