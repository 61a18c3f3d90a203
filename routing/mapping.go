package routing

import (
	"time"
	"unicode/utf8"

	"github.com/posgate/posgate/codec"
)

// TxnType is a transaction as the gateway classifies it (terminal protocol §4); it chooses the
// upstream MTI and processing code (docs/upstream-protocol.md, "Message mapping").
type TxnType uint8

// Transaction types.
const (
	TxnPurchase       TxnType = iota + 1 // 0200, proc 000000
	TxnCompletion                        // pre-auth completion: 0200, proc 000000, with 90 and 38
	TxnPreAuth                           // 0100, proc 030000
	TxnBalance                           // 0100, proc 310000; reply carries 54
	TxnVoid                              // 0200, proc 200000, with 90
	TxnPreAuthVoid                       // 0200, proc 200000, with 90 (original MTI 0100)
	TxnCompletionVoid                    // 0200, proc 200000, with 90, condition code 06
	TxnRefund                            // 0220, proc 200000, with 90
	TxnReversal                          // 0400 (0420 when Repeat), original processing code, with 90
)

var txnNames = [...]string{
	TxnPurchase: "purchase", TxnCompletion: "completion", TxnPreAuth: "preauth", TxnBalance: "balance",
	TxnVoid: "void", TxnPreAuthVoid: "preauth-void", TxnCompletionVoid: "completion-void",
	TxnRefund: "refund", TxnReversal: "reversal",
}

// String returns the type's short name (purchase, void, …).
func (t TxnType) String() string {
	if t > 0 && int(t) < len(txnNames) {
		return txnNames[t]
	}
	return "unknown"
}

// MTI returns the upstream request MTI of t (0400 for a reversal; a repeat is 0420).
func (t TxnType) MTI() string {
	switch t {
	case TxnPreAuth, TxnBalance:
		return "0100"
	case TxnPurchase, TxnCompletion, TxnVoid, TxnPreAuthVoid, TxnCompletionVoid:
		return "0200"
	case TxnRefund:
		return "0220"
	case TxnReversal:
		return "0400"
	}
	return ""
}

// ProcessingCode returns the default upstream processing code of t ("" for a reversal, which
// carries its original's).
func (t TxnType) ProcessingCode() string {
	switch t {
	case TxnPurchase, TxnCompletion:
		return "000000"
	case TxnPreAuth:
		return "030000"
	case TxnBalance:
		return "310000"
	case TxnVoid, TxnPreAuthVoid, TxnCompletionVoid, TxnRefund:
		return "200000"
	}
	return ""
}

// needsOriginal reports whether t carries field 90.
func (t TxnType) needsOriginal() bool {
	switch t {
	case TxnCompletion, TxnVoid, TxnPreAuthVoid, TxnCompletionVoid, TxnRefund, TxnReversal:
		return true
	}
	return false
}

// conditionCode is the default field 25: 06 for the pre-authorization family, 00 otherwise.
func (t TxnType) conditionCode() string {
	switch t {
	case TxnPreAuth, TxnPreAuthVoid, TxnCompletion, TxnCompletionVoid:
		return "06"
	}
	return "00"
}

// DefaultCurrency is field 49 when a request names none: CNY.
const DefaultCurrency = "156"

// MaxAmount is the largest amount field 4 holds (12 digits of fen).
const MaxAmount = 999_999_999_999

// Original identifies the upstream request a void, refund, completion or reversal refers to:
// field 90. MTI, STAN and Transmission are those posgate sent upstream for the original (its
// Result.RequestMTI, Result.STAN and Result.Transmission), not the terminal's.
type Original struct {
	MTI          string // 4 digits, e.g. "0200"
	STAN         uint32 // the original's upstream STAN (field 11)
	Transmission string // the original's field 7, MMDDhhmmss
	AcquirerID   string // up to 11 digits; default: the request's AcquirerID
	ForwardingID string // up to 11 digits; default zeros
}

// Request is one authorization as the gateway hands it to routing. Byte slices are the logical
// values of the terminal message (ASCII digits, text, raw binary), only read during the call.
// Empty optional values are left out of the upstream message. Card data here (PAN, Track2,
// PINBlock, ICC, Expiry) is never logged or put in an error by this package.
type Request struct {
	Type TxnType
	// Txn is the unique transaction id sent as Posgate-Txn. Required.
	Txn string
	// Repeat marks a reversal sent again: MTI 0420 instead of 0400.
	Repeat bool

	PAN            []byte // field 2
	ProcessingCode []byte // field 3; default Type.ProcessingCode(); if set, its first 2 digits must match the type's
	Amount         int64  // field 4, fen; left out for a balance inquiry
	Currency       string // field 49; default DefaultCurrency
	LocalTime      []byte // field 12, hhmmss at the terminal
	LocalDate      []byte // field 13, MMDD at the terminal
	Expiry         []byte // field 14, YYMM
	MCC            []byte // field 18
	EntryMode      []byte // field 22
	CardSequence   []byte // field 23
	ConditionCode  []byte // field 25; default 06 for the pre-authorization family, else 00
	AcquirerID     []byte // field 32
	Track2         []byte // field 35, clear (decrypted from TDK form)
	RRN            []byte // field 37
	AuthCode       []byte // field 38: the original's, in completions and voids
	TID            []byte // field 41 (padded with spaces to 8)
	MID            []byte // field 42 (padded with spaces to 15)
	MerchantName   []byte // field 43: name and location, padded with spaces or cut to 40 bytes
	PINBlock       []byte // field 52: 8 bytes, translated to the route's ZPK
	SecurityInfo   []byte // field 53
	ICC            []byte // field 55
	// Original is field 90; required for completions, voids, refunds and reversals.
	Original *Original
}

// BuildMessage resets m (a codec.Upstream message) and fills it with req as the upstream
// request with upstream STAN stan and transmission time at (field 7, written in UTC).
// Problems are *MappingError values.
func BuildMessage(m *codec.Message, req *Request, stan uint32, at time.Time) error {
	m.Reset()
	mti := req.Type.MTI()
	if mti == "" {
		return &MappingError{Err: ErrTxnType}
	}
	if req.Type == TxnReversal && req.Repeat {
		mti = "0420"
	}
	_ = m.SetMTI(mti)
	set := func(n int, v []byte) error {
		if len(v) == 0 {
			return nil
		}
		if err := m.Set(n, v); err != nil {
			return &MappingError{Field: n, Err: ErrInvalidValue, Cause: err}
		}
		return nil
	}
	if err := set(2, req.PAN); err != nil {
		return err
	}
	// field 3
	switch pc := req.ProcessingCode; {
	case len(pc) == 0 && req.Type == TxnReversal:
		return &MappingError{Field: 3, Err: ErrMissing}
	case len(pc) == 0:
		_ = m.SetString(3, req.Type.ProcessingCode())
	default:
		if def := req.Type.ProcessingCode(); def != "" && (len(pc) < 2 || string(pc[:2]) != def[:2]) {
			return &MappingError{Field: 3, Err: ErrInvalidValue}
		}
		if err := set(3, pc); err != nil {
			return err
		}
	}
	// field 4
	if req.Amount < 0 || req.Amount > MaxAmount {
		return &MappingError{Field: 4, Err: ErrInvalidValue}
	}
	if req.Type != TxnBalance {
		_ = m.SetNumber(4, uint64(req.Amount))
	}
	// field 7, 11
	u := at.UTC()
	var f7 [10]byte
	appendMMDDhhmmss(f7[:0], u)
	_ = m.Set(7, f7[:])
	if stan == 0 || stan > maxSTAN {
		return &MappingError{Field: 11, Err: ErrInvalidValue}
	}
	_ = m.SetNumber(11, uint64(stan))
	for _, f := range [...]struct {
		n int
		v []byte
	}{{12, req.LocalTime}, {13, req.LocalDate}, {14, req.Expiry}, {18, req.MCC}, {22, req.EntryMode}, {23, req.CardSequence}} {
		if err := set(f.n, f.v); err != nil {
			return err
		}
	}
	if len(req.ConditionCode) > 0 {
		if err := set(25, req.ConditionCode); err != nil {
			return err
		}
	} else {
		_ = m.SetString(25, req.Type.conditionCode())
	}
	for _, f := range [...]struct {
		n int
		v []byte
	}{{32, req.AcquirerID}, {35, req.Track2}, {37, req.RRN}, {38, req.AuthCode}} {
		if err := set(f.n, f.v); err != nil {
			return err
		}
	}
	if err := setPadded(m, 41, req.TID, 8); err != nil {
		return err
	}
	if err := setPadded(m, 42, req.MID, 15); err != nil {
		return err
	}
	if len(req.MerchantName) > 0 {
		if err := setPadded(m, 43, cutUTF8(req.MerchantName, 40), 40); err != nil {
			return err
		}
	}
	cur := req.Currency
	if cur == "" {
		cur = DefaultCurrency
	}
	if err := m.SetString(49, cur); err != nil {
		return &MappingError{Field: 49, Err: ErrInvalidValue, Cause: err}
	}
	for _, f := range [...]struct {
		n int
		v []byte
	}{{52, req.PINBlock}, {53, req.SecurityInfo}, {55, req.ICC}} {
		if err := set(f.n, f.v); err != nil {
			return err
		}
	}
	if req.Type.needsOriginal() {
		if req.Original == nil {
			return &MappingError{Field: 90, Err: ErrMissing}
		}
		var f90 [42]byte
		if !appendField90(f90[:0], req.Original, req.AcquirerID) {
			return &MappingError{Field: 90, Err: ErrInvalidValue}
		}
		_ = m.Set(90, f90[:])
	}
	return nil
}

// setPadded sets a fixed-length ans field, padding v with spaces to width.
func setPadded(m *codec.Message, n int, v []byte, width int) error {
	if len(v) == 0 {
		return nil
	}
	if len(v) > width {
		return &MappingError{Field: n, Err: ErrInvalidValue}
	}
	var buf [40]byte
	b := append(buf[:0], v...)
	for len(b) < width {
		b = append(b, ' ')
	}
	if err := m.Set(n, b); err != nil {
		return &MappingError{Field: n, Err: ErrInvalidValue, Cause: err}
	}
	return nil
}

// cutUTF8 cuts v to at most n bytes, at a rune boundary when v is UTF-8.
func cutUTF8(v []byte, n int) []byte {
	if len(v) <= n {
		return v
	}
	if utf8.Valid(v) {
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
	}
	return v[:n]
}

func appendMMDDhhmmss(dst []byte, t time.Time) []byte {
	_, mo, d := t.Date()
	h, mi, s := t.Clock()
	for _, v := range [...]int{int(mo), d, h, mi, s} {
		dst = append(dst, byte('0'+v/10), byte('0'+v%10))
	}
	return dst
}

// appendField90 appends field 90: orig MTI n4, orig STAN n6, orig date/time n10, acquirer id
// n11, forwarding id n11.
func appendField90(dst []byte, o *Original, acquirer []byte) bool {
	if len(o.MTI) != 4 || !digits(o.MTI) || o.STAN == 0 || o.STAN > maxSTAN ||
		len(o.Transmission) != 10 || !digits(o.Transmission) {
		return false
	}
	dst = append(dst, o.MTI...)
	dst = appendZeroPadded(dst, uint64(o.STAN), 6)
	dst = append(dst, o.Transmission...)
	acq := o.AcquirerID
	if acq == "" {
		acq = string(acquirer)
	}
	for _, id := range [...]string{acq, o.ForwardingID} {
		if len(id) > 11 || !digits(id) {
			return false
		}
		for i := len(id); i < 11; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, id...)
	}
	return len(dst) == 42
}

// ParseField90 splits a field 90 value into its parts.
func ParseField90(v []byte) (Original, bool) {
	if len(v) != 42 || !digits(string(v)) {
		return Original{}, false
	}
	var stan uint32
	for _, c := range v[4:10] {
		stan = stan*10 + uint32(c-'0')
	}
	return Original{
		MTI:          string(v[:4]),
		STAN:         stan,
		Transmission: string(v[10:20]),
		AcquirerID:   string(v[20:31]),
		ForwardingID: string(v[31:42]),
	}, true
}

func appendZeroPadded(dst []byte, v uint64, w int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for ; w > 0; w-- {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, tmp[i:]...)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Classify returns the transaction type of an upstream request message, the inverse of
// BuildMessage's choice of MTI and processing code: responders (the issuer simulator) use it.
// Voids are told apart by field 90's original MTI (0100: pre-auth void) and the condition code
// (06: completion void); a 0200 purchase-code message with field 90 is a completion.
func Classify(m *codec.Message) (t TxnType, repeat bool, ok bool) {
	mti := m.MTI()
	pc := m.Field(3)
	if mti == nil || len(pc) != 6 {
		return 0, false, false
	}
	code := string(pc[:2])
	switch string(mti) {
	case "0100":
		switch code {
		case "03":
			return TxnPreAuth, false, true
		case "31":
			return TxnBalance, false, true
		}
	case "0200":
		switch code {
		case "00":
			if m.Has(90) {
				return TxnCompletion, false, true
			}
			return TxnPurchase, false, true
		case "20":
			if o := m.Field(90); len(o) >= 4 && string(o[:4]) == "0100" {
				return TxnPreAuthVoid, false, true
			}
			if string(m.Field(25)) == "06" {
				return TxnCompletionVoid, false, true
			}
			return TxnVoid, false, true
		}
	case "0220":
		if code == "20" {
			return TxnRefund, false, true
		}
	case "0400":
		return TxnReversal, false, true
	case "0420":
		return TxnReversal, true, true
	}
	return 0, false, false
}

// Result is an upstream reply mapped back, plus what posgate sent (RequestMTI, STAN,
// Transmission), which the journal keeps: a later void, refund or reversal names the original
// by them in field 90.
type Result struct {
	MTI          string // the reply's MTI
	ResponseCode string // field 39
	AuthCode     string // field 38, "" when absent
	RRN          string // field 37, "" when absent
	// Balance is the available (54 amount type 02) or else ledger (01) balance in fen, negative
	// when debit; HasBalance says whether the reply carried one.
	Balance         int64
	BalanceCurrency string
	HasBalance      bool

	RequestMTI   string
	STAN         uint32
	Transmission string // MMDDhhmmss, UTC
}

// Approved reports whether the response code is 00.
func (r Result) Approved() bool { return r.ResponseCode == "00" }

// ReplyMTI returns the response MTI of a request MTI (0200 → 0210, 0420 → 0430), "" if mti is
// not a request.
func ReplyMTI(mti []byte) string {
	if len(mti) != 4 || mti[2] < '0' || mti[2] > '9' || (mti[2]-'0')%2 != 0 {
		return ""
	}
	b := [4]byte{mti[0], mti[1], mti[2] + 1, mti[3]}
	return string(b[:])
}

// ParseReply checks that reply answers req — MTI is req's plus 10, the same STAN (11) and TID
// (41) — and maps it to a Result (RequestMTI, STAN and Transmission from req). A mismatch is
// ErrReplyMismatch, a missing or malformed 39 or 54 ErrBadReply, each in a *MappingError naming
// the field.
func ParseReply(req, reply *codec.Message) (Result, error) {
	want := ReplyMTI(req.MTI())
	if want == "" || !reply.IsMTI(want) {
		return Result{}, &MappingError{Field: 0, Err: ErrReplyMismatch}
	}
	for _, n := range [...]int{11, 41} {
		if req.Has(n) && string(req.Field(n)) != string(reply.Field(n)) {
			return Result{}, &MappingError{Field: n, Err: ErrReplyMismatch}
		}
	}
	rc := reply.Field(39)
	if len(rc) != 2 {
		return Result{}, &MappingError{Field: 39, Err: ErrBadReply}
	}
	stan, _ := req.Number(11)
	r := Result{
		MTI:          want,
		ResponseCode: string(rc),
		AuthCode:     string(reply.Field(38)),
		RRN:          string(reply.Field(37)),
		RequestMTI:   string(req.MTI()),
		STAN:         uint32(stan),
		Transmission: string(req.Field(7)),
	}
	if v := reply.Field(54); len(v) > 0 {
		bal, cur, ok := parseBalance(v)
		if !ok {
			return Result{}, &MappingError{Field: 54, Err: ErrBadReply}
		}
		r.Balance, r.BalanceCurrency, r.HasBalance = bal, cur, true
	}
	return r, nil
}

// parseBalance reads field 54: blocks of account type n2, amount type n2, currency n3, sign
// C/D, amount n12. It prefers the available balance (02) over the ledger balance (01).
func parseBalance(v []byte) (int64, string, bool) {
	if len(v)%20 != 0 {
		return 0, "", false
	}
	var (
		bal   int64
		cur   string
		found bool
	)
	for i := 0; i < len(v); i += 20 {
		b := v[i : i+20]
		if !digits(string(b[:7])) || !digits(string(b[8:20])) || b[7] != 'C' && b[7] != 'D' {
			return 0, "", false
		}
		typ := string(b[2:4])
		if typ != "01" && typ != "02" || found && typ == "01" {
			continue
		}
		var amt int64
		for _, c := range b[8:20] {
			amt = amt*10 + int64(c-'0')
		}
		if b[7] == 'D' {
			amt = -amt
		}
		bal, cur, found = amt, string(b[4:7]), true
	}
	return bal, cur, found
}

// AppendBalance appends one field-54 block (account type 00, amount type 02 = available
// balance): what a responder sends in a balance inquiry reply.
func AppendBalance(dst []byte, currency string, fen int64) []byte {
	dst = append(dst, "0002"...)
	dst = append(dst, currency...)
	if fen < 0 {
		dst = append(dst, 'D')
		fen = -fen
	} else {
		dst = append(dst, 'C')
	}
	return appendZeroPadded(dst, uint64(fen), 12)
}
