package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/terminal"
)

// Registry is the part of the terminal registry (terminal.Store) the gateway uses.
type Registry interface {
	GetTerminal(ctx context.Context, tid string) (terminal.Terminal, error)
	GetTerminalBySN(ctx context.Context, sn string) (terminal.Terminal, error)
	GetMerchant(ctx context.Context, mid string) (terminal.Merchant, error)
	ClaimProof(ctx context.Context, sn string) (terminal.ActivationCode, error)
	Activate(ctx context.Context, sn string, verifier, tmk hsm.WrappedKey) (terminal.Terminal, error)
	RotateKeys(ctx context.Context, tid string, generation uint64, keys terminal.Keys, seq uint64) (terminal.Terminal, error)
	AdvanceBatch(ctx context.Context, tid string, from terminal.Batch) (terminal.Batch, error)
	Seen(ctx context.Context, tid, softwareVersion string) error
}

// Upstream sends authorizations to issuers (routing.Client).
type Upstream interface {
	// Authorize sends a request that moves no money (a balance inquiry).
	Authorize(ctx context.Context, route string, req *routing.Request) (routing.Result, error)
	// Prepare draws the identifiers of a request (STAN, transmission time) so its intent can
	// be journaled before AuthorizeAs sends it under them.
	Prepare(ctx context.Context, route string, typ routing.TxnType) (routing.Sent, error)
	AuthorizeAs(ctx context.Context, route string, req *routing.Request, s routing.Sent) (routing.Result, error)
	Table() *routing.Table
}

// Reversals queues reversals owed upstream durably (routing.Forwarder).
type Reversals interface {
	Enqueue(ctx context.Context, rev *routing.Reversal) error
}

// Journal is the book of record (journal.Journal).
type Journal interface {
	Append(ctx context.Context, rec journal.Record) error
}

// Deps are the processor's collaborators. All are required.
type Deps struct {
	Registry  Registry
	HSM       hsm.Module
	Upstream  Upstream
	Reversals Reversals
	Journal   Journal
	State     State
	// Lease, in a cluster, is the node's lease (app's node lease): nil for a node alone.
	Lease Lease
}

// Lease is what lets a node of a cluster act on the money it moves. Once a node's lease has
// run out another node may adopt its open write-ahead intents — reverse them upstream — so a
// node sends nothing that moves money without holding its lease, and books no approval whose
// request left under an epoch it holds no more: such an approval is reversed and answered 96
// (docs/deploy.md, "A node that stays dead").
type Lease interface {
	// Hold returns the epoch of the lease held now; false when none is.
	Hold() (epoch uint64, ok bool)
	// Held tells whether epoch is still held.
	Held(epoch uint64) bool
}

// ProcessorConfig configures the transaction processor.
type ProcessorConfig struct {
	// AcquirerID is field 32 of responses and upstream requests. Default "48020000".
	AcquirerID string
	// NodeID (0–9) is the RRN digit that keeps RRNs of several gateway nodes apart. Default 0.
	NodeID int
	// TokenKey keys the PAN tokens and content hashes (HMAC-SHA256). Required, 32 bytes; keep
	// it secret and stable: tokens must match across nodes and days.
	TokenKey []byte
	// ZPK is the zone PIN key of each route, for PIN translation. A route without one cannot
	// take PIN transactions (response 99... no: 96, system malfunction).
	ZPK map[string]hsm.WrappedKey
	// Calendar assigns business dates (field 15, journal). Default journal.NewCalendar defaults.
	Calendar journal.Calendar
	// TxnTimeout bounds one transaction from the frame's arrival. Default 30 s (well under the
	// terminal's usual 60 s).
	TxnTimeout time.Duration
	// RetransmitTTL is how long responses are kept for retransmissions. Default 26 h.
	RetransmitTTL time.Duration
	// LegacySignOnInterval is the least time between two key rotations of a legacy terminal
	// signing on without field 59 (nothing authenticates such a sign-on, so the rate is
	// bounded). Default 1 minute; retransmissions are answered from the cache and not counted.
	LegacySignOnInterval time.Duration
	// MaxAmount is the per-transaction limit in fen (61 above it). 0: no limit.
	MaxAmount int64
	// MaxDailyCount is the number of purchases and pre-authorizations a terminal may make per
	// business date (65 above it). 0: no limit.
	MaxDailyCount int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Fault, when set, is called at each FaultPoint of a transaction: fault injection for
	// durability tests, which stop the process there and kill it (posgate serve sets it only
	// from POSGATE_FAULT). nil in production.
	Fault func(FaultPoint, Kind)
}

// FaultPoint names a step of a transaction where ProcessorConfig.Fault is called.
type FaultPoint string

// Fault points.
const (
	// FaultAnswered: the issuer has answered; the outcome is not journaled yet (only the
	// write-ahead intent is).
	FaultAnswered FaultPoint = "answered"
	// FaultJournaled: the outcome is journaled with its answer; the terminal has not been
	// answered yet.
	FaultJournaled FaultPoint = "journaled"
)

func (p *Processor) fault(at FaultPoint, k Kind) {
	if p.cfg.Fault != nil {
		p.cfg.Fault(at, k)
	}
}

// Defaults of ProcessorConfig.
const (
	DefaultAcquirerID    = "48020000"
	DefaultTxnTimeout    = 30 * time.Second
	DefaultRetransmitTTL = 26 * time.Hour
	// DefaultLegacySignOnInterval is ProcessorConfig.LegacySignOnInterval's default.
	DefaultLegacySignOnInterval = time.Minute
)

// Validate checks the configuration.
func (c *ProcessorConfig) Validate() error {
	switch {
	case len(c.TokenKey) != 32:
		return &ConfigError{"TokenKey", "must be 32 bytes"}
	case c.NodeID < 0 || c.NodeID > 9:
		return &ConfigError{"NodeID", "must be 0–9"}
	case c.MaxAmount < 0 || c.MaxDailyCount < 0:
		return &ConfigError{"limits", "must not be negative"}
	case len(c.AcquirerID) > 11 || !allDigits(c.AcquirerID):
		return &ConfigError{"AcquirerID", "must be up to 11 digits"}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Processor is the gateway's Handler: it authenticates each terminal message, runs the
// transaction and answers it (docs/terminal-flows.md).
type Processor struct {
	cfg     ProcessorConfig
	d       Deps
	log     *zap.Logger
	metrics *Metrics
	pool    sync.Pool // *txn
	hmacs   sync.Pool // *keyedHash: HMAC-SHA256 under TokenKey
	rrnSeq  atomic.Uint64
	acqID   []byte // AcquirerID
	mers    merchantCache
	events  eventRing
}

// NewProcessor returns a Processor. metrics may be nil (no metrics); log may be nil.
func NewProcessor(cfg ProcessorConfig, d Deps, metrics *Metrics, log *zap.Logger) (*Processor, error) {
	if cfg.AcquirerID == "" {
		cfg.AcquirerID = DefaultAcquirerID
	}
	if cfg.TxnTimeout == 0 {
		cfg.TxnTimeout = DefaultTxnTimeout
	}
	if cfg.RetransmitTTL == 0 {
		cfg.RetransmitTTL = DefaultRetransmitTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LegacySignOnInterval == 0 {
		cfg.LegacySignOnInterval = DefaultLegacySignOnInterval
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Registry == nil || d.HSM == nil || d.Upstream == nil || d.Reversals == nil || d.Journal == nil || d.State == nil {
		return nil, &ConfigError{"Deps", "every dependency is required"}
	}
	if log == nil {
		log = zap.NewNop()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	p := &Processor{cfg: cfg, d: d, log: log.Named("processor"), metrics: metrics}
	p.pool.New = func() any { return newTxn() }
	p.hmacs.New = func() any { return &keyedHash{h: hmac.New(sha256.New, p.cfg.TokenKey)} }
	p.acqID = []byte(cfg.AcquirerID)
	p.mers.ttl = merchantCacheTTL
	return p, nil
}

// errClose marks a message that cannot be answered: the connection is closed.
var errClose = errors.New("gateway: unanswerable message")

// ServeFrame implements Handler.
func (p *Processor) ServeFrame(ctx context.Context, f codec.Frame, w ResponseWriter) {
	start := p.cfg.Now()
	t := p.pool.Get().(*txn)
	defer p.pool.Put(t)
	t.reset(f, start)
	ctx, cancel := context.WithTimeout(ctx, p.cfg.TxnTimeout)
	defer cancel()

	out, err := p.process(ctx, t)
	if errors.Is(err, errClose) {
		p.metrics.requests(t.kind, "close")
		w.Close()
		return
	}
	if out == nil {
		return // nothing to send (a duplicate still in flight that never completed)
	}
	// Counted before the write, so whoever sees the response sees it counted (the dashboard).
	p.metrics.observe(t.kind, t.code(), start, t.upstreamTime)
	if werr := w.WriteFrame(out); werr != nil && t.owes {
		// The terminal never saw an approval: reverse it (terminal protocol §7).
		p.reverseOwed(context.WithoutCancel(ctx), t, "98")
	}
}

// tokenOf returns the keyed PAN token: HMAC-SHA256(TokenKey, "pan:" ‖ PAN), first 16 bytes,
// as 32 hex characters.
func (p *Processor) tokenOf(pan []byte) string {
	var out [32]byte
	return string(p.appendToken(out[:0], pan))
}

// appendToken appends the token of pan to dst.
func (p *Processor) appendToken(dst, pan []byte) []byte {
	sum := p.keyed("pan:", pan)
	const hexd = "0123456789abcdef"
	for _, b := range sum[:16] {
		dst = append(dst, hexd[b>>4], hexd[b&0xF])
	}
	return dst
}

// contentHash keys the request's content for duplicate detection: the message up to its MAC.
func (p *Processor) contentHash(body []byte) ContentHash {
	sum := p.keyed("req:", body)
	var h ContentHash
	copy(h[:], sum[:])
	return h
}

// keyed returns HMAC-SHA256(TokenKey, domain ‖ data) with a pooled HMAC state.
func (p *Processor) keyed(domain string, data []byte) [32]byte {
	k := p.hmacs.Get().(*keyedHash)
	k.h.Reset()
	k.h.Write(append(k.domain[:0], domain...)) // hmac has no WriteString: no conversion
	k.h.Write(data)
	sum := [32]byte(k.h.Sum(k.sum[:0]))
	p.hmacs.Put(k)
	return sum
}

// keyedHash is a pooled HMAC state with room for its sum.
type keyedHash struct {
	h      hash.Hash
	sum    [32]byte
	domain [16]byte
}
