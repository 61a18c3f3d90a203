package journal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Journal appends Records durably to a JetStream stream and reads them back by
// business date. Create it with New and release it with Close; all methods are
// safe for concurrent use.
type Journal struct {
	cfg    Config
	log    *zap.Logger
	js     jetstream.JetStream
	stream jetstream.Stream

	mu       sync.Mutex
	closed   bool
	queue    []*pending          // accepted, not yet taken by the committer
	inflight map[string]*pending // accepted, not yet acknowledged (by TxnID)
	recent   recentSet           // acknowledged within DuplicateWindow

	kick      chan struct{} // cap 1: queue became non-empty
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the committer and all commits have exited
	slots     chan struct{} // MaxInFlight semaphore
	abort     context.Context
	abortFn   context.CancelFunc
	commits   sync.WaitGroup
	closeOnce sync.Once

	segPrefix string // unique per Journal instance, prefixes segment msg ids
	segSeq    atomic.Uint64

	lastSubject atomic.Pointer[dateSubject] // the subject of the date last committed

	appended, duplicates, failed, segments atomic.Uint64
}

// pending is one accepted Append waiting for its segment's acknowledgement.
type pending struct {
	id   string
	date Date
	enc  []byte
	done chan struct{} // closed when err is final
	err  error
}

// newPending returns a pending entry whose enc has capacity size, both in one allocation for
// the sizes records take (a larger one gets its own buffer).
func newPending(size int) *pending {
	if size > pendingInline {
		return &pending{enc: make([]byte, 0, size)}
	}
	b := new(struct {
		pending
		buf [pendingInline]byte
	})
	b.enc = b.buf[:0]
	return &b.pending
}

// pendingInline holds a purchase's capture with its answer frame (~450 bytes).
const pendingInline = 640

// segmentMsg is a committer's message, its header values rewritten per segment (the client
// has copied the message out when PublishMsg returns).
type segmentMsg struct {
	msg        nats.Msg
	id, stream [1]string
}

func newSegmentMsg(stream string) *segmentMsg {
	m := &segmentMsg{stream: [1]string{stream}}
	m.msg.Header = nats.Header{jetstream.MsgIDHeader: m.id[:], jetstream.ExpectedStreamHeader: m.stream[:]}
	return m
}

// segmentBufs holds segment payload buffers between commits; maxPooledSegment bounds what
// goes back (a rare huge segment is left to the collector).
var segmentBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledSegment = 256 << 10

// appendSegment appends the segment payload of recs — header, count, then each record with
// its length — to dst.
func appendSegment(dst []byte, recs []*pending) []byte {
	dst = append(dst, segmentMagic[0], segmentMagic[1], segmentVersion)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for _, p := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(p.enc)))
		dst = append(dst, p.enc...)
	}
	return dst
}

// subject returns the stream subject of business date d, built once per date.
func (j *Journal) subject(d Date) string {
	if s := j.lastSubject.Load(); s != nil && s.date == d {
		return s.subject
	}
	s := &dateSubject{date: d, subject: j.cfg.subject(d)}
	j.lastSubject.Store(s)
	return s.subject
}

type dateSubject struct {
	date    Date
	subject string
}

// Stats are cumulative counters since New.
type Stats struct {
	// Appended counts records acknowledged durable.
	Appended uint64
	// Duplicates counts Appends answered from the in-flight or recent set
	// instead of being written again.
	Duplicates uint64
	// Failed counts records whose segment was not acknowledged.
	Failed uint64
	// Segments counts acknowledged segments (one fsync each on a single server).
	Segments uint64
}

// New validates cfg, creates or updates the stream on nc and starts the group
// committer. logger may be nil. The caller keeps ownership of nc and must call
// Close before closing it.
func New(ctx context.Context, nc *nats.Conn, cfg Config, logger *zap.Logger) (*Journal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = zap.NewNop()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("journal: jetstream: %w", err)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = DefaultReplicas
		if st, err := js.Stream(ctx, cfg.Stream); err == nil {
			cfg.Replicas = st.CachedInfo().Config.Replicas
		}
	}
	stream, err := js.CreateOrUpdateStream(ctx, streamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("journal: ensure stream %s: %w", cfg.Stream, err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("journal: segment id prefix: %w", err)
	}
	j := &Journal{
		cfg:       cfg,
		log:       logger.Named("journal"),
		js:        js,
		stream:    stream,
		inflight:  make(map[string]*pending),
		recent:    newRecentSet(cfg.RecentIDs, int64(cfg.DuplicateWindow)),
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		slots:     make(chan struct{}, cfg.MaxInFlight),
		segPrefix: hex.EncodeToString(rnd[:]) + "-",
	}
	j.abort, j.abortFn = context.WithCancel(context.Background())
	go j.run()
	j.log.Info("journal ready",
		zap.String("stream", cfg.Stream),
		zap.String("subjects", cfg.SubjectPrefix+".>"),
		zap.Int("replicas", cfg.Replicas),
		zap.Int("max_batch", cfg.MaxBatch))
	return j, nil
}

// streamConfig is the stream the journal needs. Storage is always file; the
// stream never uses async persistence; DiscardNew makes a full stream refuse
// appends instead of dropping old records; delete and purge are denied because
// this is the book of record.
func streamConfig(cfg Config) jetstream.StreamConfig {
	maxBytes := cfg.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "posgate capture journal (segments of binary records by business date)",
		Subjects:    []string{cfg.SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		Duplicates:  cfg.RetryWindow,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		PersistMode: jetstream.DefaultPersistMode,
	}
}

// Append validates rec and returns once it is durable: its segment has been
// acknowledged by the server, which (configured as docs/journal.md requires)
// fsyncs or replicates before acknowledging.
//
// A repeated Append of a TxnID that this Journal is still writing waits for that
// write and returns its result; one it wrote within DuplicateWindow (and among
// the last RecentIDs) returns nil at once without writing again. Both count as
// Stats.Duplicates.
//
// If ctx is already done, nothing is written. If ctx ends while waiting, Append
// returns ctx's error but the record may still become durable; retrying with the
// same TxnID is safe. ErrNotDurable means the server did not acknowledge; the
// record may or may not be stored, and Read never returns a TxnID twice.
func (j *Journal) Append(ctx context.Context, rec Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("journal: append: %w", err)
	}
	if err := rec.Validate(); err != nil {
		return err
	}
	// The pending entry and its encoding in one allocation.
	p := newPending(rec.encodedSizeBound())
	p.enc, _ = rec.AppendBinary(p.enc)
	p.id, p.date = rec.TxnID, rec.BusinessDate
	now := time.Now().UnixNano()

	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if j.recent.contains(rec.TxnID, now) {
		j.mu.Unlock()
		j.duplicates.Add(1)
		return nil
	}
	if first, ok := j.inflight[rec.TxnID]; ok {
		j.mu.Unlock()
		j.duplicates.Add(1)
		return wait(ctx, first)
	}
	p.done = make(chan struct{})
	j.inflight[p.id] = p
	j.queue = append(j.queue, p)
	j.mu.Unlock()

	select {
	case j.kick <- struct{}{}:
	default:
	}
	return wait(ctx, p)
}

func wait(ctx context.Context, p *pending) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("journal: append: outcome unknown: %w", ctx.Err())
	}
}

// Stats returns the cumulative counters.
func (j *Journal) Stats() Stats {
	return Stats{
		Appended:   j.appended.Load(),
		Duplicates: j.duplicates.Load(),
		Failed:     j.failed.Load(),
		Segments:   j.segments.Load(),
	}
}

// Close stops accepting appends, commits everything already accepted and waits
// for the acknowledgements. If ctx ends first, outstanding segments are
// abandoned (their Appends fail with ErrNotDurable) and Close returns ctx's
// error once every goroutine has exited. Close is idempotent; it does not close
// the NATS connection.
func (j *Journal) Close(ctx context.Context) error {
	j.closeOnce.Do(func() {
		j.mu.Lock()
		j.closed = true
		j.mu.Unlock()
		close(j.stop)
	})
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		j.abortFn()
		<-j.done
		return fmt.Errorf("journal: close: %w", ctx.Err())
	}
}

// run is the group committer: whenever a commit slot is free it takes
// everything queued (up to MaxBatch / MaxSegmentBytes) and commits it as one
// segment per business date.
func (j *Journal) run() {
	defer func() {
		j.commits.Wait()
		j.abortFn()
		close(j.done)
	}()
	work := make(chan *[]*pending) // unbuffered: a batch is taken only when a committer is free
	for range j.cfg.MaxInFlight {
		j.commits.Add(1)
		go func() {
			defer j.commits.Done()
			msg := newSegmentMsg(j.cfg.Stream) // this committer's, rewritten per segment
			for batch := range work {
				j.commit(msg, *batch)
				clear(*batch)
				batchSlices.Put(batch)
				<-j.slots
			}
		}()
	}
	defer close(work)
	for {
		j.slots <- struct{}{}
		batch := j.take()
		if batch == nil {
			<-j.slots
			return
		}
		work <- batch
	}
}

func sameDate(batch []*pending, d Date) bool {
	for _, p := range batch {
		if p.date != d {
			return false
		}
	}
	return true
}

// batchSlices recycles the slices that carry a batch from take to a committer.
var batchSlices = sync.Pool{New: func() any { s := make([]*pending, 0, 64); return &s }}

// take blocks until records are queued and returns a batch of them, or returns
// nil once the Journal is closed and the queue is drained.
func (j *Journal) take() *[]*pending {
	lingered := j.cfg.MaxDelay == 0
	for {
		j.mu.Lock()
		n := len(j.queue)
		if n > 0 && (lingered || n >= j.cfg.MaxBatch || j.closed) {
			size := 0
			k := 0
			for k < n && k < j.cfg.MaxBatch {
				size += len(j.queue[k].enc) + 3
				if k > 0 && size > j.cfg.MaxSegmentBytes-16 {
					break
				}
				k++
			}
			batch := batchSlices.Get().(*[]*pending)
			*batch = append((*batch)[:0], j.queue[:k]...)
			left := copy(j.queue, j.queue[k:])
			clear(j.queue[left:]) // drop the references the batch took over
			j.queue = j.queue[:left]
			j.mu.Unlock()
			return batch
		}
		closed := j.closed
		j.mu.Unlock()
		if n > 0 {
			// Linger once for more records to fill the segment.
			select {
			case <-time.After(j.cfg.MaxDelay):
			case <-j.stop:
			}
			lingered = true
			continue
		}
		if closed {
			return nil
		}
		select {
		case <-j.kick:
		case <-j.stop:
		}
	}
}

// commit writes batch as one segment per business date (records keep their
// order within a date) and completes every pending append.
func (j *Journal) commit(msg *segmentMsg, batch []*pending) {
	if d := batch[0].date; batch[len(batch)-1].date == d && sameDate(batch, d) {
		j.commitSegment(msg, d, batch) // the usual case: one date, no copies
		return
	}
	for len(batch) > 0 {
		d := batch[0].date
		same, rest := batch[:0:0], batch[:0:0]
		for _, p := range batch {
			if p.date == d {
				same = append(same, p)
			} else {
				rest = append(rest, p)
			}
		}
		j.commitSegment(msg, d, same)
		batch = rest
	}
}

func (j *Journal) commitSegment(sm *segmentMsg, d Date, recs []*pending) {
	bp := segmentBufs.Get().(*[]byte)
	payload := appendSegment((*bp)[:0], recs)
	var idBuf [32]byte
	segID := string(strconv.AppendUint(append(idBuf[:0], j.segPrefix...), j.segSeq.Add(1), 36))
	sm.msg.Subject, sm.msg.Data, sm.id[0] = j.subject(d), payload, segID
	err := j.publish(&sm.msg)
	sm.msg.Data = nil
	if cap(payload) <= maxPooledSegment { // the client copied it out; nothing holds it now
		*bp = payload
		segmentBufs.Put(bp)
	}

	now := time.Now().UnixNano()
	j.mu.Lock()
	for _, p := range recs {
		delete(j.inflight, p.id)
		if err == nil {
			j.recent.add(p.id, now)
		}
	}
	j.mu.Unlock()
	if err == nil {
		j.segments.Add(1)
		j.appended.Add(uint64(len(recs)))
	} else {
		j.failed.Add(uint64(len(recs)))
		j.log.Error("journal segment not acknowledged",
			zap.String("segment", segID),
			zap.Int("records", len(recs)),
			zap.Error(err))
	}
	for _, p := range recs {
		p.err = err
		close(p.done)
	}
}

// publish sends one segment and waits for its acknowledgement, re-sending it
// with the same Nats-Msg-Id after a timeout or disconnect so the server stores
// it at most once. A refusal by the server (*jetstream.APIError) is final. A
// stream that answers nothing at once (no responders: its leader died and the
// replicas are electing another, which takes seconds) is tried again, with a
// growing pause, for up to LeaderWait — such tries do not count as attempts.
func (j *Journal) publish(msg *nats.Msg) error {
	var last error
	leaderless := time.Time{} // when the stream first answered "no responders"
	pause := 50 * time.Millisecond
	for attempt := 1; attempt <= j.cfg.PublishAttempts; {
		ctx, cancel := context.WithTimeout(j.abort, j.cfg.PublishTimeout)
		_, err := j.js.PublishMsg(ctx, msg)
		cancel()
		if err == nil {
			return nil
		}
		last = err
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || j.abort.Err() != nil || errors.Is(err, nats.ErrConnectionClosed) {
			break
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			if leaderless.IsZero() {
				leaderless = time.Now()
			}
			if time.Since(leaderless) > j.cfg.LeaderWait {
				break
			}
			pause = min(2*pause, time.Second)
		} else {
			pause = time.Duration(attempt) * 50 * time.Millisecond
			attempt++
		}
		j.log.Warn("journal segment publish retry",
			zap.String("segment", msg.Header.Get(jetstream.MsgIDHeader)), zap.Int("attempt", attempt), zap.Error(err))
		select {
		case <-time.After(pause):
		case <-j.abort.Done():
		}
	}
	return fmt.Errorf("%w: %w", ErrNotDurable, last)
}
