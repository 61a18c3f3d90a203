package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/posgate/posgate/journal"
)

// State is what the gateway keeps per transaction and per terminal batch, shared by every
// gateway node: the retransmission cache, the index of transactions that later messages refer to
// (voids, refunds, completions, reversals), the running totals of each terminal batch, and the
// daily counters of the risk limits. Implementations: gateway/memstate (one node, the embedded
// default) and gateway/redisstate (production); both pass gateway/statetest.
//
// Every method takes ctx first and is safe for concurrent use by many nodes: the atomicity each
// method promises must hold across processes for the Redis implementation.
type State interface {
	// Reserve claims the retransmission key of a request whose content hashes to hash.
	//   - ReserveNew: the caller owns the request and must end with Complete or Release;
	//   - ReserveDone: answered before with the same content; resp is the stored response frame;
	//   - ReserveBusy: another request with this key and content is still being processed;
	//   - ReserveConflict: the key was used for different content (the terminal gets 94).
	// The reservation and the stored response expire after ttl (one business day).
	Reserve(ctx context.Context, key RetransmitKey, hash ContentHash, ttl time.Duration) (r Reservation, resp []byte, err error)
	// Complete stores the response frame of a reserved key, so retransmissions get it byte for
	// byte. resp is copied.
	Complete(ctx context.Context, key RetransmitKey, resp []byte, ttl time.Duration) error
	// Release drops a reservation that produced no response, so a retransmission is processed
	// afresh.
	Release(ctx context.Context, key RetransmitKey) error
	// Restore stores resp as the answer of the request key whose content hashes to hash — an
	// answer recovered from the journal after a crash — unless an answer is stored already. A
	// reservation (left by the crashed process) is replaced. resp is copied.
	Restore(ctx context.Context, key RetransmitKey, hash ContentHash, resp []byte, ttl time.Duration) error

	// PutTxn stores a new transaction under its TxnKey. ErrExists when the key is taken.
	PutTxn(ctx context.Context, rec TxnRecord) error
	// GetTxn returns the transaction stored under key, ErrNotFound if none.
	GetTxn(ctx context.Context, key TxnKey) (TxnRecord, error)
	// UpdateTxn replaces the stored transaction rec.Key() if its Version is still
	// rec.Version, and stores it with Version+1; ErrConflict when another update came first
	// (the caller re-reads and decides again), ErrNotFound when there is none.
	UpdateTxn(ctx context.Context, rec TxnRecord) (TxnRecord, error)

	// AddTotals adds delta to the running totals of (tid, batch) once per entry id: a second
	// call with the same id changes nothing and returns the totals as they are.
	AddTotals(ctx context.Context, tid string, batch uint32, entry string, delta Totals) (Totals, error)
	// GetTotals returns the running totals of (tid, batch); zero totals when none.
	GetTotals(ctx context.Context, tid string, batch uint32) (Totals, error)

	// CountDaily increments and returns the number of transactions of tid on date (a business
	// date as YYYYMMDD); counters expire two days after their date.
	CountDaily(ctx context.Context, tid string, date journal.Date) (int64, error)
}

// State errors.
var (
	ErrNotFound = errors.New("gateway: not found")
	ErrExists   = errors.New("gateway: already exists")
	ErrConflict = errors.New("gateway: concurrent update")
)

// Reservation is the outcome of State.Reserve.
type Reservation uint8

// Reservations.
const (
	ReserveNew Reservation = iota + 1
	ReserveDone
	ReserveBusy
	ReserveConflict
)

// RetransmitKey identifies a request for duplicate detection: same TID, batch (60.2), STAN and
// MTI is the same request (terminal protocol §7).
type RetransmitKey struct {
	TID   string
	Batch uint32
	STAN  uint32
	MTI   string
}

// ContentHash identifies a request's content (amount, card, processing code …), so a
// retransmission with different content is told apart (94). The gateway computes it with a key
// of its own: it is not a hash of clear card data anyone could reverse.
type ContentHash [16]byte

// TxnKey identifies a terminal transaction: TID, batch and STAN (a terminal's STAN is unique
// within a batch). Voids, refunds and completions name their original by it (field 61), and a
// reversal by its own STAN.
type TxnKey struct {
	TID   string
	Batch uint32
	STAN  uint32
}

// TxnStatus is where a stored transaction stands.
type TxnStatus uint8

// Transaction statuses.
const (
	TxnApproved  TxnStatus = iota + 1 // approved upstream and journaled
	TxnDeclined                       // declined (kept so a reversal of it is recognised)
	TxnVoided                         // voided (purchases, pre-auths, completions)
	TxnCompleted                      // a pre-authorization that has been completed
	TxnReversed                       // reversed by the terminal or by posgate
)

// TxnRecord is a transaction as the gateway remembers it for the messages that refer to it
// later. It holds no card data beyond the masked PAN and the keyed PAN token.
type TxnRecord struct {
	ID        string          // posgate's transaction id (the journal's)
	Type      journal.TxnType // purchase, pre-auth, completion, void, refund …
	TID, MID  string
	Batch     uint32
	STAN      uint32
	LocalDate string // field 13 (MMDD) of the request, or the business date's when absent
	Amount    int64  // fen
	Currency  string
	MaskedPAN string
	PANToken  string
	Kind      journal.CardKind
	RRN       string
	AuthCode  string
	Response  string // field 39 sent to the terminal
	Route     string
	// Upstream is what posgate sent upstream (for field 90 of later messages).
	UpstreamMTI          string
	UpstreamSTAN         uint32
	UpstreamTransmission string // field 7, MMDDhhmmss UTC
	BusinessDate         journal.Date
	Status               TxnStatus
	// Refunded is the amount refunded so far (purchases); Completed the amount completed (pre-auths).
	Refunded  int64
	Completed int64
	// Original is the key of the transaction this one refers to (voids, refunds, completions).
	Original TxnKey
	// Version counts updates; UpdateTxn compares it.
	Version   int64
	CreatedAt time.Time
}

// Key returns the record's TxnKey.
func (r *TxnRecord) Key() TxnKey { return TxnKey{TID: r.TID, Batch: r.Batch, STAN: r.STAN} }

// Totals are the running totals of a terminal batch, as field 48 of the 0500 counts them
// (domestic cards; posgate does not yet tell foreign cards apart): debit = money to the
// merchant (purchases, completions), credit = money back (voids, completion voids, refunds).
type Totals struct {
	DebitAmount, DebitCount   int64
	CreditAmount, CreditCount int64
}

// Add returns t + d.
func (t Totals) Add(d Totals) Totals {
	return Totals{t.DebitAmount + d.DebitAmount, t.DebitCount + d.DebitCount,
		t.CreditAmount + d.CreditAmount, t.CreditCount + d.CreditCount}
}
