package adminapi

import (
	"context"
	"net/http"
	"time"
)

// PathStats is the live statistics the dashboard polls.
const PathStats = "/v1/stats"

// Stats is a snapshot of a node for the operations dashboard. Counters are totals since the
// node started; the dashboard derives rates from successive snapshots. Nothing in it is card
// data: terminals appear by TID, events by reason.
type Stats struct {
	Time    time.Time `json:"time"`
	Started time.Time `json:"started"`
	Mode    string    `json:"mode"` // embedded or production
	// NotReady is why /readyz answers 503 ("" when the node is ready): NATS disconnected,
	// Redis not answering, the Redis registry lost …
	NotReady      string           `json:"not_ready,omitempty"`
	TerminalAddr  string           `json:"terminal_addr"`
	Connections   int64            `json:"connections"`
	InFlight      int64            `json:"in_flight"`
	Requests      int64            `json:"requests"`
	Approved      int64            `json:"approved"`
	FrameErrors   int64            `json:"frame_errors"`
	RefusedConns  int64            `json:"refused_connections"`
	ResponseCodes map[string]int64 `json:"response_codes"` // of financial requests
	Kinds         map[string]int64 `json:"kinds"`
	Security      map[string]int64 `json:"security_events"`
	Duplicates    map[string]int64 `json:"duplicates"`
	// LatencyP50Ms and LatencyP99Ms are estimated from the request-duration histogram since
	// start.
	LatencyP50Ms float64         `json:"latency_p50_ms"`
	LatencyP99Ms float64         `json:"latency_p99_ms"`
	Reversals    ReversalStats   `json:"reversals"`
	Journal      JournalStats    `json:"journal"`
	Recent       []SecurityEvent `json:"recent_security_events"`
}

// ReversalStats is the reversal store-and-forward queue.
type ReversalStats struct {
	Depth            int64   `json:"depth"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	Alerts           int64   `json:"alerts"`
}

// JournalStats counts the capture journal's appends.
type JournalStats struct {
	Appended   int64 `json:"appended"`
	Duplicates int64 `json:"duplicates"`
	Failed     int64 `json:"failed"`
}

// SecurityEvent is one refused message: when, which terminal it claimed to be, and why.
type SecurityEvent struct {
	Time     time.Time `json:"time"`
	Terminal string    `json:"terminal"`
	Reason   string    `json:"reason"`
}

// Stats returns the node's live statistics.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := c.do(ctx, http.MethodGet, PathStats, nil, nil, &s)
	return s, err
}
