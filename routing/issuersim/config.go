package issuersim

import (
	"errors"
	"fmt"
	"time"

	"github.com/posgate/posgate/routing"
)

// Defaults applied by New to zero fields.
const (
	// DefaultExpectedPIN is the PIN every card has unless Config.ExpectedPIN says otherwise.
	DefaultExpectedPIN = "123456"
	// DefaultBalance is the available balance a balance inquiry reports, in fen (100 000.00).
	DefaultBalance int64 = 10_000_000
	// DefaultLedgerSubject is where the ledger is answered.
	DefaultLedgerSubject = "posgate.sim.ledger"
	// DefaultMaxTracked bounds the originals and reversals remembered to match reversals.
	DefaultMaxTracked = 1 << 20
	// MaxLatency bounds the configured latency.
	MaxLatency = time.Minute
)

// Test cards declined as lost (41) and stolen (43) when Config.LostCards / StolenCards are nil.
// They fall in the default routing table's cup debit range.
var (
	DefaultLostCards   = []string{"6200000000000041"}
	DefaultStolenCards = []string{"6200000000000043"}
)

// Config configures a Simulator.
type Config struct {
	// Routes the simulator answers. Empty means every route (it subscribes to posgate.auth.*).
	Routes []string
	// QueueGroup shared by all instances. Default routing.QueueGroup.
	QueueGroup string
	// ZPK is the clear zone PIN key (8 or 16 bytes) PIN blocks arrive under — for development
	// only; the simulator wraps it in its own software HSM at once and keeps no clear copy.
	// Without one, a request carrying a PIN block is answered 96.
	ZPK []byte
	// ExpectedPIN is every card's PIN. Default DefaultExpectedPIN.
	ExpectedPIN string
	// LostCards and StolenCards are PANs declined 41 and 43. nil means the defaults above; an
	// empty non-nil slice means none.
	LostCards, StolenCards []string
	// Latency delays every answer by a fixed time. Alternatively LatencyMin and LatencyMax give
	// a uniform random delay within bounds. All zero: answer at once.
	Latency, LatencyMin, LatencyMax time.Duration
	// DropRate is the fraction (0–1) of requests processed and recorded but never answered, as
	// if the answer were lost: the gateway times out and reverses.
	DropRate float64
	// Seed seeds the latency and drop draws, so a run can be repeated. Default 1.
	Seed uint64
	// Balance is the available balance reported to balance inquiries, in fen. Default
	// DefaultBalance.
	Balance int64
	// Instance names this simulator in its ledger. Default: a random id.
	Instance string
	// LedgerSubject is where the ledger is answered. Default DefaultLedgerSubject.
	LedgerSubject string
	// LedgerStream is the JetStream stream the ledger's entries are stored in before each
	// answer (created if missing; DefaultLedgerStream is the commands' default). A restarted
	// instance of the same name books its stored entries again. "" keeps the ledger in memory
	// only: it dies with the process.
	LedgerStream string
	// LedgerReplicas is the ledger stream's replica count when it is created. Default 1.
	LedgerReplicas int
	// Now is the clock entries are stamped with. Default time.Now.
	Now func() time.Time
	// MaxTracked bounds how many originals (and reversals) are remembered to match reversals
	// against; the oldest are forgotten first. Default DefaultMaxTracked.
	MaxTracked int
}

// ErrConfig is wrapped by the errors of Config.Validate.
var ErrConfig = errors.New("issuersim: invalid config")

// Validate checks c; the error says which field is wrong and never contains the ZPK or a PAN.
func (c Config) Validate() error {
	bad := func(field, why string) error { return fmt.Errorf("%w: %s %s", ErrConfig, field, why) }
	for _, r := range c.Routes {
		if !routing.ValidRouteName(r) {
			return bad("Routes", "holds an invalid route name")
		}
	}
	if n := len(c.ZPK); n != 0 && n != 8 && n != 16 {
		return bad("ZPK", "must be 8 or 16 bytes")
	}
	if p := c.ExpectedPIN; p != "" && (len(p) < 4 || len(p) > 12 || !allDigits(p)) {
		return bad("ExpectedPIN", "must be 4-12 digits")
	}
	for _, list := range [][]string{c.LostCards, c.StolenCards} {
		for _, pan := range list {
			if len(pan) < 12 || len(pan) > 19 || !allDigits(pan) {
				return bad("LostCards/StolenCards", "holds a PAN that is not 12-19 digits")
			}
		}
	}
	switch {
	case c.Latency < 0 || c.Latency > MaxLatency:
		return bad("Latency", "must be 0-1m")
	case c.Latency > 0 && (c.LatencyMin != 0 || c.LatencyMax != 0):
		return bad("Latency", "excludes LatencyMin/LatencyMax")
	case c.LatencyMin < 0 || c.LatencyMax < c.LatencyMin || c.LatencyMax > MaxLatency:
		return bad("LatencyMax", "must be at least LatencyMin, both 0-1m")
	case !(c.DropRate >= 0 && c.DropRate <= 1): // also rejects NaN
		return bad("DropRate", "must be between 0 and 1")
	case c.Balance < 0 || c.Balance > routing.MaxAmount:
		return bad("Balance", "must be 0-999999999999 fen")
	case c.LedgerStream != "" && !validStreamName(c.LedgerStream):
		return bad("LedgerStream", "must be a JetStream stream name (letters, digits, - and _)")
	case c.LedgerReplicas < 0 || c.LedgerReplicas > 5:
		return bad("LedgerReplicas", "must be 0-5")
	case c.Instance != "" && !validStreamName(c.Instance):
		return bad("Instance", "must be letters, digits, - and _ (it names a subject token)")
	case c.MaxTracked < 0:
		return bad("MaxTracked", "must not be negative")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func validStreamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}
