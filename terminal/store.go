package terminal

import (
	"context"
	"time"

	"github.com/posgate/posgate/hsm"
)

// Store is the terminal and merchant registry shared by all gateway nodes.
//
// Every method takes a context first and may do I/O. Errors wrap the package's sentinels
// (test with errors.Is); identifiers are validated first and a bad one yields a *FieldError
// wrapping ErrInvalid. Records are returned by value and share no memory with the store.
//
// Operations that gateway nodes may race on are atomic: Activate (exactly one of several
// concurrent callers wins), ClaimProof, AdvanceBatch, RotateKeys and SN binding.
// Implementations: terminal/redisstore and terminal/memstore; both pass terminal/storetest.
type Store interface {
	// CreateMerchant stores a new merchant. ErrExists if the MID is taken.
	CreateMerchant(ctx context.Context, m Merchant) (Merchant, error)
	// GetMerchant returns a merchant. ErrNotFound if there is none.
	GetMerchant(ctx context.Context, mid string) (Merchant, error)
	// UpdateMerchant replaces a merchant's fields if m.Revision equals the stored revision
	// (ErrConflict otherwise) and returns the stored merchant with its new revision.
	UpdateMerchant(ctx context.Context, m Merchant) (Merchant, error)
	// ListMerchants returns merchants in MID order after q.After.
	ListMerchants(ctx context.Context, q Page) (MerchantPage, error)

	// CreateTerminal stores a new terminal of an existing merchant (ErrNotFound for the
	// merchant otherwise), binding t.SN if set (ErrSNBound if another terminal holds it).
	// Defaults are applied as by Terminal.ApplyDefaults; Keys other than an injected TMK,
	// KeyGeneration, telemetry and times are ignored. ErrExists if the TID is taken.
	CreateTerminal(ctx context.Context, t Terminal) (Terminal, error)
	// GetTerminal returns a terminal by TID. ErrNotFound if there is none. It is on every
	// message's path: one round trip for remote stores.
	GetTerminal(ctx context.Context, tid string) (Terminal, error)
	// GetTerminalBySN returns the terminal an SN is bound to. ErrNotFound if none.
	GetTerminalBySN(ctx context.Context, sn string) (Terminal, error)
	// UpdateTerminal writes the operator-managed profile of t (MID, DeviceType, Legacy,
	// Operators, MACAlgorithm, TargetVersion, ForceSignOn) if t.Revision equals the stored
	// revision (ErrConflict otherwise). Status, SN, keys and batch have their own methods.
	UpdateTerminal(ctx context.Context, t Terminal) (Terminal, error)
	// ListTerminals returns terminals in TID order matching q. A page may hold fewer than
	// q.Limit terminals although more follow: continue while Next is not empty.
	ListTerminals(ctx context.Context, q TerminalQuery) (TerminalPage, error)

	// BindSN binds sn to the terminal. Binding a different SN replaces the device: the old SN
	// is released, the keys are cleared, any activation code is dropped and an active terminal
	// returns to pending. Binding the SN already bound is a no-op. ErrSNBound if another
	// terminal holds sn.
	BindSN(ctx context.Context, tid, sn string) (Terminal, error)
	// UnbindSN releases the terminal's SN with the same effects as replacing it. A no-op when
	// none is bound.
	UnbindSN(ctx context.Context, tid string) (Terminal, error)
	// Block blocks a terminal for reason (not ReasonNone).
	Block(ctx context.Context, tid string, reason BlockReason) (Terminal, error)
	// Unblock lifts a block: the terminal becomes active if it has a TMK, pending otherwise.
	Unblock(ctx context.Context, tid string) (Terminal, error)

	// IssueActivationCode records a new activation code for the terminal's bound SN, replacing
	// any previous one and resetting the SN's proof count and delay. ttl 0 means DefaultCodeTTL.
	// ErrNoSN if no SN is bound; a *StatusError if the terminal is blocked.
	IssueActivationCode(ctx context.Context, tid string, verifier hsm.WrappedKey, ttl time.Duration) (ActivationCode, error)
	// GetActivationCode returns the code issued to sn if a proof may be presented for it now;
	// otherwise ErrNotFound, ErrLocked, ErrCodeSpent or ErrCodeExpired.
	GetActivationCode(ctx context.Context, sn string) (ActivationCode, error)
	// ClaimProof is called before a terminal's activation proof is checked: atomically, it
	// refuses if the code cannot take a proof now (as GetActivationCode), else counts the proof
	// and delays the next by ProofDelay (ActivationCode.Claimed), and returns the code. Of
	// concurrent claims each is counted once, so parallel guesses cannot exceed the policy.
	ClaimProof(ctx context.Context, sn string) (ActivationCode, error)
	// UnlockActivation lets the terminal's SN present proofs again at once: the proof count and
	// delay of its code are reset (an operator's action, audited). ErrNotFound if it has no code.
	UnlockActivation(ctx context.Context, tid string) (ActivationCode, error)
	// Activate spends sn's activation code — which must still be the one whose verifier the
	// caller checked the proof with (ErrConflict otherwise) — and installs tmk: working keys
	// are cleared and the terminal becomes active. Of concurrent callers exactly one succeeds;
	// the others get ErrCodeSpent. ErrCodeExpired or a *StatusError (blocked) also refuse it;
	// the proof delay does not (the caller's claim was counted).
	Activate(ctx context.Context, sn string, verifier, tmk hsm.WrappedKey) (Terminal, error)

	// RotateKeys installs new working keys after the sign-on numbered seq (SignOnSeq) if the
	// terminal's KeyGeneration still equals generation (ErrConflict otherwise: another node
	// signed it on first — re-read and decide again) and seq is fresh against the stored
	// SignOnSeq (ErrStale otherwise: a replayed sign-on), increments KeyGeneration, stores
	// seq, clears ForceSignOn and sets LastSignOn. The terminal must be active (*StatusError
	// otherwise).
	RotateKeys(ctx context.Context, tid string, generation uint64, keys Keys, seq uint64) (Terminal, error)
	// AdvanceBatch moves the terminal from batch from to from.Next(). If the current batch is
	// not from it returns the current batch and ErrConflict, so a retried settlement does
	// not advance twice.
	AdvanceBatch(ctx context.Context, tid string, from Batch) (Batch, error)
	// Seen records that the terminal sent a message now, and the software version it reported
	// ("" leaves the stored version). It changes neither Revision nor UpdatedAt.
	Seen(ctx context.Context, tid, softwareVersion string) error
}

// Default and maximum page sizes of list calls.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 1000
)

// Page asks for one page of a list ordered by identifier.
type Page struct {
	After string // return records whose identifier sorts after this; "" starts at the beginning
	Limit int    // at most this many records; 0 means DefaultPageLimit, capped at MaxPageLimit
}

// Normalize returns the limit to use and checks it.
func (p Page) Normalize() (int, error) {
	switch {
	case p.Limit < 0:
		return 0, invalid("Limit", "must not be negative")
	case p.Limit == 0:
		return DefaultPageLimit, nil
	case p.Limit > MaxPageLimit:
		return MaxPageLimit, nil
	}
	return p.Limit, nil
}

// TerminalQuery filters ListTerminals. Empty fields match everything.
type TerminalQuery struct {
	Page
	MID    string // only this merchant's terminals
	Status Status // only terminals in this status; 0 matches all
}

// Validate checks the query.
func (q *TerminalQuery) Validate() error {
	if q.MID != "" {
		if err := ValidMID(q.MID); err != nil {
			return err
		}
	}
	if q.Status != 0 && q.Status.String() == "unknown" {
		return invalid("Status", "must be pending, active or blocked")
	}
	_, err := q.Normalize()
	return err
}

// Match reports whether t passes the query's filters (not its page bounds).
func (q *TerminalQuery) Match(t *Terminal) bool {
	return (q.MID == "" || t.MID == q.MID) && (q.Status == 0 || t.Status == q.Status)
}

// TerminalPage is one page of ListTerminals.
type TerminalPage struct {
	Terminals []Terminal
	Next      string // pass as Page.After for the next page; "" when there are no more
}

// MerchantPage is one page of ListMerchants.
type MerchantPage struct {
	Merchants []Merchant
	Next      string // pass as Page.After for the next page; "" when there are no more
}
