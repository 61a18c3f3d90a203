package termsim

import (
	"fmt"
	"time"

	"github.com/posgate/posgate/codec"
)

// EntryMode is digits 1–2 of field 22: how the card was read.
type EntryMode uint8

// Entry modes (terminal-protocol §3, field 22).
const (
	EntryManual         EntryMode = 1
	EntrySwipe          EntryMode = 2
	EntryChip           EntryMode = 5
	EntryContactless    EntryMode = 7
	EntryFallback       EntryMode = 80
	EntryContactlessMSD EntryMode = 98
)

// Card is the card presented for a transaction. Only the PAN (or a track 2 holding it) is
// required. A Card prints masked whatever the fmt verb; errors about it name the part, never the
// value.
type Card struct {
	// PAN is the card number, 12–19 digits. When empty, the PAN part of Track2 is used.
	PAN string
	// Expiry is YYMM (field 14), optional.
	Expiry string
	// Track2 is the track 2 equivalent data, with 'D' or '=' as the separator, optional. When
	// present the request carries field 35.
	Track2 string
	// EncryptTrack sends field 35 encrypted under the TDK (53.3 = 1); it needs a sign-on with
	// layout 004.
	EncryptTrack bool
	// OmitPAN leaves field 2 out when Track2 is present (the gateway reads the PAN from 35).
	OmitPAN bool
	// PIN is the cardholder's PIN, 4–12 digits, optional. When present the request carries 52
	// (format 0 under the PIK), 26 = 12, 53 and 22 digit 3 = 1. It is used only on the
	// messages whose table in terminal-flows.md lists 52 (balance, purchase, pre-auth).
	PIN string
	// EntryMode is field 22 digits 1–2; zero means swipe when Track2 is present, else manual.
	EntryMode EntryMode
	// SequenceNumber is field 23 (3 digits), for chip cards; optional.
	SequenceNumber string
	// ICC is field 55 (EMV TLV), optional, at most 255 bytes.
	ICC []byte
}

// pan returns the card number: PAN, or the digits of Track2 before its separator.
func (c *Card) pan() string {
	if c.PAN != "" {
		return c.PAN
	}
	for i := 0; i < len(c.Track2); i++ {
		if c.Track2[i] == 'D' || c.Track2[i] == '=' {
			return c.Track2[:i]
		}
	}
	return c.Track2
}

func (c *Card) entryMode() EntryMode {
	switch {
	case c.EntryMode != 0:
		return c.EntryMode
	case c.Track2 != "":
		return EntrySwipe
	}
	return EntryManual
}

// check validates the card for a request that carries entry data when entry is true.
func (c *Card) check(entry bool) error {
	p := c.pan()
	if len(p) < 12 || len(p) > 19 || !isDigits(p) {
		return &CardError{Part: "PAN"}
	}
	if len(c.Track2) > 37 || (c.EncryptTrack && c.Track2 != "" && len(c.Track2) < 18) {
		return &CardError{Part: "track 2"}
	}
	if c.OmitPAN && c.Track2 == "" {
		return &CardError{Part: "PAN"}
	}
	if !entry {
		return nil
	}
	if c.Expiry != "" && (len(c.Expiry) != 4 || !isDigits(c.Expiry)) {
		return &CardError{Part: "expiry"}
	}
	if c.PIN != "" && (len(c.PIN) < 4 || len(c.PIN) > 12 || !isDigits(c.PIN)) {
		return &CardError{Part: "PIN"}
	}
	if c.SequenceNumber != "" && (len(c.SequenceNumber) != 3 || !isDigits(c.SequenceNumber)) {
		return &CardError{Part: "card sequence"}
	}
	if len(c.ICC) > 255 {
		return &CardError{Part: "ICC"}
	}
	if m := c.entryMode(); m > 99 {
		return &CardError{Part: "entry mode"}
	}
	return nil
}

// Format prints the card with its PAN masked (first 6, last 4) and nothing else of it.
func (c Card) Format(f fmt.State, _ rune) {
	p := c.pan()
	var buf [64]byte
	b := append(buf[:0], "Card{PAN: "...)
	b = codec.AppendMaskedPAN(b, []byte(p))
	b = append(b, '}')
	_, _ = f.Write(b)
}

// Result is the outcome of one exchange as the terminal saw it.
type Result struct {
	Op   Op
	Code string // field 39 ("" when no response arrived)
	// AuthCode (38), RRN (37): what follow-ups (void, refund, completion) refer to.
	AuthCode string
	RRN      string
	STAN     uint32 // field 11 of the request
	Batch    uint32 // 60.2 of the request
	// Date is field 13 of the response (MMDD): the original date 61.3 of a follow-up.
	Date string
	// SettlementDate is field 15 of the response (MMDD).
	SettlementDate string
	Amount         int64 // fen, as sent in field 4
	// Balance is field 54 of a balance inquiry's response, in fen (negative when the sign is D);
	// HasBalance says whether it was present and readable.
	Balance    int64
	HasBalance bool
	// CardOrg is the card organisation from field 63 of the response (CUP, VIS, MCC …).
	CardOrg string
	// Latency is the time from writing the request to reading its response.
	Latency time.Duration
	// Reversed is true when the request was reversed and a 0410 arrived; ReversalCode is the
	// reason sent in the 0400's field 39 (98, 96, A0, 06), set whenever a reversal was owed.
	Reversed     bool
	ReversalCode string
	// Repeats counts how many times an unanswered request that cannot be reversed (a refund)
	// was sent again under the same STAN before it was answered (or given up).
	Repeats int
	// Requirement is the processing requirement of the response header (codec.Require…).
	Requirement byte
}

// Approved reports whether the response code is 00.
func (r *Result) Approved() bool { return r.Code == "00" }

// mmdd returns Date as a number for 61.3 (0 when absent).
func (r *Result) mmdd() uint16 {
	if len(r.Date) != 4 || !isDigits(r.Date) {
		return 0
	}
	var v uint16
	for i := 0; i < 4; i++ {
		v = v*10 + uint16(r.Date[i]-'0')
	}
	return v
}

// Params are the terminal parameters of a parameter download (field 62 of the 0810).
type Params struct {
	MerchantName string        // MN
	Timeout      time.Duration // TO, seconds on the wire
	Retries      int           // RT
}
