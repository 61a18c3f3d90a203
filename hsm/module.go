package hsm

import (
	"context"
	"fmt"
)

// Module is everything posgate does with key material. The gateway, the registry and the issuer
// simulator hold keys only as WrappedKeys and hand them back to the module for each operation, so
// the software implementation (Software) can be replaced by a network HSM without touching them.
//
// Byte slices passed in are only read, and not retained after the call returns. Every method is
// safe for concurrent use. ctx bounds the call for implementations that do I/O; Software does
// none and ignores it.
type Module interface {
	// GenerateKey returns a fresh random double-length (16-byte) DES key of type t under the
	// LMK: a TMK for a new terminal, or a ZPK for an upstream route. KeyACV is refused
	// (ErrKeyType): verifiers come from NewActivationCode and ActivationVerifier.
	GenerateKey(ctx context.Context, t KeyType) (WrappedKey, error)

	// SignOn issues fresh working keys for a terminal signing on with 60.3 = layout: it returns
	// the field-62 bytes (each key encrypted under tmk in ECB, with its KCV, laid out as terminal
	// protocol §5.1 says) and the new keys wrapped under the LMK for the registry.
	SignOn(ctx context.Context, tmk WrappedKey, layout SignOnLayout) (SignOnKeys, error)

	// GenerateMAC returns field 64 for mab, the message from the MTI through the last field
	// before 64 (with bit 64 set in the bitmap); the module pads it. With MACPOSECB the result
	// is 8 ASCII hex characters, with MACX919 the 8-byte MAC.
	GenerateMAC(ctx context.Context, mak WrappedKey, alg MACAlgorithm, mab []byte) ([8]byte, error)

	// VerifyMAC checks field 64 of a message against mab in constant time; a wrong MAC (of any
	// length) is ErrMACMismatch.
	VerifyMAC(ctx context.Context, mak WrappedKey, alg MACAlgorithm, mab, mac []byte) error

	// TranslatePIN re-encrypts the format-0 PIN block of field 52 from the terminal's PIK to a
	// route's ZPK, after checking that it decrypts to a valid block for pan (ASCII digits,
	// field 2). The clear PIN never leaves the module. A block that is not valid under pik is a
	// *PINBlockError (ErrPINBlock).
	TranslatePIN(ctx context.Context, pik, zpk WrappedKey, block, pan []byte) ([8]byte, error)

	// VerifyPIN reports whether a format-0 PIN block under zpk holds expectedPIN (ASCII digits),
	// comparing in constant time; the PIN is never returned. It is the issuer simulator's check.
	VerifyPIN(ctx context.Context, zpk WrappedKey, block, pan []byte, expectedPIN string) (bool, error)

	// DecryptTrack appends to dst the clear form of a TDK-encrypted track (field 35 or 36 value,
	// packed BCD, without its length prefix; sent so when 53.3 = 1): the 8 bytes that end one
	// byte before the last byte are decrypted under tdk, the rest is copied. See docs/hsm.md.
	DecryptTrack(ctx context.Context, dst []byte, tdk WrappedKey, track []byte) ([]byte, error)

	// CheckSN checks field 59 tag 04 (snCipher, 8 hex characters) against the terminal's SN
	// (tag 02) and random factor (tag 03) under the SN key derived from tmk; a mismatch is
	// ErrSNCipher. See docs/hsm.md for posgate's algorithm.
	CheckSN(ctx context.Context, tmk WrappedKey, sn, random, snCipher []byte) error

	// NewActivationCode draws a one-time activation code for an operator to type into a
	// terminal, and its verifier (a KeyACV WrappedKey), which is all the registry may store.
	NewActivationCode(ctx context.Context) (ActivationCode, error)

	// ActivationVerifier returns the verifier of a given code (for seeding demo terminals with
	// known codes). Dashes and spaces in code are ignored.
	ActivationVerifier(ctx context.Context, code string) (WrappedKey, error)

	// Activate checks an activation request — proof = HMAC-SHA256 keyed by the code's derived
	// key over sn ‖ pubDER — then generates the terminal's TMK and returns it wrapped under the
	// LMK and encrypted under the terminal's RSA-2048 public key (RSA-OAEP, SHA-256). A TMK is
	// only ever exported this way, after a valid proof: ErrProof, ErrPublicKey.
	Activate(ctx context.Context, acv WrappedKey, sn, pubDER, proof []byte) (Activation, error)
}

// SignOnLayout is the key layout of field 62 in a sign-on response, chosen by the terminal's
// network management code 60.3 (terminal protocol §5.1).
type SignOnLayout uint8

// Sign-on layouts.
const (
	SignOn001 SignOnLayout = iota + 1 // single-length: PIK 8 + KCV, MAK 8 + KCV (24 bytes)
	SignOn003                         // double-length PIK: PIK 16 + KCV, MAK 8 + 8 zero bytes + KCV (40 bytes)
	SignOn004                         // as 003 plus TDK 16 + KCV (60 bytes)
)

// ParseSignOnLayout maps a 60.3 code ("001", "003", "004") to its layout.
func ParseSignOnLayout(code string) (SignOnLayout, error) {
	switch code {
	case "001":
		return SignOn001, nil
	case "003":
		return SignOn003, nil
	case "004":
		return SignOn004, nil
	}
	return 0, ErrSignOnLayout
}

// String returns the 60.3 code.
func (l SignOnLayout) String() string {
	switch l {
	case SignOn001:
		return "001"
	case SignOn003:
		return "003"
	case SignOn004:
		return "004"
	}
	return "unknown"
}

// Valid reports whether l is a known layout.
func (l SignOnLayout) Valid() bool { return l >= SignOn001 && l <= SignOn004 }

// PIKLen is the PIK length of the layout: 8 for 001, 16 otherwise.
func (l SignOnLayout) PIKLen() int {
	if l == SignOn001 {
		return 8
	}
	return 16
}

// MACSlot is the number of field-62 bytes the encrypted MAK occupies: 8 for 001, 16 otherwise
// (an 8-byte MAK followed by 8 zero bytes).
func (l SignOnLayout) MACSlot() int {
	if l == SignOn001 {
		return 8
	}
	return 16
}

// HasTDK reports whether the layout carries a TDK (004).
func (l SignOnLayout) HasTDK() bool { return l == SignOn004 }

// Field62Len is the length of field 62 in the layout: 24, 40 or 60 (0 for an unknown layout).
func (l SignOnLayout) Field62Len() int {
	if !l.Valid() {
		return 0
	}
	n := l.PIKLen() + 4 + l.MACSlot() + 4
	if l.HasTDK() {
		n += 16 + 4
	}
	return n
}

// SignOnKeys is the result of a sign-on: field 62 for the response and the new working keys
// under the LMK for the registry. TDK is zero unless the layout is 004.
type SignOnKeys struct {
	Field62       []byte // owned by the caller
	PIK, MAK, TDK WrappedKey
}

// ActivationCode is a freshly drawn activation code. Code is shown to the operator once and never
// stored, logged or sent; Verifier is what the registry keeps. Printing an ActivationCode with
// fmt shows only that a code exists, never the code.
type ActivationCode struct {
	Code     string     // 20 digits in groups of four: 1234-5678-9012-3456-7890
	Verifier WrappedKey // KeyACV
}

// String hides the code.
func (c ActivationCode) String() string { return "activation code (hidden)" }

// GoString hides the code.
func (c ActivationCode) GoString() string { return c.String() }

// Format hides the code whatever the verb.
func (c ActivationCode) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// Activation is the result of a successful activation: the new TMK under the LMK for the
// registry, and the same key encrypted under the terminal's public key, with its KCV, for field
// 62 of the response.
type Activation struct {
	TMK          WrappedKey
	EncryptedTMK []byte // RSA-OAEP(SHA-256, no label) of the 16-byte TMK; 256 bytes
	KCV          KCV
}
