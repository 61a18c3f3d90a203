package hsm

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// DefaultKeyCacheSize is the default bound of the software module's key cache: room for the
// working keys and TMKs of some 16 000 terminals.
const DefaultKeyCacheSize = 1 << 16

// Config configures the software module.
type Config struct {
	// LMK is the local master key every stored key is wrapped under. Required.
	LMK LMK
	// KeyCacheSize bounds the number of unwrapped key schedules kept in memory (see Software).
	// 0 means DefaultKeyCacheSize; a negative value disables the cache, so every operation
	// unwraps its keys again.
	KeyCacheSize int
}

// Validate reports whether c can build a module.
func (c Config) Validate() error {
	if c.LMK.IsZero() {
		return ErrLMK
	}
	return nil
}

// Software is the software implementation of Module: keys are wrapped under the LMK with
// AES-256-GCM, and all DES work is done in process.
//
// Wrapped form (WrappedKey.Cipher): version byte 0x01 ‖ 12-byte random nonce ‖ AES-256-GCM
// ciphertext of the clear key with its 16-byte tag, the additional data being
// "posgate-lmk-v1" ‖ key type ‖ KCV. Changing the cipher, the type or the KCV of a stored key
// therefore makes it fail with ErrKeyIntegrity, and a key cannot be used as another type.
//
// Key cache: unwrapping (AES-GCM) and building DES key schedules costs far more than a MAC, so
// the module keeps the schedules of recently used keys in a bounded map keyed by the wrapped key's
// cipher text (which is unique per wrapping, since each has a random nonce). A hit also requires
// the same type and KCV; anything else is a miss and goes through full authentication. When full,
// a random entry is evicted. Entries are derived from the key, so the cache holds key material in
// process memory, as any software HSM must while it works; it never leaves the module. Callers
// need no handle: passing the same WrappedKey is enough.
//
// A Software is safe for concurrent use.
type Software struct {
	aead  cipher.AEAD
	cache *keyCache // nil: disabled
}

var _ Module = (*Software)(nil)

// NewSoftware returns a software module working under cfg.LMK.
func NewSoftware(cfg Config) (*Software, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(cfg.LMK.key[:])
	if err != nil {
		return nil, ErrLMK
	}
	aead, err := cipher.NewGCM(b)
	if err != nil {
		return nil, ErrLMK
	}
	s := &Software{aead: aead}
	switch n := cfg.KeyCacheSize; {
	case n == 0:
		s.cache = newKeyCache(DefaultKeyCacheSize)
	case n > 0:
		s.cache = newKeyCache(n)
	}
	return s, nil
}

const (
	wrapVersion = 0x01
	nonceLen    = 12
	wrapAD      = "posgate-lmk-v1"
)

// keyLenOK reports whether n is a valid clear-key length for t.
func keyLenOK(t KeyType, n int) bool {
	switch t {
	case KeyTMK, KeyPIK, KeyMAK, KeyTDK, KeyZPK:
		return n == 8 || n == 16
	case KeyACV:
		return n == 32
	}
	return false
}

func wrapAdditionalData(t KeyType, kcv KCV) [len(wrapAD) + 1 + len(KCV{})]byte {
	var ad [len(wrapAD) + 1 + len(KCV{})]byte
	copy(ad[:], wrapAD)
	ad[len(wrapAD)] = byte(t)
	copy(ad[len(wrapAD)+1:], kcv[:])
	return ad
}

// ImportKey wraps a clear key of type t (a DES key of 8 or 16 bytes) under the LMK. It exists for
// tests and key ceremonies (loading a ZPK agreed with a card network, say); keys posgate makes
// itself are generated inside the module. The caller should wipe clearKey afterwards.
func (s *Software) ImportKey(t KeyType, clearKey []byte) (WrappedKey, error) {
	if t == KeyACV || t.String() == "unknown" {
		return WrappedKey{}, ErrKeyType
	}
	return s.wrap(t, clearKey)
}

// GenerateKey implements Module.
func (s *Software) GenerateKey(_ context.Context, t KeyType) (WrappedKey, error) {
	if t == KeyACV || t.String() == "unknown" {
		return WrappedKey{}, ErrKeyType
	}
	return s.generate(t, 16)
}

// generate wraps a fresh random DES key of n bytes with odd parity.
func (s *Software) generate(t KeyType, n int) (WrappedKey, error) {
	var k [16]byte
	key := k[:n]
	_, _ = rand.Read(key) // never fails
	alg.SetOddParity(key)
	wk, err := s.wrap(t, key)
	clear(k[:])
	return wk, err
}

// wrap seals clearKey under the LMK.
func (s *Software) wrap(t KeyType, clearKey []byte) (WrappedKey, error) {
	if !keyLenOK(t, len(clearKey)) {
		return WrappedKey{}, ErrKeyLength
	}
	var kcv KCV
	if t != KeyACV { // an ACV has no KCV: it would be an offline oracle for the activation code
		k, err := alg.KeyKCV(clearKey)
		if err != nil {
			return WrappedKey{}, err
		}
		kcv = k
	}
	out := make([]byte, 1+nonceLen, 1+nonceLen+len(clearKey)+s.aead.Overhead())
	out[0] = wrapVersion
	_, _ = rand.Read(out[1 : 1+nonceLen])
	ad := wrapAdditionalData(t, kcv)
	out = s.aead.Seal(out, out[1:1+nonceLen], clearKey, ad[:])
	return WrappedKey{Type: t, Cipher: out, KCV: kcv}, nil
}

// unwrap opens wk, checking it is of type want, into dst (which must have room for 32 bytes)
// and returns the clear key, a prefix of dst. The caller wipes it.
func (s *Software) unwrap(wk WrappedKey, want KeyType, dst []byte) ([]byte, error) {
	if wk.Type != want {
		return nil, &KeyTypeError{Want: want, Got: wk.Type}
	}
	c := wk.Cipher
	if len(c) < 1+nonceLen+s.aead.Overhead()+8 || c[0] != wrapVersion {
		return nil, ErrWrappedKey
	}
	ad := wrapAdditionalData(wk.Type, wk.KCV)
	if len(c)-1-nonceLen-s.aead.Overhead() > len(dst) {
		return nil, ErrWrappedKey
	}
	k, err := s.aead.Open(dst[:0], c[1:1+nonceLen], c[1+nonceLen:], ad[:])
	if err != nil {
		return nil, ErrKeyIntegrity
	}
	if !keyLenOK(wk.Type, len(k)) {
		clear(k)
		return nil, ErrWrappedKey
	}
	return k, nil
}

// keyEntry is an unwrapped DES key, ready to use.
type keyEntry struct {
	typ KeyType
	kcv KCV
	blk cipher.Block // DES or two-key 3DES by key length
	// MAK: the X9.19 blocks K1 and K2 (K2 nil for a single-length MAK).
	// TMK: the X9.19 blocks of the SN key derived from it.
	k1, k2 cipher.Block
}

// key returns the ready-to-use form of a DES key of type want, from the cache when it is there.
func (s *Software) key(wk WrappedKey, want KeyType) (*keyEntry, error) {
	if wk.Type != want {
		return nil, &KeyTypeError{Want: want, Got: wk.Type}
	}
	if s.cache != nil {
		if e := s.cache.get(wk.Cipher); e != nil && e.typ == wk.Type && e.kcv == wk.KCV {
			return e, nil
		}
	}
	var buf [32]byte
	k, err := s.unwrap(wk, want, buf[:])
	if err != nil {
		return nil, err
	}
	defer clear(buf[:])
	e := &keyEntry{typ: wk.Type, kcv: wk.KCV}
	if e.blk, err = alg.NewBlock(k); err != nil {
		return nil, err
	}
	switch want {
	case KeyMAK:
		if e.k1, e.k2, err = alg.X919Blocks(k); err != nil {
			return nil, err
		}
	case KeyTMK:
		sc := alg.GetScratch()
		e.k1, e.k2, err = alg.SNKey(e.blk, sc)
		alg.PutScratch(sc)
		if err != nil {
			return nil, err
		}
	}
	if s.cache != nil {
		s.cache.put(wk.Cipher, e)
	}
	return e, nil
}
