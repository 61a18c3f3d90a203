package termsim

import (
	"errors"
	"strconv"
)

// Sentinel errors, for errors.Is. No error of this package holds card data, a PIN or a key.
var (
	// ErrTimeout: no response arrived within Config.Timeout (or the context's earlier deadline).
	ErrTimeout = errors.New("termsim: no response within the timeout")
	// ErrNoResponse: the connection was closed, or failed, before the response arrived.
	ErrNoResponse = errors.New("termsim: connection closed before the response")
	// ErrMalformedResponse: a response frame could not be read or decoded.
	ErrMalformedResponse = errors.New("termsim: malformed response")
	// ErrResponseMAC: the response's field 64 is wrong or missing where it is required.
	ErrResponseMAC = errors.New("termsim: response MAC does not verify")
	// ErrDeclined: the gateway answered with a response code other than 00 (see DeclinedError).
	ErrDeclined = errors.New("termsim: declined")
	// ErrNotActivated: the terminal holds no TMK (activate it, or configure Config.TMK).
	ErrNotActivated = errors.New("termsim: terminal not activated")
	// ErrNotSignedOn: the terminal holds no working keys (sign on first).
	ErrNotSignedOn = errors.New("termsim: terminal not signed on")
	// ErrReversalPending: a reversal owed to the gateway could not be delivered, so the terminal
	// refuses to start a new transaction (as a real device does).
	ErrReversalPending = errors.New("termsim: a reversal is still pending")
	// ErrAdvicePending: a refund that went unanswered could still not be delivered, so the
	// terminal refuses to start a new transaction or settle until the gateway answers it.
	ErrAdvicePending = errors.New("termsim: an unanswered refund is still pending")
	// ErrSettlement: the 0510 carried the error flag (3), or a batch upload was refused.
	ErrSettlement = errors.New("termsim: settlement failed")
	// ErrBook: the terminal's book does not fit field 48 (more than 999 transactions or an
	// amount over 12 digits on one side).
	ErrBook = errors.New("termsim: batch totals do not fit field 48")
	// ErrCard: the Card is unusable for the message (no PAN, bad expiry, no TDK for an
	// encrypted track …); CardError says which part.
	ErrCard = errors.New("termsim: unusable card")
	// ErrAmount: an amount is not 1 to 999999999999 fen.
	ErrAmount = errors.New("termsim: amount out of range")
	// ErrNoTDK: an encrypted track was asked for, but the last sign-on (layout 001 or 003)
	// delivered no TDK.
	ErrNoTDK = errors.New("termsim: no track data key (sign on with layout 004)")
)

// ConfigError is a Config field that Validate rejects.
type ConfigError struct {
	Field, Reason string
}

func (e *ConfigError) Error() string { return "termsim: config " + e.Field + ": " + e.Reason }

// DeclinedError is a response with a code other than 00. It unwraps to ErrDeclined; the Result
// returned with it holds the rest of the response.
type DeclinedError struct {
	Op   Op     // what the terminal was doing
	Code string // field 39
}

func (e *DeclinedError) Error() string {
	return "termsim: " + e.Op.String() + " declined with response code " + strconv.Quote(e.Code)
}

// Unwrap returns ErrDeclined.
func (e *DeclinedError) Unwrap() error { return ErrDeclined }

// CardError says which part of a Card is unusable. It unwraps to ErrCard and never holds the
// value.
type CardError struct {
	Part string // "PAN", "expiry", "track 2", "PIN", "ICC", "entry mode"
	Err  error  // the underlying cause, when there is one (codec or hsm error)
}

func (e *CardError) Error() string {
	s := "termsim: unusable card: " + e.Part
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrCard and the cause.
func (e *CardError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCard, e.Err}
	}
	return []error{ErrCard}
}

// ExchangeError wraps the failure of one exchange with the operation and the STAN it used, so
// a load generator can count failures per operation. It unwraps to the cause (ErrTimeout,
// ErrNoResponse, ErrMalformedResponse, ErrResponseMAC or a network error).
type ExchangeError struct {
	Op   Op
	STAN uint32
	Err  error
}

func (e *ExchangeError) Error() string {
	return "termsim: " + e.Op.String() + " (STAN " + strconv.FormatUint(uint64(e.STAN), 10) + "): " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ExchangeError) Unwrap() error { return e.Err }
