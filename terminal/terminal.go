package terminal

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posgate/posgate/hsm"
)

// Keys are a terminal's keys, each wrapped under the security module's LMK. A zero
// hsm.WrappedKey means the key is not set.
type Keys struct {
	TMK hsm.WrappedKey // terminal master key, installed by activation
	PIK hsm.WrappedKey // PIN key, issued at sign-on
	MAK hsm.WrappedKey // MAC key, issued at sign-on
	TDK hsm.WrappedKey // track data key, issued at sign-on with 60.3 = 004; optional
}

// Terminal is one POS terminal as the registry knows it.
//
// The fields fall in three groups. Identity and profile (TID, MID, SN, DeviceType, Status,
// BlockReason, Legacy, Operators, MACAlgorithm, TargetVersion, ForceSignOn) are managed by
// operators; changes to them bump Revision. Keys, KeyGeneration and Batch change only through
// the store's atomic operations (Activate, RotateKeys, AdvanceBatch). SoftwareVersion and
// LastSeen are telemetry written by Seen; they bump nothing.
type Terminal struct {
	TID         string      // field 41, 8 ans characters; the key
	MID         string      // field 42: the owning merchant
	SN          string      // bound device serial number (field 59 tag 02); "" when unbound
	DeviceType  string      // field 59 tag 01, an2 (02 POS, 03 mPOS, 04 smart POS); optional
	Status      Status      // pending, active or blocked
	BlockReason BlockReason // why the terminal is blocked; ReasonNone unless blocked
	// Legacy terminals may sign on by TID and MID without field 59 (terminal protocol §6).
	Legacy       bool
	Operators    Operators        // operator numbers allowed to sign on; default {"01"}
	MACAlgorithm hsm.MACAlgorithm // default hsm.MACPOSECB

	Keys          Keys
	KeyGeneration uint64 // number of working-key rotations so far; RotateKeys compares it
	// SignOnSeq numbers the last accepted sign-on (SignOnSeq of its batch and STAN); a later
	// one must be fresh against it (SignOnFresh). Zero until the first sign-on after the TMK
	// was installed.
	SignOnSeq uint64 `json:",omitempty"`
	Batch     Batch  // current batch number (60.2); starts at FirstBatch

	SoftwareVersion string // last version the terminal reported (59 tag 05, trimmed)
	TargetVersion   string // version an operator wants it to run; "" means no target
	ForceSignOn     bool   // tell the terminal to sign on again (cleared by RotateKeys)

	LastSeen   time.Time // last message, as recorded by Seen; zero if never
	LastSignOn time.Time // last RotateKeys; zero if never
	CreatedAt  time.Time
	UpdatedAt  time.Time // last profile change
	Revision   uint64    // profile revision, see UpdateTerminal
}

// Validate checks the profile fields an operator sets. Errors are *FieldError.
func (t *Terminal) Validate() error {
	if err := ValidTID(t.TID); err != nil {
		return err
	}
	if err := ValidMID(t.MID); err != nil {
		return err
	}
	if t.SN != "" {
		if err := ValidSN(t.SN); err != nil {
			return err
		}
	}
	if t.DeviceType != "" && (len(t.DeviceType) != DeviceLen || !ans(t.DeviceType)) {
		return invalid("DeviceType", "must be 2 printable ASCII characters")
	}
	if _, err := NormalizeOperators(t.Operators); err != nil {
		return err
	}
	if t.MACAlgorithm != 0 && t.MACAlgorithm.String() == "unknown" {
		return invalid("MACAlgorithm", "must be pos-ecb or x9.19")
	}
	if t.Batch != 0 {
		if err := t.Batch.Validate(); err != nil {
			return err
		}
	}
	if err := ascii("SoftwareVersion", t.SoftwareVersion, MaxVerLen, false); err != nil {
		return err
	}
	if err := ascii("TargetVersion", t.TargetVersion, MaxVerLen, false); err != nil {
		return err
	}
	return validKey("TMK", t.Keys.TMK, hsm.KeyTMK, false)
}

// validKey checks that k is of type want (or zero when optional).
func validKey(field string, k hsm.WrappedKey, want hsm.KeyType, required bool) error {
	if k.IsZero() {
		if required {
			return invalid(field, "is required")
		}
		return nil
	}
	if k.Type != want || len(k.Cipher) == 0 {
		return invalid(field, "must be a wrapped "+want.String())
	}
	return nil
}

// ValidWorkingKeys checks keys for RotateKeys: PIK and MAK required, TDK optional, each of its
// own type; TMK must be zero (it is installed only by activation).
func ValidWorkingKeys(k Keys) error {
	if !k.TMK.IsZero() {
		return invalid("TMK", "cannot be set by a key rotation")
	}
	if err := validKey("PIK", k.PIK, hsm.KeyPIK, true); err != nil {
		return err
	}
	if err := validKey("MAK", k.MAK, hsm.KeyMAK, true); err != nil {
		return err
	}
	return validKey("TDK", k.TDK, hsm.KeyTDK, false)
}

// ValidTMK checks a key for Activate: a wrapped TMK.
func ValidTMK(k hsm.WrappedKey) error { return validKey("TMK", k, hsm.KeyTMK, true) }

// ValidVerifier checks an activation code verifier: a wrapped ACV.
func ValidVerifier(k hsm.WrappedKey) error { return validKey("Verifier", k, hsm.KeyACV, true) }

// NewRecord returns the record a store creates from in: the fields an operator may set at
// creation (keys other than an injected TMK are dropped), with defaults applied and every byte
// owned by the result. Both stores create terminals through it.
func NewRecord(in Terminal) Terminal {
	t := Terminal{
		TID: in.TID, MID: in.MID, SN: in.SN, DeviceType: in.DeviceType, Legacy: in.Legacy,
		Operators: in.Operators, MACAlgorithm: in.MACAlgorithm, Batch: in.Batch,
		TargetVersion: in.TargetVersion, ForceSignOn: in.ForceSignOn,
		Keys: Keys{TMK: in.Keys.TMK},
	}
	t.ApplyDefaults()
	return t.Clone()
}

// ApplyDefaults fills the defaults of a new terminal: Operators {"01"} (normalised otherwise),
// MACAlgorithm POS ECB, Batch 000001, and Status pending — or active when a TMK was injected
// before delivery.
func (t *Terminal) ApplyDefaults() {
	ops, err := NormalizeOperators(t.Operators)
	if err == nil {
		t.Operators = ops
	}
	if t.MACAlgorithm == 0 {
		t.MACAlgorithm = hsm.MACPOSECB
	}
	if t.Batch == 0 {
		t.Batch = FirstBatch
	}
	t.Status, t.BlockReason = StatusPending, ReasonNone
	if !t.Keys.TMK.IsZero() {
		t.Status = StatusActive
	}
}

// CanTransact reports whether the terminal may sign on and transact: active, not blocked.
// Otherwise it returns a *StatusError (wrapping ErrBlocked or ErrNotActive).
func (t *Terminal) CanTransact() error {
	if t.Status == StatusActive {
		return nil
	}
	return &StatusError{TID: t.TID, Status: t.Status, Reason: t.BlockReason}
}

// NeedsSoftwareUpdate reports whether an operator set a target version and the version the
// terminal last reported is below it. Versions made only of digits compare as numbers, others
// byte-wise; surrounding spaces are ignored.
func (t *Terminal) NeedsSoftwareUpdate() bool {
	target := strings.TrimSpace(t.TargetVersion)
	have := strings.TrimSpace(t.SoftwareVersion)
	if target == "" || have == target {
		return false
	}
	if have == "" {
		return true
	}
	if digits(have) && digits(target) {
		a, err1 := strconv.ParseUint(have, 10, 64)
		b, err2 := strconv.ParseUint(target, 10, 64)
		if err1 == nil && err2 == nil {
			return a < b
		}
	}
	return have < target
}

// Clone returns a deep copy of t: the copy shares no memory with t, so callers may change it
// freely. It makes at most two allocations (operators and one buffer for all key cipher texts).
func (t *Terminal) Clone() Terminal {
	c := *t
	if t.Operators != nil {
		c.Operators = slices.Clone(t.Operators)
	}
	n := len(t.Keys.TMK.Cipher) + len(t.Keys.PIK.Cipher) + len(t.Keys.MAK.Cipher) + len(t.Keys.TDK.Cipher)
	if n == 0 {
		return c
	}
	buf := make([]byte, 0, n)
	cp := func(dst *hsm.WrappedKey) {
		if dst.Cipher == nil {
			return
		}
		start := len(buf)
		buf = append(buf, dst.Cipher...)
		dst.Cipher = buf[start:len(buf):len(buf)]
	}
	cp(&c.Keys.TMK)
	cp(&c.Keys.PIK)
	cp(&c.Keys.MAK)
	cp(&c.Keys.TDK)
	return c
}
