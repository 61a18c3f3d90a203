package natsembed

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Defaults applied by Config.withDefaults.
const (
	// DefaultHost is the loopback address the embedded server listens on.
	DefaultHost = "127.0.0.1"
	// DefaultDataDir is where `posgate serve` keeps JetStream data.
	DefaultDataDir = "./data/nats"
	// DefaultReadyTimeout bounds how long Start waits for the server to accept clients.
	DefaultReadyTimeout = 10 * time.Second
	// DefaultServerName names the embedded server in logs and JetStream metadata.
	DefaultServerName = "posgate-embedded"
)

// ErrInvalidConfig is wrapped by every ConfigError.
var ErrInvalidConfig = errors.New("natsembed: invalid config")

// ConfigError reports which Config field is invalid and why.
type ConfigError struct {
	// Field is the Config field name.
	Field string
	// Reason says what is wrong, without echoing secrets.
	Reason string
}

// Error implements error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("natsembed: config %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Config configures the embedded server. The zero value plus a DataDir is a valid
// configuration: loopback, random port, fsync on every write.
type Config struct {
	// DataDir is the JetStream store directory. Required (`posgate serve` uses DefaultDataDir).
	DataDir string
	// Host is the listen address. Default DefaultHost (loopback). A non-loopback
	// host is rejected unless AllowRemote is set.
	Host string
	// Port is the client port; 0 picks a random free port (see Server.ClientURL).
	Port int
	// AllowRemote permits a non-loopback Host. The embedded server has no
	// authentication, so this is off by default.
	AllowRemote bool
	// NoSyncAlways turns off fsync-before-acknowledge. Default false: every
	// JetStream write to a file-backed stream is fsynced before it is acknowledged
	// (server option SyncAlways, config `sync_interval: always`). Only benchmarks
	// comparing the cost of durability should set it.
	NoSyncAlways bool
	// SyncInterval is the background fsync interval used when NoSyncAlways is set.
	// Default 0 means the server default (2 minutes).
	SyncInterval time.Duration
	// MaxMemory caps JetStream memory storage in bytes; 0 means the server default
	// (75% of system memory).
	MaxMemory int64
	// MaxStore caps JetStream file storage in bytes; 0 means the server default
	// (up to 1 TB, bounded by free disk).
	MaxStore int64
	// ServerName names the server. Default DefaultServerName.
	ServerName string
	// ReadyTimeout bounds how long Start waits for the listener. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Debug enables the server's debug log (routed to the zap logger at debug level).
	Debug bool
}

func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	return c
}

// Validate reports the first invalid field as a *ConfigError. Defaults are applied
// before checking, so unset optional fields are valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.DataDir == "" {
		return &ConfigError{Field: "DataDir", Reason: "required"}
	}
	if c.Port < 0 || c.Port > 65535 {
		return &ConfigError{Field: "Port", Reason: "must be 0 (random) or 1-65535"}
	}
	if c.SyncInterval < 0 {
		return &ConfigError{Field: "SyncInterval", Reason: "must not be negative"}
	}
	if c.MaxMemory < 0 {
		return &ConfigError{Field: "MaxMemory", Reason: "must not be negative"}
	}
	if c.MaxStore < 0 {
		return &ConfigError{Field: "MaxStore", Reason: "must not be negative"}
	}
	if c.ReadyTimeout < 0 {
		return &ConfigError{Field: "ReadyTimeout", Reason: "must not be negative"}
	}
	if !c.AllowRemote && !isLoopback(c.Host) {
		return &ConfigError{Field: "Host", Reason: "not a loopback address and AllowRemote is false"}
	}
	return nil
}

// isLoopback reports whether host is "localhost" or a loopback IP literal.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
