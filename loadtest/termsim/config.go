package termsim

import (
	"context"
	"net"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
)

// Defaults of Config.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultReversalRetries = 3
	DefaultDeviceType      = "02" // traditional POS
	DefaultAppVersion      = "TSIM0001"
	DefaultOperator        = "01 "
	DefaultSoftwareVersion = "000001"
	DefaultCurrency        = "156"
)

// DefaultTPDU is the TPDU a terminal sends when Config.TPDU is zero: id 0x60, destination 0003,
// source 0000 (the values of the public vectors).
var DefaultTPDU = codec.TPDU{0x60, 0x00, 0x03, 0x00, 0x00}

// DefaultHeader is the header (app type 60, spec version 31, status 0, requirement 0) a terminal
// sends when Config.Header is zero; its software version comes from Config.SoftwareVersion.
var DefaultHeader = codec.Header{0x60, 0x31, 0x00, 0x00, 0x00, 0x00}

// Config describes one simulated terminal. The zero value of each optional field selects the
// default documented on it; Validate reports what is missing or malformed.
type Config struct {
	// Addr is the gateway's host:port. Required.
	Addr string
	// Dial opens a connection; nil means a net.Dialer with a timeout of Timeout. The load
	// generator may set it to choose local addresses.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// TPDU is sent on every request; zero means DefaultTPDU. Its first byte must be 0x60.
	TPDU codec.TPDU
	// Header is sent on every request with its processing-requirement nibble cleared; zero means
	// DefaultHeader. Bytes 3–5 (the software version) are replaced by SoftwareVersion.
	Header codec.Header
	// SoftwareVersion is the header's software version, 6 digits; default DefaultSoftwareVersion.
	SoftwareVersion string

	// SN is the hardware serial number (field 59 tag 02), up to 50 characters. Required.
	SN string
	// TID (8 characters) and MID (15) identify the terminal. They may be empty before
	// activation, which learns them from the gateway's response.
	TID, MID string
	// DeviceType is field 59 tag 01, 2 characters; default DefaultDeviceType.
	DeviceType string
	// AppVersion is field 59 tag 05, up to 8 characters, space padded; default DefaultAppVersion.
	AppVersion string
	// Operator is field 63 of sign-on and settlement, 2 or 3 characters; default DefaultOperator.
	Operator string
	// Currency is field 49; default DefaultCurrency (CNY).
	Currency string

	// MACAlgorithm is the terminal's MAC setting; zero means hsm.MACPOSECB.
	MACAlgorithm hsm.MACAlgorithm
	// SignOnLayout is the key layout asked for on sign-on (60.3); zero means hsm.SignOn003.
	SignOnLayout hsm.SignOnLayout
	// Legacy terminals send no field 59 on sign-on (an operator must have marked the terminal
	// legacy in posgate). Their financial messages still carry it.
	Legacy bool

	// TMK is a clear terminal master key (8 or 16 bytes) injected at manufacture; nil means the
	// terminal must be activated first. It is not retained: the terminal keeps only its key
	// schedule.
	TMK []byte
	// KeyPool supplies RSA keys to Activate when it is given none; nil means a key is generated
	// for each activation.
	KeyPool *KeyPool

	// Batch is the batch number (60.2) before the first sign-on answer sets it; default 1.
	Batch uint32
	// STAN is the first trace number the terminal uses; default 1.
	STAN uint32

	// Timeout bounds each exchange: a request that gets no response within it is reversed when
	// its type is reversible. Default DefaultTimeout.
	Timeout time.Duration
	// ReversalRetries is how many times a reversal (0400) is sent, at most, before it is put
	// aside until the next transaction; default DefaultReversalRetries.
	ReversalRetries int
	// OnReversal, when set, is called with the STAN of each reversal a 0410 acknowledged — at
	// once or on a later exchange — from the goroutine driving the terminal.
	OnReversal func(stan uint32)
	// OnAdvice, when set, is called with the outcome of a refund that went unanswered when it
	// was made and was answered later, delivered before a following transaction or settlement
	// (an approved one has entered the book then), from the goroutine driving the terminal.
	OnAdvice func(res Result)
	// KeepSettings makes the terminal ignore the timeout and reversal retries of a parameter
	// download (a load generator wants its own); by default a download replaces them.
	KeepSettings bool
	// ShortConnections dials a new connection for every exchange and closes it after the
	// response; by default the terminal keeps one long connection and redials when it drops.
	ShortConnections bool
	// MaxFrame bounds the length a response frame may declare; default codec.DefaultMaxFrame.
	MaxFrame int
}

// withDefaults returns c with every zero optional field set to its default.
func (c Config) withDefaults() Config {
	if c.TPDU == (codec.TPDU{}) {
		c.TPDU = DefaultTPDU
	}
	if c.Header == (codec.Header{}) {
		c.Header = DefaultHeader
	}
	if c.SoftwareVersion == "" {
		c.SoftwareVersion = DefaultSoftwareVersion
	}
	if c.DeviceType == "" {
		c.DeviceType = DefaultDeviceType
	}
	if c.AppVersion == "" {
		c.AppVersion = DefaultAppVersion
	}
	if c.Operator == "" {
		c.Operator = DefaultOperator
	}
	if c.Currency == "" {
		c.Currency = DefaultCurrency
	}
	if c.MACAlgorithm == 0 {
		c.MACAlgorithm = hsm.MACPOSECB
	}
	if c.SignOnLayout == 0 {
		c.SignOnLayout = hsm.SignOn003
	}
	if c.Batch == 0 {
		c.Batch = 1
	}
	if c.STAN == 0 {
		c.STAN = 1
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ReversalRetries == 0 {
		c.ReversalRetries = DefaultReversalRetries
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = codec.DefaultMaxFrame
	}
	return c
}

// Validate reports whether c, with its defaults applied, describes a usable terminal. The error
// is a *ConfigError naming the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field, why string) error { return &ConfigError{Field: field, Reason: why} }
	switch {
	case c.Addr == "":
		return bad("Addr", "required")
	case c.TPDU[0] != 0x60:
		return bad("TPDU", "id must be 0x60")
	case !isDigits(c.SoftwareVersion) || len(c.SoftwareVersion) != 6:
		return bad("SoftwareVersion", "must be 6 digits")
	case c.SN == "" || len(c.SN) > 50:
		return bad("SN", "1 to 50 characters required")
	case c.TID != "" && len(c.TID) != 8:
		return bad("TID", "must be 8 characters")
	case c.MID != "" && len(c.MID) != 15:
		return bad("MID", "must be 15 characters")
	case len(c.DeviceType) != 2:
		return bad("DeviceType", "must be 2 characters")
	case len(c.AppVersion) > 8:
		return bad("AppVersion", "at most 8 characters")
	case len(c.Operator) < 2 || len(c.Operator) > 3:
		return bad("Operator", "must be 2 or 3 characters")
	case len(c.Currency) != 3:
		return bad("Currency", "must be 3 characters")
	case c.MACAlgorithm != hsm.MACPOSECB && c.MACAlgorithm != hsm.MACX919:
		return bad("MACAlgorithm", "unknown algorithm")
	case !c.SignOnLayout.Valid():
		return bad("SignOnLayout", "unknown layout")
	case c.TMK != nil && len(c.TMK) != 8 && len(c.TMK) != 16:
		return bad("TMK", "must be 8 or 16 bytes")
	case c.Batch > 999999:
		return bad("Batch", "at most 999999")
	case c.STAN > 999999:
		return bad("STAN", "at most 999999")
	case c.Timeout < 0:
		return bad("Timeout", "must not be negative")
	case c.ReversalRetries < 0:
		return bad("ReversalRetries", "must not be negative")
	case c.MaxFrame < codec.MinFrame || c.MaxFrame > 0xFFFF:
		return bad("MaxFrame", "out of range")
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
