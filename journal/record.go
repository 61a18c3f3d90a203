package journal

import "time"

// TxnType is the kind of captured event a Record journals.
type TxnType uint8

// Transaction types. The zero value is invalid.
const (
	TypePurchase       TxnType = iota + 1 // sale, 0200/000000
	TypeCompletion                        // pre-authorization completion
	TypeVoid                              // void of a purchase
	TypeRefund                            // refund (0220)
	TypeReversal                          // reversal (0400/0420), the terminal's or posgate's own
	TypePreAuth                           // pre-authorization (0100/030000)
	TypePreAuthVoid                       // void of a pre-authorization
	TypeCompletionVoid                    // void of a completion
	// TypeBatchSettlement is a terminal's batch settlement (0500): the totals it
	// reported against posgate's, in BatchResult. It moves no money.
	TypeBatchSettlement
	// TypeBatchDifference is one difference found in a batch upload (0320): STAN
	// and Amount are the uploaded transaction's, BatchResult.Difference says what
	// differs. It moves no money.
	TypeBatchDifference
	// TypeIntent is the write-ahead record of an upstream request, appended before
	// the request leaves for the issuer: Of is the transaction's type, Upstream
	// the request's identifiers, Original.TxnID the id its outcome will carry. An
	// intent without an outcome (a capture or a TypeDeclined record under that id,
	// or its reversal) is a request whose fate posgate does not know: a restarted
	// node reverses it upstream. It moves no money.
	TypeIntent
	// TypeDeclined is the outcome of an upstream request that was not approved
	// (Of is the transaction's type, ResponseCode the issuer's answer). It moves no
	// money; it closes the intent and keeps the answer for retransmissions.
	TypeDeclined
	typeEnd
)

var txnTypeNames = [...]string{
	TypePurchase:        "purchase",
	TypeCompletion:      "completion",
	TypeVoid:            "void",
	TypeRefund:          "refund",
	TypeReversal:        "reversal",
	TypePreAuth:         "preauth",
	TypePreAuthVoid:     "preauth_void",
	TypeCompletionVoid:  "completion_void",
	TypeBatchSettlement: "batch_settlement",
	TypeBatchDifference: "batch_difference",
	TypeIntent:          "intent",
	TypeDeclined:        "declined",
}

// String returns the lower-case name ("purchase", "preauth_void", …) or "unknown".
func (t TxnType) String() string {
	if t.Valid() {
		return txnTypeNames[t]
	}
	return "unknown"
}

// Valid reports whether t is one of the defined types.
func (t TxnType) Valid() bool { return t > 0 && t < typeEnd }

// NeedsOriginal reports whether records of this type refer to an original
// transaction (voids, refunds, reversals, completions).
func (t TxnType) NeedsOriginal() bool {
	switch t {
	case TypeCompletion, TypeVoid, TypeRefund, TypeReversal, TypePreAuthVoid, TypeCompletionVoid,
		TypeIntent:
		return true
	}
	return false
}

// IsBatch reports whether t records a terminal batch event (0500 result or 0320
// difference) rather than a financial transaction. Batch records carry no card,
// their ProcessingCode, Currency and CardKind may be empty, and they are encoded
// in record version 2 (see codec.go).
func (t TxnType) IsBatch() bool { return t == TypeBatchSettlement || t == TypeBatchDifference }

// MovesMoney reports whether records of type t are financial events settlement
// books (captures and reversals), as opposed to batch events, write-ahead intents
// and declines.
func (t TxnType) MovesMoney() bool {
	return t.Valid() && !t.IsBatch() && t != TypeIntent && t != TypeDeclined
}

// Reversible reports whether an upstream request of type t is undone by a
// reversal (0400): every type that moves money except reversals themselves.
// Refunds are reversible too in posgate's upstream contract (docs/gateway.md).
func (t TxnType) Reversible() bool { return t.MovesMoney() && t != TypeReversal }

// ParseTxnType is the inverse of TxnType.String.
func ParseTxnType(s string) (TxnType, bool) {
	for t := TypePurchase; t < typeEnd; t++ {
		if txnTypeNames[t] == s {
			return t, true
		}
	}
	return 0, false
}

// CardKind is the card kind from the routing table; it drives the merchant fee.
type CardKind uint8

// Card kinds. The zero value is invalid.
const (
	CardDebit  CardKind = iota + 1 // debit card
	CardCredit                     // credit card
	CardQR                         // scanned code (entry mode 03)
	cardEnd
)

var cardKindNames = [...]string{CardDebit: "debit", CardCredit: "credit", CardQR: "qr"}

// String returns "debit", "credit", "qr" or "unknown".
func (k CardKind) String() string {
	if k.Valid() {
		return cardKindNames[k]
	}
	return "unknown"
}

// Valid reports whether k is one of the defined kinds.
func (k CardKind) Valid() bool { return k > 0 && k < cardEnd }

// ParseCardKind is the inverse of CardKind.String.
func ParseCardKind(s string) (CardKind, bool) {
	for k := CardDebit; k < cardEnd; k++ {
		if cardKindNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// OriginalRef identifies the transaction a void, refund, reversal or completion
// refers to. Any one of TxnID, RRN or Batch+STAN is enough; the gateway fills in
// what it has.
type OriginalRef struct {
	// TxnID is the original transaction id, when known.
	TxnID string
	// RRN is the original retrieval reference number (field 37).
	RRN string
	// Batch and STAN are the original terminal batch number and STAN (n6 each).
	Batch string
	STAN  string
	// Date is the original transaction's business date.
	Date Date
}

// IsZero reports whether no reference is set.
func (o OriginalRef) IsZero() bool { return o == OriginalRef{} }

// Totals are one side of a terminal batch's totals as field 48 of the 0500
// carries them (domestic and foreign summed): debits are purchases and
// completions, credits voids, refunds and completion voids. Amounts in fen.
type Totals struct {
	DebitCount   int64
	DebitAmount  int64
	CreditCount  int64
	CreditAmount int64
}

// Batch upload differences (BatchResult.Difference of TypeBatchDifference).
const (
	DiffUnknown     = "unknown"      // the uploaded transaction is unknown to posgate
	DiffNotApproved = "not_approved" // posgate holds it as not approved (declined, reversed, voided)
	DiffAmount      = "amount"       // the amounts differ
	DiffCard        = "card"         // the card (PAN token) differs
)

// BatchResult is the reconciliation data of batch records; it is zero for
// financial records.
type BatchResult struct {
	// Terminal is what the terminal reported in its 0500.
	Terminal Totals
	// Posgate is posgate's own running totals for the batch when it answered.
	Posgate Totals
	// Difference names what a 0320 difference is about (Diff… constants; at
	// most 32 printable characters).
	Difference string
}

// Balanced reports whether the terminal's totals equal posgate's (the 0500
// answer's flag: 1 balanced, 2 not balanced).
func (b BatchResult) Balanced() bool { return b.Terminal == b.Posgate }

// Upstream identifies the request posgate sent upstream: what the issuer's own
// records are keyed by, and field 90 of every later message about it.
type Upstream struct {
	MTI          string // n4: 0100, 0200, 0220 …
	STAN         uint32 // field 11, unique per route per day
	Transmission string // field 7, MMDDhhmmss UTC
}

// IsZero reports whether nothing was sent upstream.
func (u Upstream) IsZero() bool { return u == Upstream{} }

// Record is one captured event, the unit of the journal. It deliberately has no
// field for track data, PIN blocks, CVV or ICC data: those never reach the
// journal. All strings are ASCII; lengths and formats are checked by Validate.
type Record struct {
	// TxnID is posgate's unique transaction id, the de-duplication key (1–64
	// characters from [A-Za-z0-9._:-]).
	TxnID string
	// Type is the captured event.
	Type TxnType
	// MTI is the terminal message type (n4), ProcessingCode field 3 (n6).
	MTI            string
	ProcessingCode string
	// Amount is in minor units (fen), never negative; the sign comes from Type.
	Amount int64
	// Currency is the ISO 4217 numeric code (n3), e.g. "156".
	Currency string
	// MaskedPAN is the PAN with at most the first 6 and last 4 digits visible and
	// the rest masked ('*', 'X', 'x' or '#'); empty for QR payments without a PAN.
	MaskedPAN string
	// PANToken is the keyed token (HMAC) of the PAN computed by the caller; the
	// journal stores it as an opaque string.
	PANToken string
	// CardKind is debit, credit or qr.
	CardKind CardKind
	// TID (ans8) and MID (ans15) identify terminal and merchant.
	TID string
	MID string
	// Batch is the terminal batch number (n6), STAN the terminal trace number (n6).
	Batch string
	STAN  string
	// RRN is the retrieval reference number (an12), AuthCode field 38 (an6),
	// ResponseCode field 39 (an2).
	RRN          string
	AuthCode     string
	ResponseCode string
	// Route is the upstream route name ("cup", "visa", "onus", …).
	Route string
	// Original refers to the original transaction; required for types where
	// Type.NeedsOriginal is true.
	Original OriginalRef
	// RequestTime is when posgate received the request, ResponseTime when it
	// answered (zero if it has not). Stored in UTC with nanosecond precision.
	RequestTime  time.Time
	ResponseTime time.Time
	// BusinessDate is the settlement date (see Calendar.BusinessDate); it selects
	// the journal subject the record is stored under.
	BusinessDate Date
	// BatchResult holds the 0500/0320 data of batch records (Type.IsBatch);
	// it must be zero for other types.
	BatchResult BatchResult

	// Of is, for intents and declines, the type of the transaction they are about; for a
	// reversal, the type of the reversed transaction (zero in records written before it).
	Of TxnType
	// Upstream is the request sent upstream for this transaction (with Route), zero
	// when none was sent.
	Upstream Upstream
	// Node is the gateway node (its NodeID, 0–9) that wrote the record: a restarted
	// node resolves only its own open intents.
	Node uint8
	// RequestHash is the keyed hash of the terminal's request (hex), which tells a
	// retransmission from different content under the same key.
	RequestHash string
	// Answer is the response frame posgate gave (or was about to give) the
	// terminal, so a retransmission after a restart gets it byte for byte. Terminal
	// responses carry no card data (docs/terminal-flows.md).
	Answer string
}

// Field limits enforced by Validate.
const (
	maxTxnIDLen = 64
	maxTokenLen = 128
	maxRouteLen = 32
	maxDiffLen  = 32
	maxHashLen  = 64
	// MaxAnswerLen bounds Record.Answer (a terminal response frame).
	MaxAnswerLen = 1024
)

// Validate checks every field and returns the first problem as a *RecordError.
// Its error text names the field, never the value.
func (r *Record) Validate() error {
	if err := checkTxnID("TxnID", r.TxnID, true); err != nil {
		return err
	}
	if !r.Type.Valid() {
		return &RecordError{Field: "Type", Err: ErrOutOfRange}
	}
	batch := r.Type.IsBatch()
	// ProcessingCode and Currency are optional on batch records (exact length when set).
	minProc, minCur := 6, 3
	if batch && r.ProcessingCode == "" {
		minProc = 0
	}
	if batch && r.Currency == "" {
		minCur = 0
	}
	checks := []struct {
		field    string
		v        string
		min, max int
		digits   bool
	}{
		{"MTI", r.MTI, 4, 4, true},
		{"ProcessingCode", r.ProcessingCode, minProc, 6, true},
		{"Currency", r.Currency, minCur, 3, true},
		{"TID", r.TID, 1, 8, false},
		{"MID", r.MID, 1, 15, false},
		{"Batch", r.Batch, 0, 6, true},
		{"STAN", r.STAN, 0, 6, true},
		{"RRN", r.RRN, 0, 12, false},
		{"AuthCode", r.AuthCode, 0, 6, false},
		{"ResponseCode", r.ResponseCode, 0, 2, false},
		{"Route", r.Route, 0, maxRouteLen, false},
		{"Original.RRN", r.Original.RRN, 0, 12, false},
		{"Original.Batch", r.Original.Batch, 0, 6, true},
		{"Original.STAN", r.Original.STAN, 0, 6, true},
	}
	for _, c := range checks {
		if err := checkField(c.field, c.v, c.min, c.max, c.digits); err != nil {
			return err
		}
	}
	if r.Amount < 0 {
		return &RecordError{Field: "Amount", Err: ErrOutOfRange}
	}
	if err := r.validateExtension(); err != nil {
		return err
	}
	if batch {
		if len(r.Batch) != 6 {
			return &RecordError{Field: "Batch", Err: ErrRequired}
		}
		if len(r.BatchResult.Difference) > maxDiffLen || !printable(r.BatchResult.Difference) {
			return &RecordError{Field: "BatchResult.Difference", Err: ErrFormat}
		}
		if r.Type == TypeBatchDifference && r.BatchResult.Difference == "" {
			return &RecordError{Field: "BatchResult.Difference", Err: ErrRequired}
		}
	} else if r.BatchResult != (BatchResult{}) {
		return &RecordError{Field: "BatchResult", Err: ErrOutOfRange}
	}
	if err := CheckMaskedPAN(r.MaskedPAN); err != nil {
		return &RecordError{Field: "MaskedPAN", Err: err}
	}
	if len(r.PANToken) > maxTokenLen || !printable(r.PANToken) {
		return &RecordError{Field: "PANToken", Err: ErrFormat}
	}
	if looksLikePAN(r.PANToken) {
		return &RecordError{Field: "PANToken", Err: ErrNotMasked}
	}
	if !r.CardKind.Valid() && !(batch && r.CardKind == 0) {
		return &RecordError{Field: "CardKind", Err: ErrOutOfRange}
	}
	if err := checkTxnID("Original.TxnID", r.Original.TxnID, false); err != nil {
		return err
	}
	if r.Type.NeedsOriginal() && r.Original.TxnID == "" && r.Original.RRN == "" && r.Original.STAN == "" {
		return &RecordError{Field: "Original", Err: ErrRequired}
	}
	if r.RequestTime.IsZero() {
		return &RecordError{Field: "RequestTime", Err: ErrRequired}
	}
	if r.BusinessDate.IsZero() {
		return &RecordError{Field: "BusinessDate", Err: ErrRequired}
	}
	return nil
}

func checkTxnID(field, s string, required bool) error {
	if s == "" {
		if required {
			return &RecordError{Field: field, Err: ErrRequired}
		}
		return nil
	}
	if len(s) > maxTxnIDLen {
		return &RecordError{Field: field, Err: ErrFormat}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return &RecordError{Field: field, Err: ErrFormat}
		}
	}
	return nil
}

func checkField(field, s string, minLen, maxLen int, digits bool) error {
	if len(s) == 0 && minLen > 0 {
		return &RecordError{Field: field, Err: ErrRequired}
	}
	if len(s) < minLen || len(s) > maxLen {
		return &RecordError{Field: field, Err: ErrFormat}
	}
	if digits && !allDigits(s) || !printable(s) {
		return &RecordError{Field: field, Err: ErrFormat}
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

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// looksLikePAN reports whether s is 12–19 digits: a clear card number put where
// a token belongs.
func looksLikePAN(s string) bool {
	return len(s) >= 12 && len(s) <= 19 && allDigits(s)
}

func isMaskChar(c byte) bool { return c == '*' || c == 'X' || c == 'x' || c == '#' }

// CheckMaskedPAN returns nil if s is empty or a properly masked PAN: 12–19
// characters, digits only in the first 6 and last 4 positions, every other
// character a mask character ('*', 'X', 'x', '#'). Otherwise it returns
// ErrNotMasked (too many digits visible) or ErrFormat.
func CheckMaskedPAN(s string) error {
	if s == "" {
		return nil
	}
	if len(s) < 12 || len(s) > 19 {
		// A short all-digit string is still a card-number fragment.
		if allDigits(s) {
			return ErrNotMasked
		}
		return ErrFormat
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		visible := i < 6 || i >= len(s)-4
		switch {
		case c >= '0' && c <= '9':
			if !visible {
				return ErrNotMasked
			}
		case isMaskChar(c):
		default:
			return ErrFormat
		}
	}
	return nil
}

// validateExtension checks the fields of record version 3.
func (r *Record) validateExtension() error {
	about := r.Type == TypeIntent || r.Type == TypeDeclined
	switch {
	case about && !r.Of.Reversible(), r.Type == TypeReversal && r.Of != 0 && !r.Of.Reversible():
		return &RecordError{Field: "Of", Err: ErrOutOfRange}
	case !about && r.Type != TypeReversal && r.Of != 0:
		return &RecordError{Field: "Of", Err: ErrOutOfRange}
	case r.Node > 9:
		return &RecordError{Field: "Node", Err: ErrOutOfRange}
	case r.Upstream.STAN > 999999:
		return &RecordError{Field: "Upstream.STAN", Err: ErrOutOfRange}
	case r.Type == TypeIntent && (r.Upstream.IsZero() || r.Route == ""):
		return &RecordError{Field: "Upstream", Err: ErrRequired}
	case len(r.Answer) > MaxAnswerLen:
		return &RecordError{Field: "Answer", Err: ErrFormat}
	case len(r.RequestHash) > maxHashLen || !printable(r.RequestHash):
		return &RecordError{Field: "RequestHash", Err: ErrFormat}
	}
	if err := checkField("Upstream.MTI", r.Upstream.MTI, 0, 4, true); err != nil {
		return err
	}
	if len(r.Upstream.MTI) != 0 && len(r.Upstream.MTI) != 4 {
		return &RecordError{Field: "Upstream.MTI", Err: ErrFormat}
	}
	if err := checkField("Upstream.Transmission", r.Upstream.Transmission, 0, 10, true); err != nil {
		return err
	}
	if len(r.Upstream.Transmission) != 0 && len(r.Upstream.Transmission) != 10 {
		return &RecordError{Field: "Upstream.Transmission", Err: ErrFormat}
	}
	return nil
}
