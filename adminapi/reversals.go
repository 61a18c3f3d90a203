package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PathReversals lists reversals: those delivered upstream (kept at least 7 days) and those
// still queued.
const PathReversals = "/v1/reversals"

// Bounds of ReversalsRequest.Limit.
const (
	DefaultReversalsLimit = 100
	MaxReversalsLimit     = 1000
)

// ReversalsRequest filters GET PathReversals. Empty fields match everything.
type ReversalsRequest struct {
	TID string // exact terminal id
	RRN string // exact retrieval reference number of the original
	// Txn matches the start of the reversal id, which begins with the original's transaction id.
	Txn string
	// Since and Until bound the delivery time (for queued reversals: the time they were
	// queued); zero means unbounded.
	Since, Until time.Time
	// Limit bounds each of the two lists: 0 means DefaultReversalsLimit, at most
	// MaxReversalsLimit.
	Limit int
}

// ReversalOriginal is field 90 of a reversal: the upstream request it reverses.
type ReversalOriginal struct {
	MTI          string `json:"mti"`
	STAN         uint32 `json:"stan"`
	Transmission string `json:"transmission"` // field 7, MMDDhhmmss UTC
}

// Reversal is a reversal owed upstream as the queue stores it. It holds no card data.
type Reversal struct {
	ID             string           `json:"id"`
	Route          string           `json:"route"`
	TID            string           `json:"tid,omitempty"`
	MID            string           `json:"mid,omitempty"`
	RRN            string           `json:"rrn,omitempty"`
	AuthCode       string           `json:"auth_code,omitempty"`
	ProcessingCode string           `json:"processing_code"`
	AmountFen      int64            `json:"amount_fen"`
	Currency       string           `json:"currency,omitempty"`
	Reason         string           `json:"reason,omitempty"` // why posgate reverses: 98, 96, A0, 06
	STAN           uint32           `json:"stan"`             // the reversal's own upstream STAN
	Original       ReversalOriginal `json:"original"`
	CreatedAt      time.Time        `json:"created_at"`
	QueuedAt       time.Time        `json:"queued_at"`
}

// DeliveredReversal is a reversal upstream acknowledged, with the issuer's answer.
type DeliveredReversal struct {
	Reversal
	MTI          string    `json:"mti"`           // the answer: 0410 or 0430
	ResponseCode string    `json:"response_code"` // the answer's field 39
	Attempts     int       `json:"attempts"`      // the attempt that was answered, 1 for the first
	DeliveredAt  time.Time `json:"delivered_at"`
}

// PendingReversal is a reversal still queued, retried until upstream acknowledges it.
type PendingReversal struct {
	Reversal
	// OverBudget: the answering node's forwarder raised the retry-budget alert for it.
	OverBudget bool `json:"over_budget"`
}

// ReversalList is the answer of GET PathReversals: delivered reversals newest first, queued
// ones oldest first.
type ReversalList struct {
	Delivered []DeliveredReversal `json:"delivered"`
	Pending   []PendingReversal   `json:"pending"`
}

// Reversals returns the delivered and queued reversals matching req.
func (c *Client) Reversals(ctx context.Context, req ReversalsRequest) (ReversalList, error) {
	q := url.Values{}
	setQuery(q, "tid", req.TID)
	setQuery(q, "rrn", req.RRN)
	setQuery(q, "txn", req.Txn)
	if !req.Since.IsZero() {
		q.Set("since", req.Since.UTC().Format(time.RFC3339Nano))
	}
	if !req.Until.IsZero() {
		q.Set("until", req.Until.UTC().Format(time.RFC3339Nano))
	}
	if req.Limit != 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var l ReversalList
	err := c.do(ctx, http.MethodGet, PathReversals, q, nil, &l)
	return l, err
}
