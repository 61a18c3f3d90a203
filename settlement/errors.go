package settlement

import (
	"errors"
	"fmt"
)

// Sentinel errors; the typed errors below wrap them. Test with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every *ConfigError.
	ErrInvalidConfig = errors.New("settlement: invalid config")
	// ErrNotClosed: the business date's cut-off has not passed (see RunOptions.AllowOpen).
	ErrNotClosed = errors.New("settlement: business date not closed yet")
	// ErrAlreadySettled: a finished run exists for the date; settling it again needs
	// RunOptions.Rerun.
	ErrAlreadySettled = errors.New("settlement: business date already settled (re-run needs --rerun)")
	// ErrRunInProgress: another run holds the date.
	ErrRunInProgress = errors.New("settlement: a run for this date is in progress")
	// ErrSuperseded: another run claimed the date after this one went stale; this run
	// published nothing and recorded nothing.
	ErrSuperseded = errors.New("settlement: the run's claim was taken over by another run")
	// ErrNoRun: no run is recorded for the date.
	ErrNoRun = errors.New("settlement: no run recorded")
	// ErrUnknownFeePlan: a merchant names a fee plan the configuration does not have.
	ErrUnknownFeePlan = errors.New("settlement: unknown fee plan")
	// ErrUnknownMerchant is returned by a Merchants implementation for an unknown MID.
	ErrUnknownMerchant = errors.New("settlement: unknown merchant")
	// ErrInvariant: the totals do not add up (net ≠ gross − refunds − fees). It would be a bug;
	// no file is published.
	ErrInvariant = errors.New("settlement: totals invariant violated")
	// ErrBadFile: a settlement file name that is not one of the run's files.
	ErrBadFile = errors.New("settlement: no such settlement file")
)

// ConfigError reports an invalid configuration field.
type ConfigError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *ConfigError) Error() string { return fmt.Sprintf("settlement: config %s: %v", e.Field, e.Err) }

// Unwrap returns ErrInvalidConfig and the reason.
func (e *ConfigError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

// FeePlanError names the merchant whose fee plan is not configured.
type FeePlanError struct {
	MID  string
	Plan string
}

// Error implements error.
func (e *FeePlanError) Error() string {
	return fmt.Sprintf("settlement: merchant %s: fee plan %q not configured", e.MID, e.Plan)
}

// Unwrap returns ErrUnknownFeePlan.
func (e *FeePlanError) Unwrap() error { return ErrUnknownFeePlan }

var (
	errOutOfRange = errors.New("out of range")
	errRequired   = errors.New("required")
	errFormat     = errors.New("bad format")
)
