package terminal

import (
	"time"

	"github.com/posgate/posgate/hsm"
)

// Activation code policy (terminal protocol §5.2, docs/security.md).
const (
	// DefaultCodeTTL is how long an activation code stays valid when the issuer gives no TTL.
	DefaultCodeTTL = 7 * 24 * time.Hour
	// MaxCodeTTL bounds the TTL an operator may choose.
	MaxCodeTTL = 90 * 24 * time.Hour
	// FreeProofs is the number of activation proofs an SN may present without waiting; each
	// proof after them must wait ProofDelay. The count restarts with a new code or an
	// operator's unlock, never by itself.
	FreeProofs = 3
	// ProofBackoffBase is the wait after the first proof beyond FreeProofs; it doubles with
	// each further proof, up to MaxProofBackoff.
	ProofBackoffBase = time.Minute
	// MaxProofBackoff bounds the wait between two proofs: a stranger who reads an SN off a
	// device label can delay its activation by a day at most per guess, never lock it for good.
	MaxProofBackoff = 24 * time.Hour
)

// ProofDelay returns how long an SN must wait after its n-th proof before it may present
// another: 0 for the first FreeProofs, then ProofBackoffBase doubling per proof, at most
// MaxProofBackoff.
func ProofDelay(n int) time.Duration {
	if n <= FreeProofs {
		return 0
	}
	d := ProofBackoffBase
	for i := FreeProofs + 1; i < n && d < MaxProofBackoff; i++ {
		d *= 2
	}
	return min(d, MaxProofBackoff)
}

// ActivationCode is the registry's record of a one-time activation code. The code itself is
// never stored: the security module generated it and handed the registry only Verifier, an
// hsm.KeyACV wrapped key from which it can check a terminal's proof.
type ActivationCode struct {
	TID       string         // terminal the code activates
	SN        string         // serial number the code was issued to
	Verifier  hsm.WrappedKey // type hsm.KeyACV
	IssuedAt  time.Time
	ExpiresAt time.Time
	SpentAt   time.Time // zero until the code is spent
	// WrongProofs counts the proofs claimed for SN (ClaimProof) since the code was issued or
	// unlocked: every proof is counted before it is checked, so parallel guesses cannot
	// outrun the count; the right one spends the code.
	WrongProofs int
	// LockedUntil is when SN may present its next proof (ProofDelay); zero when it may now.
	LockedUntil time.Time `json:",omitempty"`
}

// Spent reports whether the code was used.
func (c *ActivationCode) Spent() bool { return !c.SpentAt.IsZero() }

// Locked reports whether SN must still wait at now before presenting another proof.
func (c *ActivationCode) Locked(now time.Time) bool { return now.Before(c.LockedUntil) }

// Expired reports whether the code has expired at now.
func (c *ActivationCode) Expired(now time.Time) bool { return !now.Before(c.ExpiresAt) }

// Spendable returns nil if the code may still be spent at now, otherwise a *RecordError
// wrapping ErrCodeSpent or ErrCodeExpired.
func (c *ActivationCode) Spendable(now time.Time) error {
	switch {
	case c.Spent():
		return &RecordError{Kind: KindActivationCode, ID: c.SN, Err: ErrCodeSpent}
	case c.Expired(now):
		return &RecordError{Kind: KindActivationCode, ID: c.SN, Err: ErrCodeExpired}
	}
	return nil
}

// Usable returns nil if a proof may be presented for the code at now, otherwise a
// *RecordError wrapping ErrLocked, ErrCodeSpent or ErrCodeExpired, checked in that order.
func (c *ActivationCode) Usable(now time.Time) error {
	if c.Locked(now) {
		return &RecordError{Kind: KindSN, ID: c.SN, Err: ErrLocked}
	}
	return c.Spendable(now)
}

// Claimed returns the code after one more proof was claimed at now: the count incremented and
// the next proof delayed by ProofDelay.
func (c ActivationCode) Claimed(now time.Time) ActivationCode {
	c.WrongProofs++
	c.LockedUntil = time.Time{}
	if d := ProofDelay(c.WrongProofs); d > 0 {
		c.LockedUntil = now.Add(d)
	}
	return c
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
