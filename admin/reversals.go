package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posgate/posgate/adminapi"
)

// ReversalQuery selects reversals; empty fields match everything.
type ReversalQuery struct {
	TID string // exact terminal id
	RRN string // exact retrieval reference number of the original
	// TxnPrefix matches the start of the reversal id (which begins with the original's
	// transaction id).
	TxnPrefix string
	// Since and Until bound the delivery time (queued reversals: the time they were queued).
	Since, Until time.Time
	// Limit bounds each list: 1 to adminapi.MaxReversalsLimit (the server fills in the default).
	Limit int
}

// Reversals is what the admin API reads of the reversal store-and-forward: the reversals
// delivered upstream (newest first) and those still queued (oldest first), each list at most
// q.Limit long. The node adapts routing.Forwarder to it. Config.Reversals nil answers 404 on
// /v1/reversals.
type Reversals interface {
	Reversals(ctx context.Context, q ReversalQuery) (adminapi.ReversalList, error)
}

// maxFilterLen bounds the tid, rrn and txn parameters (a TID is 8 characters, an RRN 12, a
// transaction id well under 100).
const maxFilterLen = 128

// listReversals: GET /v1/reversals?tid=&rrn=&txn=&since=&until=&limit=. since and until are
// RFC 3339 times; since may also be a duration back from now ("24h").
func (s *Server) listReversals(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Reversals == nil {
		return badRequest(adminapi.CodeNotFound, "reversals are not available on this node")
	}
	v, err := query(r, "tid", "rrn", "txn", "since", "until", "limit")
	if err != nil {
		return err
	}
	q := ReversalQuery{TID: v.Get("tid"), RRN: v.Get("rrn"), TxnPrefix: v.Get("txn"), Limit: adminapi.DefaultReversalsLimit}
	for _, f := range []struct{ name, v string }{{"tid", q.TID}, {"rrn", q.RRN}, {"txn", q.TxnPrefix}} {
		if len(f.v) > maxFilterLen {
			return invalidField(f.name, "must be at most "+strconv.Itoa(maxFilterLen)+" characters")
		}
	}
	now := time.Now()
	if q.Since, err = timeParam(v.Get("since"), now, true); err != nil {
		return invalidField("since", "must be an RFC 3339 time or a positive duration such as 24h")
	}
	if q.Until, err = timeParam(v.Get("until"), now, false); err != nil {
		return invalidField("until", "must be an RFC 3339 time")
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Until.Before(q.Since) {
		return invalidField("until", "must not be before since")
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n > adminapi.MaxReversalsLimit {
			return invalidField("limit", "must be a number from 0 (default 100) to 1000")
		}
		if n > 0 {
			q.Limit = n
		}
	}
	out, err := s.cfg.Reversals.Reversals(r.Context(), q)
	if err != nil {
		return err
	}
	if out.Delivered == nil {
		out.Delivered = []adminapi.DeliveredReversal{}
	}
	if out.Pending == nil {
		out.Pending = []adminapi.PendingReversal{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// timeParam parses an RFC 3339 time or, when ago is set, a positive duration back from now.
// "" is the zero time.
func timeParam(s string, now time.Time, ago bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ago && !strings.ContainsAny(s, "T:") {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return time.Time{}, errBadTime
		}
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

var errBadTime = errors.New("admin: bad time")
