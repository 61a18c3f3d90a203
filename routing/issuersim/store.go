package issuersim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/routing"
)

// DefaultLedgerStream is the JetStream stream posgate's commands keep the simulator's entries in.
const DefaultLedgerStream = "POSGATE_SIM_LEDGER"

// EntrySubjectPrefix is the subject prefix of booked entries: each instance appends to
// EntrySubjectPrefix + its instance name.
const EntrySubjectPrefix = "posgate.sim.entries."

// DefaultDurableInstance names a durable simulator that was given no instance name: a restart
// must find its own entries again, so the default cannot be random.
const DefaultDurableInstance = "sim"

// Entry types that are not routing transaction types.
const (
	EntryMalformed = "malformed" // undecodable or unsupported request
)

// Entry is one request the simulator booked, in the order it booked them: the issuer's record
// a clearing file is made of (the stream holds them as JSON lines, several per message). Amounts are field 4 in fen; STAN and Transmission are fields 11
// and 7 of the request (what the acquirer's journal keeps as the upstream identifiers); for a
// void, refund, completion or reversal, Original* are the STAN and transmission its field 90
// names.
type Entry struct {
	Instance             string    `json:"instance"`
	Route                string    `json:"route"`
	MTI                  string    `json:"mti,omitempty"`
	Type                 string    `json:"type"` // routing.TxnType's name, or EntryMalformed
	STAN                 uint32    `json:"stan,omitempty"`
	Transmission         string    `json:"transmission,omitempty"`
	Amount               int64     `json:"amount,omitempty"`
	ResponseCode         string    `json:"rc,omitempty"`
	AuthCode             string    `json:"auth,omitempty"`
	RRN                  string    `json:"rrn,omitempty"`
	TID                  string    `json:"tid,omitempty"`
	MID                  string    `json:"mid,omitempty"`
	OriginalSTAN         uint32    `json:"orig_stan,omitempty"`
	OriginalTransmission string    `json:"orig_transmission,omitempty"`
	Booked               time.Time `json:"booked"`
	// Dropped: recorded, and the answer deliberately not sent (Config.DropRate).
	Dropped bool `json:"dropped,omitempty"`
}

// Key is the entry's own upstream key: route, STAN and transmission time.
func (e *Entry) Key() string { return key(e.Route, e.STAN, e.Transmission) }

// OriginalKey is the key of the request the entry's field 90 names ("" without one).
func (e *Entry) OriginalKey() string {
	if e.OriginalTransmission == "" {
		return ""
	}
	return key(e.Route, e.OriginalSTAN, e.OriginalTransmission)
}

func key(route string, stan uint32, transmission string) string {
	return route + "|" + strconv.FormatUint(uint64(stan), 10) + "|" + transmission
}

// store keeps one instance's entries in a JetStream stream. Entries are group-committed: the
// ones booked while a publish is in flight go together in the next message (one JSON line
// each), so the stream's fsync per message is paid once per batch, not once per request.
type store struct {
	js      jetstream.JetStream
	stream  string
	subject string

	queue chan *pendingEntry
	stop  chan struct{}
	done  chan struct{}
}

type pendingEntry struct {
	e   *Entry
	err chan error
}

// maxBatch bounds the entries of one ledger message (about 300 bytes each).
const maxBatch = 512

// streamConfig is the ledger stream: file storage, nothing ever dropped or deleted (it is the
// issuer's book), acknowledged only once stored as the server's sync settings say.
func streamConfig(name string, replicas int) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        name,
		Description: "posgate issuer simulator ledger: one JSON entry per booked request",
		Subjects:    []string{EntrySubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

func openStore(ctx context.Context, nc *nats.Conn, name, instance string, replicas int) (*store, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, streamConfig(name, replicas)); err != nil {
		return nil, fmt.Errorf("ledger stream %s: %w", name, err)
	}
	st := &store{js: js, stream: name, subject: EntrySubjectPrefix + instance,
		queue: make(chan *pendingEntry, maxBatch), stop: make(chan struct{}), done: make(chan struct{})}
	go st.run()
	return st, nil
}

// append stores e and returns once the server acknowledged the message holding it.
func (st *store) append(ctx context.Context, e *Entry) error {
	p := &pendingEntry{e: e, err: make(chan error, 1)}
	select {
	case st.queue <- p:
	case <-st.stop:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.err:
		return err
	case <-ctx.Done():
		return ctx.Err() // the entry may still be stored; the request stays unanswered
	}
}

var errStoreClosed = errors.New("issuersim: ledger store closed")

// run publishes the queued entries, as many as are waiting in one message, until close.
func (st *store) run() {
	defer close(st.done)
	batch := make([]*pendingEntry, 0, maxBatch)
	var buf []byte
	for {
		select {
		case p := <-st.queue:
			batch = append(batch[:0], p)
		case <-st.stop:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case p := <-st.queue:
				batch = append(batch, p)
			default:
				break more
			}
		}
		buf = buf[:0]
		var err error
		for _, p := range batch {
			var b []byte
			if b, err = json.Marshal(p.e); err != nil {
				break
			}
			buf = append(append(buf, b...), '\n')
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			_, err = st.js.Publish(ctx, st.subject, buf)
			cancel()
		}
		for _, p := range batch {
			p.err <- err
		}
	}
}

// close stops the writer after the batch in flight; entries queued later fail.
func (st *store) close() {
	close(st.stop)
	<-st.done
}

// ReadEntries calls fn with every entry in stream (every instance's, in the order they were
// booked; instance, if not "", keeps only that instance's) and returns fn's first error.
func ReadEntries(ctx context.Context, nc *nats.Conn, stream, instance string, fn func(Entry) error) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return readEntries(ctx, js, stream, instance, fn)
}

func readEntries(ctx context.Context, js jetstream.JetStream, stream, instance string, fn func(Entry) error) error {
	if stream == "" {
		stream = DefaultLedgerStream
	}
	filter := EntrySubjectPrefix + ">"
	if instance != "" {
		filter = EntrySubjectPrefix + instance
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute})
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("issuersim: no ledger stream %s on this server", stream)
		}
		return fmt.Errorf("issuersim: read ledger: %w", err)
	}
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if s, err := js.Stream(dctx, stream); err == nil {
				_ = s.DeleteConsumer(dctx, info.Name)
			}
		}
	}()
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("issuersim: read ledger: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("issuersim: read ledger: %w", err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("issuersim: read ledger: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("issuersim: read ledger: %w", err)
		}
		for line := range bytes.Lines(msg.Data()) {
			var e Entry
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("issuersim: ledger entry at sequence %d: %w", meta.Sequence.Stream, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
}

// apply books e in the ledger's counters and match tables; l.mu must be held.
func (l *ledger) apply(e *Entry) {
	r := l.route(e.Route)
	r.Requests++
	if e.Dropped {
		r.Dropped++
	}
	typ, ok := parseTxnType(e.Type)
	if !ok {
		r.Malformed++
		return
	}
	approved := e.ResponseCode == "00"
	switch typ {
	case routing.TxnBalance:
		r.Balances++
		return
	case routing.TxnReversal:
		rkey := e.OriginalKey()
		if rkey == "" { // no readable field 90: acknowledged, of nothing it knows
			r.Reversals.add(e.Amount)
			r.ReversalsUnknown.add(e.Amount)
			return
		}
		if _, seen := l.reversals.get(rkey); seen {
			r.ReversalRepeats++
			return
		}
		l.reversals.put(rkey, struct{}{})
		r.Reversals.add(e.Amount)
		orig, found := l.originals.get(rkey)
		if found && orig.approved && !orig.reversed {
			orig.reversed = true
			l.originals.put(rkey, orig)
			r.ReversedApprovals.add(orig.amount)
		} else {
			r.ReversalsUnknown.add(e.Amount)
		}
		return
	}
	if !approved {
		r.Declines.add(e.Amount)
	} else {
		switch typ {
		case routing.TxnPurchase:
			r.Purchases.add(e.Amount)
			r.Approvals.add(e.Amount)
		case routing.TxnCompletion:
			r.Completions.add(e.Amount)
			r.Approvals.add(e.Amount)
		case routing.TxnPreAuth:
			r.PreAuths.add(e.Amount)
			r.Approvals.add(e.Amount)
		case routing.TxnVoid, routing.TxnPreAuthVoid, routing.TxnCompletionVoid:
			r.Voids.add(e.Amount)
		case routing.TxnRefund:
			r.Refunds.add(e.Amount)
		}
	}
	l.originals.put(e.Key(), original{amount: e.Amount, approved: approved})
}

// parseTxnType is the routing type named name (its String).
func parseTxnType(name string) (routing.TxnType, bool) {
	for t := routing.TxnPurchase; t <= routing.TxnReversal; t++ {
		if t.String() == name {
			return t, true
		}
	}
	return 0, false
}
