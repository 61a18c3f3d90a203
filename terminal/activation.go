package terminal

import (
	"time"

	"github.com/posgate/posgate/hsm"
)

// Activation code policy (terminal protocol §5.2).
const (
	// DefaultCodeTTL is how long an activation code stays valid when the issuer gives no TTL.
	DefaultCodeTTL = 7 * 24 * time.Hour
	// MaxCodeTTL bounds the TTL an operator may choose.
	MaxCodeTTL = 90 * 24 * time.Hour
	// MaxWrongProofs is the number of wrong proofs after which an SN is locked until an
	// operator issues a new code.
	MaxWrongProofs = 5
)

// ActivationCode is the registry's record of a one-time activation code. The code itself is
// never stored: the security module generated it and handed the registry only Verifier, an
// hsm.KeyACV wrapped key from which it can check a terminal's proof.
type ActivationCode struct {
	TID         string         // terminal the code activates
	SN          string         // serial number the code was issued to
	Verifier    hsm.WrappedKey // type hsm.KeyACV
	IssuedAt    time.Time
	ExpiresAt   time.Time
	SpentAt     time.Time // zero until the code is spent
	WrongProofs int       // wrong proofs presented for SN since the code was issued
}

// Spent reports whether the code was used.
func (c *ActivationCode) Spent() bool { return !c.SpentAt.IsZero() }

// Locked reports whether SN is locked by wrong proofs.
func (c *ActivationCode) Locked() bool { return c.WrongProofs >= MaxWrongProofs }

// Expired reports whether the code has expired at now.
func (c *ActivationCode) Expired(now time.Time) bool { return !now.Before(c.ExpiresAt) }

// Usable returns nil if the code may be spent at now, otherwise a *RecordError wrapping
// ErrLocked, ErrCodeSpent or ErrCodeExpired, checked in that order.
func (c *ActivationCode) Usable(now time.Time) error {
	switch {
	case c.Locked():
		return &RecordError{Kind: KindSN, ID: c.SN, Err: ErrLocked}
	case c.Spent():
		return &RecordError{Kind: KindActivationCode, ID: c.SN, Err: ErrCodeSpent}
	case c.Expired(now):
		return &RecordError{Kind: KindActivationCode, ID: c.SN, Err: ErrCodeExpired}
	}
	return nil
}

// CodeTTL returns ttl, or DefaultCodeTTL when ttl is 0; a negative ttl or one above MaxCodeTTL
// is a *FieldError.
func CodeTTL(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl == 0:
		return DefaultCodeTTL, nil
	case ttl < 0 || ttl > MaxCodeTTL:
		return 0, invalid("TTL", "must be between 0 (default 7 days) and 90 days")
	}
	return ttl, nil
}
