package terminal

import (
	"errors"
	"strconv"
)

// Sentinel errors of the registry. Match them with errors.Is; the typed errors below wrap them.
var (
	// ErrInvalid: an input failed validation (see FieldError for which field).
	ErrInvalid = errors.New("terminal: invalid input")
	// ErrNotFound: the terminal, merchant, SN binding or activation code does not exist.
	ErrNotFound = errors.New("terminal: not found")
	// ErrExists: a terminal or merchant with that identifier already exists.
	ErrExists = errors.New("terminal: already exists")
	// ErrSNBound: the serial number is already bound to another terminal.
	ErrSNBound = errors.New("terminal: serial number bound to another terminal")
	// ErrNoSN: the operation needs a terminal with a bound serial number.
	ErrNoSN = errors.New("terminal: no serial number bound")
	// ErrCodeExpired: the activation code has expired.
	ErrCodeExpired = errors.New("terminal: activation code expired")
	// ErrCodeSpent: the activation code was already used.
	ErrCodeSpent = errors.New("terminal: activation code already spent")
	// ErrLocked: the SN presented too many activation proofs and must wait (ProofDelay) before
	// the next; an operator may unlock it (UnlockActivation) or issue a new code.
	ErrLocked = errors.New("terminal: serial number must wait before another activation proof")
	// ErrStale: a sign-on is not fresh — its batch and STAN do not come after the last
	// accepted sign-on's (a replay); the keys were not rotated.
	ErrStale = errors.New("terminal: sign-on not fresh")
	// ErrConflict: the record changed since the caller read it (revision, key generation,
	// batch number or activation code no longer match); re-read and retry.
	ErrConflict = errors.New("terminal: concurrent modification")
	// ErrBlocked: the terminal is blocked (lost, stolen or other).
	ErrBlocked = errors.New("terminal: blocked")
	// ErrNotActive: the terminal has not been activated yet.
	ErrNotActive = errors.New("terminal: not activated")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("terminal: store closed")
)

// FieldError says which input field failed validation and why. It never holds the value.
type FieldError struct {
	Field  string // name of the field, e.g. "TID", "MCC", "Batch"
	Reason string // what the value must be, e.g. "must be 4 digits"
}

// Error returns "terminal: invalid <Field>: <Reason>".
func (e *FieldError) Error() string { return "terminal: invalid " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

// Kind names the kind of record a RecordError is about.
type Kind string

// Record kinds.
const (
	KindTerminal       Kind = "terminal"
	KindMerchant       Kind = "merchant"
	KindSN             Kind = "serial number"
	KindActivationCode Kind = "activation code"
)

// RecordError reports an error about one record, identified by its kind and identifier
// (a TID, MID or SN — identifiers, never secrets).
type RecordError struct {
	Kind Kind
	ID   string
	Err  error // one of the sentinels
}

// Error returns "terminal: <kind> <id>: <cause>".
func (e *RecordError) Error() string {
	return "terminal: " + string(e.Kind) + " " + strconv.Quote(e.ID) + ": " + trimPrefix(e.Err)
}

// Unwrap returns the sentinel.
func (e *RecordError) Unwrap() error { return e.Err }

// NewRecordError returns a *RecordError; for store implementations.
func NewRecordError(kind Kind, id string, err error) error {
	return &RecordError{Kind: kind, ID: id, Err: err}
}

// StatusError reports that a terminal's status forbids the operation.
type StatusError struct {
	TID    string
	Status Status
	Reason BlockReason // set when Status is StatusBlocked
}

// Error returns "terminal: terminal "<TID>": blocked (lost)" or similar.
func (e *StatusError) Error() string {
	s := "terminal: terminal " + strconv.Quote(e.TID) + ": " + e.Status.String()
	if e.Status == StatusBlocked {
		s += " (" + e.Reason.String() + ")"
	}
	return s
}

// Unwrap returns ErrBlocked for a blocked terminal and ErrNotActive otherwise.
func (e *StatusError) Unwrap() error {
	if e.Status == StatusBlocked {
		return ErrBlocked
	}
	return ErrNotActive
}

// SNBoundError reports that an SN is already bound to another terminal.
type SNBoundError struct {
	SN  string
	TID string // the terminal holding the SN
}

// Error names the SN and the terminal that holds it.
func (e *SNBoundError) Error() string {
	return "terminal: serial number " + strconv.Quote(e.SN) + " bound to terminal " + strconv.Quote(e.TID)
}

// Unwrap returns ErrSNBound.
func (e *SNBoundError) Unwrap() error { return ErrSNBound }

// trimPrefix drops the "terminal: " prefix of a sentinel so wrapped messages don't repeat it.
func trimPrefix(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	const p = "terminal: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
