// Package termcrypto is the terminal side of posgate's key protocol: what a POS terminal's secure
// element computes with the clear keys it holds. The load generator's simulated terminals and the
// tests use it as a real device would; posgate itself never does (it holds only wrapped keys and
// goes through hsm.Module).
//
// The algorithms are the ones package hsm uses (both call hsm/internal/alg), and the errors are
// hsm's: errors.Is(err, hsm.ErrKCV) holds for a key that fails its check value here too. Error
// texts hold no key, PIN or card data.
package termcrypto

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/internal/alg"
)

// KCVError is a key recovered from field 62 or from an activation response whose KCV does not
// match the one sent with it. It unwraps to hsm.ErrKCV.
type KCVError struct{ Key hsm.KeyType }

func (e *KCVError) Error() string {
	return "termcrypto: " + e.Key.String() + ": key check value mismatch"
}

// Unwrap returns hsm.ErrKCV.
func (e *KCVError) Unwrap() error { return hsm.ErrKCV }

// ErrNotSignedOn is returned by a Device asked for a working-key operation before a sign-on.
var ErrNotSignedOn = errors.New("termcrypto: no working keys (sign on first)")

// KCV returns the key check value of a clear DES key (8 bytes) or two-key 3DES key (16 bytes).
func KCV(key []byte) (hsm.KCV, error) {
	k, err := alg.KeyKCV(key)
	return hsm.KCV(k), err
}

// WorkingKeys are the clear working keys a terminal recovers from field 62. TDK is nil unless
// the layout is 004. The slices are the caller's; wipe them when done.
type WorkingKeys struct {
	PIK, MAK, TDK []byte
}

// DecodeSignOn recovers the working keys from field 62 of a sign-on response with the terminal's
// clear TMK, decrypting each (ECB) and checking its KCV. field62 must be exactly as long as the
// layout says (ErrSignOnLayout). In 003/004 the MAK slot is 16 bytes: an 8-byte MAK and 8 zero
// bytes, as posgate sends; when those 8 bytes are not zero, the slot is read as a double-length
// MAK, a variant some acquirers send.
func DecodeSignOn(tmk []byte, layout hsm.SignOnLayout, field62 []byte) (WorkingKeys, error) {
	tb, err := alg.NewBlock(tmk)
	if err != nil {
		return WorkingKeys{}, err
	}
	return decodeWith(tb, layout, field62)
}

// openKey decrypts enc under the TMK and checks it against the 4-byte KCV at the start of kcv.
func openKey(tmk cipher.Block, t hsm.KeyType, enc, kcv []byte) ([]byte, error) {
	k := make([]byte, len(enc))
	alg.ECBDecrypt(tmk, k, enc)
	got, err := KCV(k)
	if err != nil {
		clear(k)
		return nil, err
	}
	if !got.Equal(hsm.KCV(kcv[:4])) {
		clear(k)
		return nil, &KCVError{Key: t}
	}
	return k, nil
}

func allZero(b []byte) bool {
	var x byte
	for _, c := range b {
		x |= c
	}
	return x == 0
}

// PINBlock returns the clear ISO 9564 format-0 PIN block for pin (4–12 ASCII digits) and pan
// (12–19 ASCII digits): PIN field XOR PAN field.
func PINBlock(pin string, pan []byte) ([8]byte, error) {
	if len(pin) > 12 {
		return [8]byte{}, hsm.ErrPIN
	}
	pf, err := alg.PINField([]byte(pin))
	if err != nil {
		return [8]byte{}, err
	}
	af, err := alg.PANField(pan)
	if err != nil {
		return [8]byte{}, err
	}
	return alg.XOR8(pf, af), nil
}

// EncryptPINBlock returns field 52: the format-0 PIN block encrypted under a clear PIK (DES or
// two-key 3DES by its length).
func EncryptPINBlock(pik []byte, pin string, pan []byte) ([8]byte, error) {
	b, err := alg.NewBlock(pik)
	if err != nil {
		return [8]byte{}, err
	}
	return encryptPIN(b, pin, pan)
}

func encryptPIN(pik cipher.Block, pin string, pan []byte) ([8]byte, error) {
	blk, err := PINBlock(pin, pan)
	if err != nil {
		return blk, err
	}
	s := alg.GetScratch()
	defer alg.PutScratch(s)
	copy(s[:8], blk[:])
	clear(blk[:])
	pik.Encrypt(s[8:16], s[:8])
	copy(blk[:], s[8:16])
	return blk, nil
}

// MAC computes field 64 with a clear MAK, as hsm.Module.GenerateMAC does.
func MAC(mak []byte, a hsm.MACAlgorithm, mab []byte) ([8]byte, error) {
	k, err := newMACKey(mak)
	if err != nil {
		return [8]byte{}, err
	}
	return k.mac(a, mab)
}

// EncryptTrack appends to dst the track (packed BCD, the field value without its length prefix)
// with the 8 bytes that end one byte before its last byte encrypted under a clear TDK, the
// terminal's side of hsm.Module.DecryptTrack.
func EncryptTrack(tdk []byte, dst, track []byte) ([]byte, error) {
	b, err := alg.NewBlock(tdk)
	if err != nil {
		return dst, err
	}
	return encryptTrack(b, dst, track)
}

func encryptTrack(tdk cipher.Block, dst, track []byte) ([]byte, error) {
	lo, hi, err := alg.TrackWindow(track)
	if err != nil {
		return dst, err
	}
	s := alg.GetScratch()
	defer alg.PutScratch(s)
	copy(s[:8], track[lo:hi])
	tdk.Encrypt(s[8:16], s[:8])
	n := len(dst)
	dst = append(dst, track...)
	copy(dst[n+lo:n+hi], s[8:16])
	return dst, nil
}

// SNCipher computes field 59 tag 04 (8 upper-case hex characters) from a clear TMK, the SN
// (tag 02) and the random factor (tag 03), as hsm.Module.CheckSN expects it.
func SNCipher(tmk, sn, random []byte) ([8]byte, error) {
	k, err := newSNKey(tmk)
	if err != nil {
		return [8]byte{}, err
	}
	return k.cipher(sn, random)
}

// ActivationProof computes the proof of an activation request: HMAC-SHA256 keyed by
// SHA-256("posgate-activation-v1" ‖ the code's 20 digits) over sn ‖ pubDER. Dashes and spaces in
// code are ignored.
func ActivationProof(code string, sn, pubDER []byte) ([]byte, error) {
	canonical, err := alg.NormalizeActivationCode(code)
	if err != nil {
		return nil, err
	}
	k := alg.ActivationKey(canonical)
	defer clear(k[:])
	return alg.ActivationProof(k[:], sn, pubDER), nil
}

// OpenTMK decrypts the TMK of an activation response (RSA-OAEP with SHA-256, empty label) with
// the terminal's private key and checks it against kcv. A cipher text that does not decrypt and a
// key that fails its KCV are both a *KCVError (hsm.ErrKCV): either way the TMK cannot be trusted.
func OpenTMK(priv *rsa.PrivateKey, encryptedTMK []byte, kcv hsm.KCV) ([]byte, error) {
	tmk, err := rsa.DecryptOAEP(sha256.New(), rand.Reader, priv, encryptedTMK, nil)
	if err != nil {
		return nil, &KCVError{Key: hsm.KeyTMK}
	}
	got, err := KCV(tmk)
	if err != nil {
		clear(tmk)
		return nil, err
	}
	if !got.Equal(kcv) {
		clear(tmk)
		return nil, &KCVError{Key: hsm.KeyTMK}
	}
	return tmk, nil
}
