package alg

import "errors"

// Sentinel errors, re-exported by package hsm (hsm.ErrKCV is ErrKCV, and so on). Their text never
// holds a key, PIN, PAN or any other value.
var (
	ErrKeyLength      = errors.New("hsm: key length not valid for its type")
	ErrKCV            = errors.New("hsm: key check value mismatch")
	ErrMACMismatch    = errors.New("hsm: MAC mismatch")
	ErrPINBlock       = errors.New("hsm: invalid PIN block")
	ErrPIN            = errors.New("hsm: PIN must be 4 to 12 digits")
	ErrPAN            = errors.New("hsm: PAN not usable for a format-0 PIN block")
	ErrTrack          = errors.New("hsm: track data not decryptable")
	ErrSNCipher       = errors.New("hsm: SN ciphertext mismatch")
	ErrProof          = errors.New("hsm: activation proof mismatch")
	ErrPublicKey      = errors.New("hsm: public key is not an RSA-2048 PKIX key")
	ErrActivationCode = errors.New("hsm: malformed activation code")
	ErrSignOnLayout   = errors.New("hsm: field 62 does not fit the sign-on layout")
)

// PINBlockReason says which rule of ISO 9564 format 0 a clear PIN block broke.
type PINBlockReason uint8

// Reasons a PIN block is rejected.
const (
	PINBlockFormat PINBlockReason = iota + 1 // control nibble is not 0
	PINBlockLength                           // PIN length nibble outside 4..12
	PINBlockDigit                            // a PIN nibble is not a decimal digit
	PINBlockFiller                           // a filler nibble is not F
)

func (r PINBlockReason) String() string {
	switch r {
	case PINBlockFormat:
		return "not format 0"
	case PINBlockLength:
		return "PIN length out of range"
	case PINBlockDigit:
		return "PIN digit not decimal"
	case PINBlockFiller:
		return "filler not F"
	}
	return "unknown"
}

// PINBlockError is a PIN block that decrypted to something that is not a valid format-0 block:
// usually the terminal and posgate disagree about the PIK. It unwraps to ErrPINBlock.
type PINBlockError struct{ Reason PINBlockReason }

func (e *PINBlockError) Error() string { return "hsm: invalid PIN block: " + e.Reason.String() }

// Unwrap returns ErrPINBlock.
func (e *PINBlockError) Unwrap() error { return ErrPINBlock }
