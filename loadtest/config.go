package loadtest

import (
	"errors"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/posgate/posgate/adminapi"
)

// Defaults of Config.
const (
	DefaultTerminals            = 10
	DefaultRate                 = 100.0
	DefaultDuration             = 60 * time.Second
	DefaultTimeout              = 10 * time.Second
	DefaultTerminalsPerMerchant = 20
	DefaultSetupConcurrency     = 16
	DefaultKeyPoolSize          = 8
	// DefaultBatchLimit is the book size at which a terminal settles during the run, as a
	// device does when its batch is full (field 48 holds at most 999 debits and 999 credits).
	DefaultBatchLimit = 900
	// DefaultPIN is the PIN the embedded issuer simulator accepts.
	DefaultPIN = "123456"
	// MaxTerminals bounds the fleet (TIDs hold four base-36 digits of index; each terminal is
	// a goroutine and a connection).
	MaxTerminals = 100_000
	// ConnsPerSourceAddr is how many connections (terminals and idle ones) share one loopback
	// source address, below the gateway's default per-address limit of 1000.
	ConnsPerSourceAddr = 500
)

// Config of a run. The zero value of each optional field selects the default documented on it.
type Config struct {
	// Target is the gateway's terminal listener, host:port. Required.
	Target string
	// Admin is the admin API client that provisions the fleet (BaseURL and Token set).
	// Required.
	Admin *adminapi.Client
	// AllowRemote lets Target and the admin API be off loopback; by default Run refuses them
	// (ErrNotLoopback).
	AllowRemote bool

	// Terminals is the fleet size; default DefaultTerminals, at most MaxTerminals.
	Terminals int
	// Rate is the open-loop arrival rate, transactions per second; default DefaultRate.
	Rate float64
	// Duration is the scheduled window; default DefaultDuration.
	Duration time.Duration
	// Mix weighs the operations; zero means DefaultMix.
	Mix Mix
	// Timeout is each terminal exchange's time limit (a financial request unanswered by then
	// is reversed); default DefaultTimeout.
	Timeout time.Duration
	// Drain is how long after Duration scheduled requests may still wait for an idle terminal
	// before they are abandoned; default Timeout.
	Drain time.Duration

	// IdleConnections opens that many extra TCP connections to Target after sign-on and keeps
	// them idle (they send nothing) until the fleet has settled. 0: none.
	IdleConnections int

	// RunID makes the fleet's identities (TIDs, SNs, MIDs) unique per run: 4 characters
	// 0-9A-Z. "" draws one that is not in use on the server yet.
	RunID string
	// TerminalsPerMerchant: one merchant is created per that many terminals; default
	// DefaultTerminalsPerMerchant.
	TerminalsPerMerchant int
	// SetupConcurrency bounds parallel admin calls, activations, sign-ons and settlements;
	// default DefaultSetupConcurrency.
	SetupConcurrency int
	// KeyPoolSize is the number of RSA keys shared by the activations; default
	// DefaultKeyPoolSize.
	KeyPoolSize int
	// BatchLimit: a terminal whose batch holds that many approved debits and credits settles
	// it before its next request; default DefaultBatchLimit, at most 999.
	BatchLimit int
	// PIN is entered on purchases, balance inquiries and pre-authorizations; default
	// DefaultPIN.
	PIN string
	// Books, when set, receives the terminals' books after the run: one CSV line per
	// financial transaction as its terminal saw it (WriteBooks, docs/reconcile.md).
	// Run keeps them in memory until the end, about 200 bytes per transaction.
	Books io.Writer
	// Seed makes the draws (operations, amounts, cards) repeatable; 0 draws a seed.
	Seed uint64

	// Progress receives the phase lines and a line per second during the traffic; nil: none.
	Progress io.Writer
	// ProgressBar redraws one line with a bar (for a terminal) instead of printing lines.
	ProgressBar bool
}

// ConfigError names the Config field Validate rejects.
type ConfigError struct{ Field, Reason string }

func (e *ConfigError) Error() string { return "loadtest: config " + e.Field + ": " + e.Reason }

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// ErrConfig is wrapped by every ConfigError.
var ErrConfig = errors.New("loadtest: bad configuration")

func (c Config) withDefaults() Config {
	if c.Terminals == 0 {
		c.Terminals = DefaultTerminals
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Mix == (Mix{}) {
		c.Mix = DefaultMix
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Drain == 0 {
		c.Drain = c.Timeout
	}
	if c.TerminalsPerMerchant == 0 {
		c.TerminalsPerMerchant = DefaultTerminalsPerMerchant
	}
	if c.SetupConcurrency == 0 {
		c.SetupConcurrency = DefaultSetupConcurrency
	}
	if c.KeyPoolSize == 0 {
		c.KeyPoolSize = DefaultKeyPoolSize
	}
	if c.PIN == "" {
		c.PIN = DefaultPIN
	}
	if c.BatchLimit == 0 {
		c.BatchLimit = DefaultBatchLimit
	}
	return c
}

// Validate reports whether c, with its defaults applied, describes a run.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(f, why string) error { return &ConfigError{f, why} }
	if _, _, err := net.SplitHostPort(c.Target); err != nil {
		return bad("Target", "must be host:port")
	}
	if c.Admin == nil {
		return bad("Admin", "required")
	}
	if u, err := url.Parse(c.Admin.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("Admin", "BaseURL must be an http:// or https:// URL")
	}
	switch {
	case c.Terminals < 0 || c.Terminals > MaxTerminals:
		return bad("Terminals", "must be 1 to 100000")
	case !(c.Rate > 0) || c.Rate > 1e6:
		return bad("Rate", "must be above 0 and at most 1000000 per second")
	case c.Duration < 0 || c.Duration > 24*time.Hour:
		return bad("Duration", "must be positive and at most 24h")
	case c.Mix.Total() <= 0:
		return bad("Mix", "weights must add up to more than 0")
	case c.Timeout < 0 || c.Drain < 0:
		return bad("Timeout", "must not be negative")
	case c.IdleConnections < 0 || c.IdleConnections > 1_000_000:
		return bad("IdleConnections", "must be 0 to 1000000")
	case c.RunID != "" && !validRunID(c.RunID):
		return bad("RunID", "must be 4 characters 0-9A-Z")
	case c.TerminalsPerMerchant < 1 || c.SetupConcurrency < 1 || c.KeyPoolSize < 1:
		return bad("TerminalsPerMerchant", "counts must be positive")
	case c.BatchLimit < 1 || c.BatchLimit > 999:
		return bad("BatchLimit", "must be 1 to 999")
	case len(c.PIN) < 4 || len(c.PIN) > 12 || !digits(c.PIN):
		return bad("PIN", "must be 4 to 12 digits")
	}
	for k, w := range c.Mix {
		if w < 0 {
			return bad("Mix", kindNames[k]+": negative weight")
		}
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
