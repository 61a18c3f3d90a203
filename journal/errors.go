package journal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Typed errors below wrap them; test with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every ConfigError.
	ErrInvalidConfig = errors.New("journal: invalid config")
	// ErrInvalidRecord is wrapped by every RecordError.
	ErrInvalidRecord = errors.New("journal: invalid record")
	// ErrRequired: a mandatory field is empty.
	ErrRequired = errors.New("required")
	// ErrOutOfRange: a value is outside its allowed range.
	ErrOutOfRange = errors.New("out of range")
	// ErrFormat: a value has the wrong characters or length.
	ErrFormat = errors.New("bad format")
	// ErrNotMasked: a MaskedPAN shows more than the first 6 and last 4 digits,
	// or a PANToken looks like a clear PAN.
	ErrNotMasked = errors.New("card number not masked")
	// ErrInvalidDate: a date string is not a valid YYYYMMDD.
	ErrInvalidDate = errors.New("journal: invalid date")
	// ErrCorrupt: a stored segment or record does not decode.
	ErrCorrupt = errors.New("journal: corrupt data")
	// ErrClosed: the Journal has been closed.
	ErrClosed = errors.New("journal: closed")
	// ErrNotDurable: the segment holding the record was not acknowledged by the
	// server. The record may or may not have been stored; retrying Append with the
	// same transaction id is safe (Read de-duplicates).
	ErrNotDurable = errors.New("journal: append not acknowledged")
)

// ConfigError reports an invalid configuration field.
type ConfigError struct {
	// Field is the name of the offending field.
	Field string
	// Err is the reason, usually ErrRequired, ErrOutOfRange or ErrFormat.
	Err error
}

// Error implements error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("journal: config %s: %v", e.Field, e.Err)
}

// Unwrap returns both ErrInvalidConfig and the reason.
func (e *ConfigError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

// RecordError reports an invalid Record field. Its text names the field and the
// reason only, never the value (which may be card data).
type RecordError struct {
	// Field is the Record field name, e.g. "MaskedPAN".
	Field string
	// Err is the reason: ErrRequired, ErrFormat, ErrOutOfRange or ErrNotMasked.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("journal: record %s: %v", e.Field, e.Err)
}

// Unwrap returns both ErrInvalidRecord and the reason.
func (e *RecordError) Unwrap() []error { return []error{ErrInvalidRecord, e.Err} }

// CorruptError reports where a stored segment failed to decode.
type CorruptError struct {
	// Seq is the stream sequence of the segment (0 if unknown).
	Seq uint64
	// Offset is the byte offset within the segment payload.
	Offset int
	// Reason says what was wrong.
	Reason string
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: corrupt segment seq %d at offset %d: %s", e.Seq, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
