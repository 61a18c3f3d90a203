package hsm

import (
	"errors"

	"github.com/posgate/posgate/hsm/internal/alg"
)

// Errors of the module's operations, to be tested with errors.Is. None of them, nor any error
// wrapping them here, contains key material, a PIN, a PIN block, a PAN or track data. The terminal
// side (package hsm/termcrypto) returns the same values. docs/hsm.md suggests the response code
// for each.
var (
	// ErrKeyLength: a clear key's length does not fit its type (8 or 16 bytes for DES keys).
	ErrKeyLength = alg.ErrKeyLength
	// ErrKeyIntegrity: a wrapped key failed authentication under this module's LMK: its cipher,
	// type or KCV was altered, or it was wrapped under another LMK.
	ErrKeyIntegrity = errors.New("hsm: wrapped key failed its integrity check")
	// ErrKCV: a key recovered by the terminal side does not match the KCV sent with it.
	ErrKCV = alg.ErrKCV
	// ErrMACMismatch: the MAC of a message is wrong (response code A0).
	ErrMACMismatch = alg.ErrMACMismatch
	// ErrPINBlock: a PIN block does not decrypt to a valid ISO 9564 format-0 block (response
	// code 99). The error is a *PINBlockError carrying the rule that failed.
	ErrPINBlock = alg.ErrPINBlock
	// ErrPIN: a PIN handed to the module (expected PIN, or a PIN to encode) is not 4 to 12 digits.
	ErrPIN = alg.ErrPIN
	// ErrPAN: the PAN is not 12 to 19 decimal digits, so no format-0 PAN field can be built.
	ErrPAN = alg.ErrPAN
	// ErrTrack: track data is too short to hold the encrypted block, or does not decrypt to
	// track digits under this TDK.
	ErrTrack = alg.ErrTrack
	// ErrSNCipher: field 59 tag 04 does not match the SN and random factor (response code A7).
	ErrSNCipher = alg.ErrSNCipher
	// ErrProof: an activation proof does not match the activation code's verifier (A7).
	ErrProof = alg.ErrProof
	// ErrPublicKey: an activation public key is not a PKIX DER RSA-2048 key (A7).
	ErrPublicKey = alg.ErrPublicKey
	// ErrActivationCode: an activation code is not 20 digits (dashes and spaces ignored).
	ErrActivationCode = alg.ErrActivationCode
	// ErrSignOnLayout: an unknown sign-on layout, or a field 62 of the wrong length for it.
	ErrSignOnLayout = alg.ErrSignOnLayout
	// ErrLMK: the local master key is missing or malformed.
	ErrLMK = errors.New("hsm: local master key missing or malformed")
)

// PINBlockError is the error of a PIN block that decrypted to an invalid format-0 block; it
// unwraps to ErrPINBlock. Reason says which rule failed; it never says what the block held.
type PINBlockError = alg.PINBlockError

// PINBlockReason is the rule of ISO 9564 format 0 a PIN block broke.
type PINBlockReason = alg.PINBlockReason

// Reasons a PIN block is rejected.
const (
	PINBlockFormat = alg.PINBlockFormat // control nibble is not 0
	PINBlockLength = alg.PINBlockLength // PIN length outside 4..12
	PINBlockDigit  = alg.PINBlockDigit  // a PIN digit is not decimal
	PINBlockFiller = alg.PINBlockFiller // a filler nibble is not F
)

// KeyTypeError reports a key used for another type's operation (a PIK handed to MAC
// verification, say). It unwraps to ErrKeyType.
type KeyTypeError struct {
	Want, Got KeyType
}

func (e *KeyTypeError) Error() string {
	return "hsm: " + e.Got.String() + " key used where a " + e.Want.String() + " key is required"
}

// Unwrap returns ErrKeyType.
func (e *KeyTypeError) Unwrap() error { return ErrKeyType }
