package redisstate

import (
	"encoding/json"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// wireTxn is a gateway.TxnRecord as stored: JSON with short names, zero values left out. The
// Version lives in its own hash field, so a compare-and-set reads no JSON. CreatedAt is stored
// in UTC (RFC 3339, nanoseconds); BusinessDate as YYYYMMDD.
type wireTxn struct {
	ID        string `json:"id,omitempty"`
	Type      uint8  `json:"ty,omitempty"`
	TID       string `json:"t,omitempty"`
	MID       string `json:"m,omitempty"`
	Batch     uint32 `json:"b,omitempty"`
	STAN      uint32 `json:"s,omitempty"`
	LocalDate string `json:"ld,omitempty"`
	Amount    int64  `json:"a,omitempty"`
	Currency  string `json:"cu,omitempty"`
	MaskedPAN string `json:"mp,omitempty"`
	PANToken  string `json:"pt,omitempty"`
	Kind      uint8  `json:"k,omitempty"`
	RRN       string `json:"rrn,omitempty"`
	AuthCode  string `json:"ac,omitempty"`
	Response  string `json:"rc,omitempty"`
	Route     string `json:"ro,omitempty"`
	UpMTI     string `json:"um,omitempty"`
	UpSTAN    uint32 `json:"us,omitempty"`
	UpTx      string `json:"ut,omitempty"`
	Date      uint32 `json:"bd,omitempty"`
	Status    uint8  `json:"st,omitempty"`
	Refunded  int64  `json:"rf,omitempty"`
	Completed int64  `json:"cp,omitempty"`
	OrigTID   string `json:"ot,omitempty"`
	OrigBatch uint32 `json:"ob,omitempty"`
	OrigSTAN  uint32 `json:"os,omitempty"`
	// CreatedAt is a pointer so the zero time is left out; it is stored in UTC.
	CreatedAt *time.Time `json:"ct,omitempty"`
}

// encodeTxn returns the stored form of rec, without its Version.
func encodeTxn(rec *gateway.TxnRecord) ([]byte, error) {
	w := wireTxn{
		ID: rec.ID, Type: uint8(rec.Type), TID: rec.TID, MID: rec.MID, Batch: rec.Batch, STAN: rec.STAN,
		LocalDate: rec.LocalDate, Amount: rec.Amount, Currency: rec.Currency, MaskedPAN: rec.MaskedPAN,
		PANToken: rec.PANToken, Kind: uint8(rec.Kind), RRN: rec.RRN, AuthCode: rec.AuthCode,
		Response: rec.Response, Route: rec.Route, UpMTI: rec.UpstreamMTI, UpSTAN: rec.UpstreamSTAN,
		UpTx: rec.UpstreamTransmission, Date: rec.BusinessDate.Compact(), Status: uint8(rec.Status),
		Refunded: rec.Refunded, Completed: rec.Completed,
		OrigTID: rec.Original.TID, OrigBatch: rec.Original.Batch, OrigSTAN: rec.Original.STAN,
	}
	if !rec.CreatedAt.IsZero() {
		t := rec.CreatedAt.UTC()
		w.CreatedAt = &t
	}
	return json.Marshal(&w)
}

// decodeTxn is the inverse of encodeTxn; the caller sets Version. Errors never quote the data.
func decodeTxn(b []byte) (gateway.TxnRecord, bool) {
	var w wireTxn
	if err := json.Unmarshal(b, &w); err != nil {
		return gateway.TxnRecord{}, false
	}
	date, ok := dateOf(w.Date)
	if !ok {
		return gateway.TxnRecord{}, false
	}
	rec := gateway.TxnRecord{
		ID: w.ID, Type: journal.TxnType(w.Type), TID: w.TID, MID: w.MID, Batch: w.Batch, STAN: w.STAN,
		LocalDate: w.LocalDate, Amount: w.Amount, Currency: w.Currency, MaskedPAN: w.MaskedPAN,
		PANToken: w.PANToken, Kind: journal.CardKind(w.Kind), RRN: w.RRN, AuthCode: w.AuthCode,
		Response: w.Response, Route: w.Route, UpstreamMTI: w.UpMTI, UpstreamSTAN: w.UpSTAN,
		UpstreamTransmission: w.UpTx, BusinessDate: date, Status: gateway.TxnStatus(w.Status),
		Refunded: w.Refunded, Completed: w.Completed,
		Original: gateway.TxnKey{TID: w.OrigTID, Batch: w.OrigBatch, STAN: w.OrigSTAN},
	}
	if w.CreatedAt != nil {
		rec.CreatedAt = *w.CreatedAt
	}
	return rec, true
}

// dateOf is the inverse of journal.Date.Compact; 0 is the zero Date.
func dateOf(n uint32) (journal.Date, bool) {
	if n == 0 {
		return journal.Date{}, true
	}
	y, m, d := int(n/10000), time.Month(n/100%100), int(n%100)
	date := journal.NewDate(y, m, d)
	if date.Compact() != n {
		return journal.Date{}, false
	}
	return date, true
}
