package routing

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Bounds of a DeliveredQuery.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 1000
)

// recordTimeout bounds writing one delivery record and the log look-up of a redelivery.
const recordTimeout = 10 * time.Second

// untilSlack is how long after DeliveredAt a record may be stored (recordTimeout plus clock
// skew between the forwarder and the server): Delivered reads that far past Until.
const untilSlack = time.Minute

// queryTimeout bounds a query whose context has no deadline.
const queryTimeout = 30 * time.Second

// DeliveredReversal is the record the forwarder keeps, in the log stream, of a reversal
// upstream acknowledged: the reversal as it was stored (which holds no card data) and the
// issuer's answer. Records are kept for ForwarderConfig.LogMaxAge (at least 7 days).
type DeliveredReversal struct {
	Reversal Reversal `json:"reversal"`
	// MTI is the answer's MTI: 0410 (to the first attempt, a 0400) or 0430 (to a 0420).
	MTI string `json:"mti"`
	// ResponseCode is the answer's field 39, as the issuer sent it (any code acknowledges).
	ResponseCode string `json:"response_code"`
	// Attempts is the number of the attempt that was answered (1 for the first 0400).
	Attempts int `json:"attempts"`
	// QueuedAt is when the queue stored the reversal; DeliveredAt when the answer came.
	QueuedAt    time.Time `json:"queued_at"`
	DeliveredAt time.Time `json:"delivered_at"`
}

// PendingReversal is a reversal still queued: not yet acknowledged upstream.
type PendingReversal struct {
	Reversal Reversal
	// QueuedAt is when the queue stored the reversal.
	QueuedAt time.Time
	// OverBudget reports that this forwarder raised the retry-budget alert for it (another
	// node's forwarder may have too: each knows its own).
	OverBudget bool
}

// DeliveredQuery selects reversals for Delivered and Pending. Empty fields match everything.
type DeliveredQuery struct {
	TID string // exact terminal id (field 41)
	RRN string // exact retrieval reference number of the original (field 37)
	// IDPrefix matches the start of Reversal.ID; the gateway's reversal ids begin with the
	// original's transaction id.
	IDPrefix string
	// Since and Until bound DeliveredAt (for Pending: QueuedAt), both inclusive; zero means
	// unbounded.
	Since, Until time.Time
	// Limit bounds the answer: 0 means DefaultQueryLimit; more than MaxQueryLimit is cut to it.
	Limit int
}

func (q DeliveredQuery) withDefaults() DeliveredQuery {
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultQueryLimit
	case q.Limit > MaxQueryLimit:
		q.Limit = MaxQueryLimit
	}
	return q
}

func (q *DeliveredQuery) match(r *Reversal, at time.Time) bool {
	return (q.TID == "" || r.TID == q.TID) && (q.RRN == "" || r.RRN == q.RRN) &&
		strings.HasPrefix(r.ID, q.IDPrefix) && (q.Since.IsZero() || !at.Before(q.Since)) &&
		(q.Until.IsZero() || !at.After(q.Until))
}

// logSubject is where the record of rev goes: <LogSubject>.<route>.<tid>.<id>, TID and id in
// hex (they may hold '.', '*', '>' or spaces), "none" for an empty TID. One subject per
// reversal lets record refuse a second record of the same reversal whenever it comes, and the
// TID token lets a TID query filter on the server.
func (f *Forwarder) logSubject(rev *Reversal) string {
	return f.cfg.LogSubject + "." + rev.Route + "." + tidToken(rev.TID) + "." + hex.EncodeToString([]byte(rev.ID))
}

func tidToken(tid string) string {
	if tid == "" {
		return "none"
	}
	return hex.EncodeToString([]byte(tid))
}

// record writes d to the log stream once: Nats-Msg-Id (the reversal id) drops a repeat within
// the duplicate window, and the expectation that the reversal's subject is empty refuses one
// after it — either way the first record stays and record returns nil.
func (f *Forwarder) record(d *DeliveredReversal) error {
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("routing: encode delivered reversal: %w", err)
	}
	ctx, cancel := context.WithTimeout(f.hard, recordTimeout)
	defer cancel()
	_, err = f.js.Publish(ctx, f.logSubject(&d.Reversal), data, jetstream.WithMsgID(d.Reversal.ID),
		jetstream.WithExpectStream(f.cfg.LogStream), jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return nil // recorded before
	}
	if err != nil {
		return fmt.Errorf("routing: record delivered reversal: %w", err)
	}
	return nil
}

// delivered reports whether the log already holds a record of rev. A failed look-up says no:
// the reversal is then sent again, which upstream takes as a repeat.
func (f *Forwarder) delivered(rev *Reversal) bool {
	ctx, cancel := context.WithTimeout(f.hard, recordTimeout)
	defer cancel()
	_, err := f.dlog.GetLastMsgForSubject(ctx, f.logSubject(rev))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		f.log.Warn("reversal log look-up failed", zap.String("reversal", rev.ID), zap.Error(err))
	}
	return err == nil
}

// Delivered returns the records of delivered reversals that match q, newest first (in the
// order they were recorded), at most q.Limit of them. It reads the log stream with an ordered
// consumer from q.Since on (filtered by TID on the server when q.TID is set); without any
// filter it reads only the last q.Limit records. ctx bounds the read (30 s when it has no
// deadline).
func (f *Forwarder) Delivered(ctx context.Context, q DeliveredQuery) ([]DeliveredReversal, error) {
	q = q.withDefaults()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, queryTimeout)
		defer cancel()
	}
	out := []DeliveredReversal{}
	info, err := f.dlog.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("routing: reversal log info: %w", err)
	}
	st := info.State
	if st.Msgs == 0 || (!q.Since.IsZero() && st.LastTime.Before(q.Since)) ||
		(!q.Until.IsZero() && st.FirstTime.After(q.Until.Add(untilSlack))) {
		return out, nil
	}
	last := st.LastSeq // records written after this are not waited for
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.cfg.LogSubject + ".>"},
		InactiveThreshold: time.Minute}
	if q.TID != "" {
		cfg.FilterSubjects = []string{f.cfg.LogSubject + ".*." + tidToken(q.TID) + ".*"}
	}
	switch {
	case q.TID == "" && q.RRN == "" && q.IDPrefix == "" && q.Until.IsZero():
		// Every record matches but for Since, so the newest q.Limit are the last q.Limit
		// sequences: limits retention removes records only from the head.
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = st.FirstSeq
		if last >= st.FirstSeq+uint64(q.Limit) {
			cfg.OptStartSeq = last - uint64(q.Limit) + 1
		}
	case !q.Since.IsZero():
		since := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := f.dlog.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("routing: reversal log reader: %w", err)
	}
	defer f.dropReader(cons)
	if ci := cons.CachedInfo(); ci == nil || ci.NumPending == 0 {
		return out, nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return nil, fmt.Errorf("routing: reversal log reader: %w", err)
	}
	defer it.Stop()
	// ring keeps the last q.Limit matches in recording order; next is where the next goes.
	ring := make([]DeliveredReversal, 0, min(q.Limit, 64))
	next, undecodable := 0, 0
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("routing: read reversal log: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("routing: read reversal log: %w", err)
		}
		// DeliveredAt is the forwarder's clock, the stream's timestamp comes a moment later:
		// stop reading only well after Until.
		if meta.Sequence.Stream > last || (!q.Until.IsZero() && meta.Timestamp.After(q.Until.Add(untilSlack))) {
			break
		}
		var d DeliveredReversal
		if err := json.Unmarshal(m.Data(), &d); err != nil {
			undecodable++
		} else if q.match(&d.Reversal, d.DeliveredAt) {
			if len(ring) < q.Limit {
				ring = append(ring, d)
			} else {
				ring[next] = d
			}
			next = (next + 1) % q.Limit
		}
		if meta.NumPending == 0 || meta.Sequence.Stream >= last {
			break
		}
	}
	if undecodable > 0 {
		f.log.Warn("reversal log holds records it cannot decode", zap.Int("records", undecodable))
	}
	if len(ring) == q.Limit { // oldest first from next on
		ring = append(ring[next:], ring[:next]...)
	}
	slices.Reverse(ring)
	return append(out, ring...), nil
}

// dropReader deletes a query's ordered consumer instead of leaving it to the server's
// inactivity clean-up.
func (f *Forwarder) dropReader(cons jetstream.Consumer) {
	ci := cons.CachedInfo()
	if ci == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := f.dlog.DeleteConsumer(ctx, ci.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		f.log.Debug("reversal log reader not deleted; the server drops it after a minute", zap.Error(err))
	}
}

// Pending returns the queued reversals that match q (Since and Until bound QueuedAt), oldest
// first, at most q.Limit of them. It reads the queue by direct gets — the work queue allows no
// second consumer — one per queued reversal until q.Limit match, so it costs as much as the
// queue is deep. ctx bounds the read (30 s when it has no deadline).
func (f *Forwarder) Pending(ctx context.Context, q DeliveredQuery) ([]PendingReversal, error) {
	q = q.withDefaults()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, queryTimeout)
		defer cancel()
	}
	out := []PendingReversal{}
	info, err := f.queue.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("routing: reversal stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq, last := info.State.FirstSeq, info.State.LastSeq; seq <= last && len(out) < q.Limit; {
		m, err := f.queue.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(f.cfg.Subject+".>"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("routing: read reversal queue: %w", err)
		}
		if m.Sequence > last || (!q.Until.IsZero() && m.Time.After(q.Until)) {
			break
		}
		seq = m.Sequence + 1
		rev, err := unmarshalReversal(m.Data)
		if err != nil || !q.match(&rev, m.Time) {
			continue // an undecodable message is alerted by the forwarding loop
		}
		f.mu.Lock()
		_, over := f.overBudget[rev.ID]
		f.mu.Unlock()
		out = append(out, PendingReversal{Reversal: rev, QueuedAt: m.Time.UTC(), OverBudget: over})
	}
	return out, nil
}
