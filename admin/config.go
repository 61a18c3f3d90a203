package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/terminal"
)

// Defaults of Config.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultRequestTimeout    = 10 * time.Second
	DefaultMaxBodyBytes      = 64 << 10
)

// ErrConfig is wrapped by every *ConfigError.
var ErrConfig = errors.New("admin: invalid configuration")

// ConfigError says which Config field is wrong and why; it never holds the value (the token is
// one of the fields).
type ConfigError struct {
	Field  string
	Reason string
}

// Error returns "admin: invalid configuration: <Field> <Reason>".
func (e *ConfigError) Error() string { return ErrConfig.Error() + ": " + e.Field + " " + e.Reason }

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// Config configures a Server. Zero durations and sizes take the defaults above.
type Config struct {
	// Addr is the admin listener's "host:port" for Start. Default DefaultAddr ("127.0.0.1:8080").
	Addr string
	// Token is the bearer token every request but /healthz and /readyz must carry. Required;
	// see ValidToken. cmd/ reads it from a file or the environment, never from argv.
	Token string
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS (TLS 1.2 or later) with that
	// certificate chain and key (PEM). Without them the server speaks plain HTTP, which is
	// refused on a non-loopback Addr unless Plaintext is set (TLS terminated in front).
	TLSCertFile, TLSKeyFile string
	// Plaintext allows plain HTTP on a non-loopback address.
	Plaintext bool

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the http.Server's.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// RequestTimeout bounds the registry and security-module calls of one request; past it the
	// request fails with 504 (adminapi.CodeTimeout). Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body; a larger one gets 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Tokens holds the named API tokens with their roles (POST/GET/DELETE /v1/tokens); nil: only
	// Token (the bootstrap token, role admin) is accepted.
	Tokens Tokens
	// Audit is the audit trail every state-changing request is written to (GET /v1/audit); nil
	// keeps none (tests of other parts; the node always sets it).
	Audit AuditLog
	// Node names this server in audit records.
	Node string
	// Settlement serves /v1/settlement/runs (see settlement.go); nil answers 404 there.
	Settlement Settlement
	// Reversals serves /v1/reversals (see reversals.go); nil answers 404 there.
	Reversals Reversals

	// CodeTTL is the validity of an activation code when the request gives none. Default
	// terminal.DefaultCodeTTL (7 days); at most terminal.MaxCodeTTL.
	CodeTTL time.Duration

	// Ready reports whether the process is ready to serve traffic: nil means ready, an error is
	// the reason it is not, sent verbatim in /readyz's 503 body (the probe needs no token, so the
	// reason must not hold secrets). nil Ready means always ready.
	Ready func(ctx context.Context) error
	// Gatherer is served on /metrics (behind the token). nil: /metrics is not served (404).
	Gatherer prometheus.Gatherer
	// Stats returns the node's live statistics for the dashboard (/v1/stats, behind the token).
	// nil: /v1/stats is not served (404); the dashboard page then shows nothing live.
	Stats func(ctx context.Context) (adminapi.Stats, error)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return &ConfigError{Field: "Addr", Reason: "must be host:port"}
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return &ConfigError{Field: "TLS", Reason: "needs both a certificate and a key"}
	}
	if c.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return &ConfigError{Field: "TLS", Reason: "certificate and key do not load: " + tlsReason(err)}
		}
	} else if !c.Plaintext && !Loopback(c.withDefaults().Addr) {
		return &ConfigError{Field: "Addr", Reason: "is not loopback: serve TLS (a certificate and key) or allow plain HTTP explicitly"}
	}
	if err := ValidToken(c.Token); err != nil {
		return &ConfigError{Field: "Token", Reason: "must be " + tokenRule}
	}
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 || c.RequestTimeout < 0 {
		return &ConfigError{Field: "Timeouts", Reason: "must not be negative"}
	}
	if c.MaxBodyBytes < 0 {
		return &ConfigError{Field: "MaxBodyBytes", Reason: "must not be negative"}
	}
	if _, err := terminal.CodeTTL(c.CodeTTL); err != nil {
		return &ConfigError{Field: "CodeTTL", Reason: "must be between 0 (default 7 days) and 90 days"}
	}
	return nil
}

// Loopback reports whether the "host:port" address listens on loopback only (127.0.0.0/8, ::1
// or localhost); an empty host means every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsReason names why a key pair did not load, without file content.
func tlsReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return "not a PEM certificate and matching private key"
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.RequestTimeout, DefaultRequestTimeout)
	def(&c.CodeTTL, terminal.DefaultCodeTTL)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return c
}
