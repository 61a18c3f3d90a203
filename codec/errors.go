package codec

import (
	"errors"
	"strconv"
)

// Sentinel errors. A FieldError wraps one of them with the field number; none holds a value.
var (
	ErrTooLong        = errors.New("value longer than spec")
	ErrTooShort       = errors.New("value shorter than spec")
	ErrLength         = errors.New("value length differs from spec")
	ErrBadLength      = errors.New("bad length prefix")
	ErrTruncated      = errors.New("message ends inside the field")
	ErrInvalidChar    = errors.New("character not allowed by the field's format")
	ErrBadPadding     = errors.New("bad padding nibble")
	ErrUnknownField   = errors.New("field not defined in profile")
	ErrNotPresent     = errors.New("field not present")
	ErrMTI            = errors.New("bad message type indicator")
	ErrBitmap         = errors.New("bad bitmap")
	ErrTrailing       = errors.New("bytes after the last field")
	ErrEmpty          = errors.New("empty message")
	ErrFrameTooLarge  = errors.New("frame longer than the maximum")
	ErrFrameTooShort  = errors.New("frame shorter than TPDU, header, MTI and bitmap")
	ErrTPDU           = errors.New("TPDU id is not 0x60")
	ErrHeader         = errors.New("bad header")
	ErrTLV            = errors.New("malformed TLV")
	ErrSubfield       = errors.New("malformed sub-field")
	ErrValueRedacted  = errors.New("value is redacted")
	ErrNoSuchProfile  = errors.New("unknown profile")
	ErrNumberTooLarge = errors.New("number does not fit the field")
)

// FieldError is an error about one field (0 is the MTI, 1 the bitmap).
type FieldError struct {
	Field int
	Err   error
}

func (e *FieldError) Error() string {
	switch e.Field {
	case 0:
		return "MTI: " + e.Err.Error()
	case 1:
		return "bitmap: " + e.Err.Error()
	}
	return "field " + strconv.Itoa(e.Field) + ": " + e.Err.Error()
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(n int, err error) error { return &FieldError{Field: n, Err: err} }
