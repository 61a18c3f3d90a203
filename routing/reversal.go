package routing

import (
	"encoding/json"
	"errors"
	"time"
)

// Reversal is a reversal owed upstream, as stored in the reversal queue until a 0410/0430
// acknowledges it. It holds what upstream needs to find and reverse the original — field 90 and
// the amount, terminal and merchant — and no card data: no PAN, track, PIN block, expiry or ICC
// data. Upstream matches a reversal to its original by field 90 (original MTI, STAN and
// transmission time, acquirer), which is unique per route, so field 2 is not needed.
type Reversal struct {
	// ID is unique per reversal: it is the Posgate-Txn header of every attempt and the
	// de-duplication id of the stored message (Nats-Msg-Id), so enqueueing the same reversal
	// twice within the stream's duplicate window stores it once. Required.
	ID string `json:"id"`
	// Route is the route the original went to. Required.
	Route string `json:"route"`
	// Original is field 90: the original upstream request. Required.
	Original Original `json:"original"`
	// ProcessingCode is the original's field 3 (6 digits). Required.
	ProcessingCode string `json:"processing_code"`
	// Amount is the original's amount in fen (field 4).
	Amount int64 `json:"amount"`
	// Currency is field 49; default DefaultCurrency.
	Currency string `json:"currency,omitempty"`
	// ConditionCode is the original's field 25.
	ConditionCode string `json:"condition_code,omitempty"`
	AcquirerID    string `json:"acquirer_id,omitempty"` // field 32
	RRN           string `json:"rrn,omitempty"`         // field 37 of the original
	AuthCode      string `json:"auth_code,omitempty"`   // field 38, when the original was approved
	TID           string `json:"tid,omitempty"`         // field 41
	MID           string `json:"mid,omitempty"`         // field 42
	// Reason says why posgate reverses: the terminal's 39 (98, 96, A0, 06) or posgate's own
	// (98 upstream timeout, 96 journal failure). For operators; not sent upstream.
	Reason string `json:"reason,omitempty"`
	// STAN is the reversal's own upstream STAN, drawn by Enqueue when zero and kept for every
	// repeat, so upstream can recognize a 0420 as the repeat of a 0400.
	STAN uint32 `json:"stan"`
	// CreatedAt is when the reversal was queued; set by Enqueue when zero.
	CreatedAt time.Time `json:"created_at"`
}

// ErrReversal is wrapped by the *MappingError of a reversal that cannot be stored.
var ErrReversal = errors.New("routing: invalid reversal")

// request returns the upstream request of the reversal; repeat selects 0420.
func (r *Reversal) request(repeat bool) *Request {
	o := r.Original
	return &Request{
		Type:           TxnReversal,
		Txn:            r.ID,
		Repeat:         repeat,
		ProcessingCode: []byte(r.ProcessingCode),
		Amount:         r.Amount,
		Currency:       r.Currency,
		ConditionCode:  []byte(r.ConditionCode),
		AcquirerID:     []byte(r.AcquirerID),
		RRN:            []byte(r.RRN),
		AuthCode:       []byte(r.AuthCode),
		TID:            []byte(r.TID),
		MID:            []byte(r.MID),
		Original:       &o,
	}
}

func (r *Reversal) marshal() ([]byte, error) { return json.Marshal(r) }

func unmarshalReversal(b []byte) (Reversal, error) {
	var r Reversal
	err := json.Unmarshal(b, &r)
	return r, err
}
