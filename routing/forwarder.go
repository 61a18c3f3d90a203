package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
)

// Forwarder defaults, applied by NewForwarder to zero fields.
const (
	DefaultReversalStream   = "POSGATE_REVERSALS"
	DefaultReversalSubject  = "posgate.reversals" // reversals are stored on <subject>.<route>
	DefaultReversalConsumer = "reversal-forwarder"
	DefaultWorkers          = 4
	DefaultInitialBackoff   = time.Second
	DefaultMaxBackoff       = 5 * time.Minute
	DefaultRetryBudget      = 10
	DefaultAckWait          = MaxTimeout + 30*time.Second
	DefaultPollWait         = 2 * time.Second

	DefaultReversalLogStream  = "POSGATE_REVERSAL_LOG"
	DefaultReversalLogSubject = "posgate.reversal-log" // records go to <subject>.<route>.<tid>.<id> (reversallog.go)
	DefaultReversalLogMaxAge  = 8 * 24 * time.Hour
	// MinReversalLogMaxAge is the shortest retention of the delivered-reversal log Validate
	// accepts: operators must be able to look a reversal up for a week.
	MinReversalLogMaxAge = 7 * 24 * time.Hour
)

// ForwarderConfig configures the reversal store-and-forward.
type ForwarderConfig struct {
	// Stream is the JetStream work-queue stream (file storage). Default DefaultReversalStream.
	Stream string
	// Subject is the subject prefix the stream stores; reversals go to <Subject>.<route>.
	// Default DefaultReversalSubject.
	Subject string
	// Consumer is the durable pull consumer every forwarder of the deployment shares, so a
	// forwarder started after a crash continues where the last one stopped. Default
	// DefaultReversalConsumer.
	Consumer string
	// Replicas of the stream: 1 for the embedded server, 3 in a production cluster. Default 1.
	Replicas int
	// Workers is how many reversals are forwarded at once. Default DefaultWorkers.
	Workers int
	// InitialBackoff is the wait after the first failed attempt; each further failure doubles
	// it, up to MaxBackoff. Defaults DefaultInitialBackoff and DefaultMaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// RetryBudget is the number of attempts after which an unacknowledged reversal raises an
	// operator alert. The reversal stays queued and is still retried every MaxBackoff.
	// Default DefaultRetryBudget.
	RetryBudget int
	// AckWait is how long a reversal being forwarded stays invisible to other forwarders; it
	// must exceed the longest route timeout. Default DefaultAckWait.
	AckWait time.Duration
	// PollWait bounds one pull from the queue when it is empty. Default DefaultPollWait.
	PollWait time.Duration

	// LogStream is the stream that keeps a record of every delivered reversal — the reversal
	// as stored plus the issuer's answer — after it leaves the queue (file storage, limits
	// retention, Replicas like the queue). Default DefaultReversalLogStream.
	LogStream string
	// LogSubject is the subject prefix of LogStream; it must not overlap Subject. Default
	// DefaultReversalLogSubject.
	LogSubject string
	// LogMaxAge is how long delivered reversals stay in LogStream: at least
	// MinReversalLogMaxAge. Default DefaultReversalLogMaxAge (8 days).
	LogMaxAge time.Duration
}

// ErrForwarderConfig is wrapped by the errors of ForwarderConfig.Validate.
var ErrForwarderConfig = errors.New("routing: invalid forwarder config")

func (c ForwarderConfig) withDefaults() ForwarderConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Stream == "" {
		c.Stream = DefaultReversalStream
	}
	if c.Subject == "" {
		c.Subject = DefaultReversalSubject
	}
	if c.Consumer == "" {
		c.Consumer = DefaultReversalConsumer
	}
	if c.LogStream == "" {
		c.LogStream = DefaultReversalLogStream
	}
	if c.LogSubject == "" {
		c.LogSubject = DefaultReversalLogSubject
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.RetryBudget == 0 {
		c.RetryBudget = DefaultRetryBudget
	}
	def(&c.InitialBackoff, DefaultInitialBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.AckWait, DefaultAckWait)
	def(&c.PollWait, DefaultPollWait)
	def(&c.LogMaxAge, DefaultReversalLogMaxAge)
	return c
}

// Validate checks c after applying the defaults.
func (c ForwarderConfig) Validate() error {
	c = c.withDefaults()
	bad := func(field, why string) error { return fmt.Errorf("%w: %s %s", ErrForwarderConfig, field, why) }
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return bad("Replicas", "must be 1-5")
	case c.Workers < 1:
		return bad("Workers", "must be positive")
	case c.RetryBudget < 1:
		return bad("RetryBudget", "must be positive")
	case c.InitialBackoff < 0 || c.MaxBackoff < c.InitialBackoff:
		return bad("MaxBackoff", "must be at least InitialBackoff, both positive")
	case c.AckWait <= MaxTimeout:
		return bad("AckWait", "must exceed the longest route timeout (30s)")
	case c.PollWait < 10*time.Millisecond:
		return bad("PollWait", "must be at least 10ms")
	case c.LogMaxAge < MinReversalLogMaxAge:
		return bad("LogMaxAge", "must be at least 7 days")
	case c.LogStream == c.Stream:
		return bad("LogStream", "must differ from Stream")
	case overlaps(c.Subject, c.LogSubject):
		return bad("LogSubject", "must not overlap Subject")
	}
	return nil
}

// overlaps reports whether one subject prefix is, token by token, a prefix of the other, so
// that <a>.> and <b>.> would share subjects.
func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".")
}

// Backoff returns the wait after attempt n (1-based) failed: InitialBackoff·2^(n-1), at most
// MaxBackoff.
func (c ForwarderConfig) Backoff(n int) time.Duration {
	c = c.withDefaults()
	d := c.InitialBackoff
	for i := 1; i < n && d < c.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, c.MaxBackoff)
}

// ReversalStats describes the reversal queue, for metrics and the dashboard.
type ReversalStats struct {
	// Depth is the number of reversals stored and not yet acknowledged upstream.
	Depth uint64
	// OldestAge is the age of the oldest stored reversal (0 when the queue is empty).
	OldestAge time.Duration
	// Alerts counts reversals this forwarder found past their retry budget (each once; a
	// restarted forwarder counts them again on their next attempt). A counter.
	Alerts uint64
	// OverBudget is the number of reversals currently queued and known to be past their
	// retry budget. A gauge.
	OverBudget int
	// Attempts and Acknowledged count 0400/0420 sent and 0410/0430 received by this forwarder.
	Attempts     uint64
	Acknowledged uint64
}

// Forwarder is the reversal store-and-forward. Enqueue stores a reversal durably and may be
// called whether or not the forwarding loop runs; Start runs the loop, which sends each stored
// reversal upstream — 0400 on its first delivery, 0420 on every later one — until a 0410/0430
// answers it, and only then — once the delivery is recorded in the log stream, where Delivered
// finds it for LogMaxAge — removes it. Shutdown stops the loop. Any number of forwarders may
// share the queue (they share one durable consumer).
type Forwarder struct {
	cfg    ForwarderConfig
	client *Client
	js     jetstream.JetStream
	queue  jetstream.Stream // the work queue (cfg.Stream)
	dlog   jetstream.Stream // the delivered-reversal log (cfg.LogStream)
	cons   jetstream.Consumer
	log    *zap.Logger

	// afterRecord, when set (tests only), runs after a delivery is recorded and before the
	// queue message is acked; returning true abandons the message there (nak), as a crash
	// between the two would, so it is delivered again.
	afterRecord func(rev *Reversal) bool

	attempts, acked, alerts atomic.Uint64
	mu                      sync.Mutex
	overBudget              map[string]struct{} // reversal ids

	startOnce, stopOnce sync.Once
	poll, hard          context.Context // poll: canceled when Shutdown starts; hard: when it gives up
	stopPoll, stopHard  context.CancelFunc
	wg                  sync.WaitGroup
	done                chan struct{}
}

// NewForwarder creates (or updates) the reversal stream, its durable consumer and the
// delivered-reversal log stream, and returns a stopped forwarder sending through client. log
// may be nil.
func NewForwarder(ctx context.Context, client *Client, cfg ForwarderConfig, log *zap.Logger) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	js, err := jetstream.New(client.nc)
	if err != nil {
		return nil, fmt.Errorf("routing: jetstream: %w", err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "posgate reversals owed upstream (store-and-forward)",
		Subjects:    []string{cfg.Subject + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Discard:     jetstream.DiscardNew, // never drop a stored reversal to make room
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("routing: reversal stream %s: %w", cfg.Stream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       cfg.Consumer,
		Description:   "posgate reversal forwarder",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1, // a reversal is retried until acknowledged
		MaxAckPending: 10 * cfg.Workers,
	})
	if err != nil {
		return nil, fmt.Errorf("routing: reversal consumer %s: %w", cfg.Consumer, err)
	}
	dlog, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.LogStream,
		Description: "posgate reversals delivered upstream, with the issuer's answer",
		Subjects:    []string{cfg.LogSubject + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.LogMaxAge,
		Discard:     jetstream.DiscardOld,
		// A redelivery after a crash between recording and acking comes after AckWait; the
		// per-subject expectation in record covers any later one.
		Duplicates: min(2*cfg.AckWait, cfg.LogMaxAge),
	})
	if err != nil {
		return nil, fmt.Errorf("routing: reversal log stream %s: %w", cfg.LogStream, err)
	}
	f := &Forwarder{cfg: cfg, client: client, js: js, queue: stream, dlog: dlog, cons: cons, log: log.Named("reversals"),
		overBudget: make(map[string]struct{}), done: make(chan struct{})}
	f.poll, f.stopPoll = context.WithCancel(context.Background())
	f.hard, f.stopHard = context.WithCancel(context.Background())
	return f, nil
}

// Enqueue validates rev, draws its STAN (when zero) and sets CreatedAt (when zero), and stores
// it; it returns once the stream has acknowledged the write (which, with fsync-always storage
// as the embedded server and production streams use, means it is on disk). An invalid reversal
// is a *MappingError wrapping ErrReversal; a storage failure is returned as is, and the caller
// must not tell the terminal the reversal is queued.
func (f *Forwarder) Enqueue(ctx context.Context, rev *Reversal) error {
	if rev.ID == "" {
		return &MappingError{Err: ErrReversal, Cause: ErrNoTxnID}
	}
	if _, ok := f.client.routes[rev.Route]; !ok {
		return &MappingError{Err: ErrReversal, Cause: ErrUnknownRoute}
	}
	now := f.client.now()
	if rev.CreatedAt.IsZero() {
		rev.CreatedAt = now.UTC()
	}
	if rev.STAN == 0 {
		stan, err := f.client.stan.NextSTAN(ctx, rev.Route, now)
		if err != nil {
			return fmt.Errorf("routing: reversal STAN: %w", err)
		}
		rev.STAN = stan
	}
	// Build the message once now, so a reversal that could never be sent is refused here
	// rather than found in the queue later.
	if err := BuildMessage(codec.NewMessage(codec.Upstream), rev.request(false), rev.STAN, now); err != nil {
		return &MappingError{Err: ErrReversal, Cause: err}
	}
	data, err := rev.marshal()
	if err != nil {
		return fmt.Errorf("routing: encode reversal: %w", err)
	}
	// A stream without a leader for a moment (a NATS server of the cluster died) answers
	// nothing: publish again until the queue acknowledges or ctx ends. The message id makes a
	// repeat of a publish that was stored after all a duplicate the stream drops.
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		actx, cancel := context.WithTimeout(ctx, enqueueAttempt)
		_, err := f.js.Publish(actx, f.cfg.Subject+"."+rev.Route, data,
			jetstream.WithMsgID(rev.ID), jetstream.WithExpectStream(f.cfg.Stream))
		cancel()
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &apiErr), ctx.Err() != nil:
			return fmt.Errorf("routing: store reversal: %w", err)
		}
		f.log.Warn("reversal queue did not acknowledge; publishing again", zap.String("txn", rev.ID), zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("routing: store reversal: %w", err)
		case <-time.After(wait):
		}
	}
}

// enqueueAttempt bounds one publish of a reversal to the queue (Enqueue tries again).
const enqueueAttempt = 2 * time.Second

// Start starts the forwarding workers. It returns at once; calling it again, or after
// Shutdown, does nothing.
func (f *Forwarder) Start() {
	f.startOnce.Do(func() {
		if f.poll.Err() != nil {
			return
		}
		for i := 0; i < f.cfg.Workers; i++ {
			f.wg.Add(1)
			go f.work()
		}
	})
}

// Shutdown stops pulling reversals, lets those being sent finish until ctx ends (then abandons
// them: they stay queued and are redelivered after AckWait), and waits for every worker to
// return. Safe to call more than once; each call waits for the same shutdown.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	f.stopOnce.Do(func() {
		f.startOnce.Do(func() {}) // a later Start must not start workers
		f.stopPoll()
		go func() {
			f.wg.Wait()
			f.stopHard()
			close(f.done)
		}()
	})
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		f.stopHard()
		<-f.done // workers return promptly once hard is canceled
		return ctx.Err()
	}
}

func (f *Forwarder) work() {
	defer f.wg.Done()
	for f.poll.Err() == nil {
		pctx, cancel := context.WithTimeout(f.poll, f.cfg.PollWait)
		msg, err := f.cons.Next(jetstream.FetchContext(pctx))
		cancel()
		if err != nil {
			if f.poll.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages) ||
				errors.Is(err, nats.ErrTimeout) || isTimeout(err) {
				continue
			}
			f.log.Warn("reversal queue pull failed", zap.Error(err))
			select {
			case <-f.poll.Done():
			case <-time.After(f.cfg.PollWait):
			}
			continue
		}
		f.handle(msg)
	}
}

func isTimeout(err error) bool {
	type timeout interface{ Timeout() bool }
	var t timeout
	return errors.As(err, &t) && t.Timeout()
}

// handle forwards one delivery of a stored reversal.
func (f *Forwarder) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		f.log.Error("reversal message without metadata", zap.Error(err))
		_ = msg.NakWithDelay(f.cfg.MaxBackoff)
		return
	}
	attempt := int(meta.NumDelivered)
	rev, err := unmarshalReversal(msg.Data())
	if err != nil {
		// Not something Enqueue wrote. Keep it (it may matter) and tell the operator.
		id := fmt.Sprintf("seq-%d", meta.Sequence.Stream)
		f.alert(id, "", attempt, "undecodable reversal in queue")
		_ = msg.NakWithDelay(f.cfg.MaxBackoff)
		return
	}
	if attempt > 1 && f.delivered(&rev) {
		// A forwarder stopped between recording the answer and acking: upstream has it.
		if aerr := msg.DoubleAck(context.Background()); aerr != nil {
			f.log.Warn("delivered reversal not removed from the queue", zap.String("reversal", rev.ID), zap.Error(aerr))
			return
		}
		f.forget(rev.ID)
		f.log.Info("reversal already delivered (found in the log); removed from the queue",
			zap.String("reversal", rev.ID), zap.String("route", rev.Route), zap.Int("attempt", attempt))
		return
	}
	f.attempts.Add(1)
	ctx, cancel := context.WithCancel(f.hard)
	res, err := f.client.send(ctx, rev.Route, rev.request(attempt > 1), Sent{STAN: rev.STAN})
	cancel()
	if err == nil {
		// A 0410/0430 that answers this reversal (ParseReply checked MTI, 11 and 41), whatever
		// its response code: upstream has it. Record that before the reversal leaves the queue,
		// so every delivered reversal can be looked up; if the record cannot be written, keep
		// the reversal queued: it is repeated as 0420 (harmless) and recorded then.
		d := DeliveredReversal{Reversal: rev, MTI: res.MTI, ResponseCode: res.ResponseCode, Attempts: attempt,
			QueuedAt: meta.Timestamp.UTC(), DeliveredAt: f.client.now().UTC()}
		if rerr := f.record(&d); rerr != nil {
			delay := f.cfg.Backoff(attempt)
			f.log.Warn("reversal acknowledged upstream but its record failed; it stays queued and is sent again",
				zap.String("reversal", rev.ID), zap.Duration("retry_in", delay), zap.Error(rerr))
			_ = msg.NakWithDelay(delay)
			return
		}
		if f.afterRecord != nil && f.afterRecord(&rev) {
			_ = msg.Nak()
			return
		}
		if aerr := msg.DoubleAck(context.Background()); aerr != nil {
			// The reversal will be delivered again, found in the log and acked then.
			f.log.Warn("reversal acknowledged upstream but not removed from the queue",
				zap.String("reversal", rev.ID), zap.Error(aerr))
			return
		}
		f.acked.Add(1)
		f.forget(rev.ID)
		f.log.Info("reversal acknowledged upstream", zap.String("reversal", rev.ID), zap.String("route", rev.Route),
			zap.Int("attempt", attempt), zap.String("response_code", res.ResponseCode))
		return
	}
	var me *MappingError
	if errors.As(err, &me) { // cannot be built: retrying will not help, an operator must look
		f.alert(rev.ID, rev.Route, attempt, "reversal cannot be mapped")
		_ = msg.NakWithDelay(f.cfg.MaxBackoff)
		return
	}
	if attempt >= f.cfg.RetryBudget {
		f.alert(rev.ID, rev.Route, attempt, "reversal past its retry budget")
	}
	delay := f.cfg.Backoff(attempt)
	f.log.Info("reversal attempt failed", zap.String("reversal", rev.ID), zap.String("route", rev.Route),
		zap.Int("attempt", attempt), zap.Duration("retry_in", delay), zap.Error(err))
	if nerr := msg.NakWithDelay(delay); nerr != nil {
		f.log.Warn("reversal nak failed; it is redelivered after the ack wait", zap.String("reversal", rev.ID), zap.Error(nerr))
	}
}

// forget drops what the forwarder remembers of a reversal that left the queue.
func (f *Forwarder) forget(id string) {
	f.mu.Lock()
	delete(f.overBudget, id)
	f.mu.Unlock()
}

// alert raises the operator alert for a reversal, once per reversal and forwarder.
func (f *Forwarder) alert(id, route string, attempt int, why string) {
	f.mu.Lock()
	_, seen := f.overBudget[id]
	f.overBudget[id] = struct{}{}
	f.mu.Unlock()
	if seen {
		return
	}
	f.alerts.Add(1)
	f.log.Error(why, zap.String("reversal", id), zap.String("route", route), zap.Int("attempts", attempt))
}

// Stats returns the queue depth and oldest age (read from the stream) and this forwarder's
// counters.
func (f *Forwarder) Stats(ctx context.Context) (ReversalStats, error) {
	s, err := f.js.Stream(ctx, f.cfg.Stream)
	if err != nil {
		return ReversalStats{}, fmt.Errorf("routing: reversal stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return ReversalStats{}, fmt.Errorf("routing: reversal stream info: %w", err)
	}
	st := ReversalStats{
		Depth:        info.State.Msgs,
		Alerts:       f.alerts.Load(),
		Attempts:     f.attempts.Load(),
		Acknowledged: f.acked.Load(),
	}
	if st.Depth > 0 && !info.State.FirstTime.IsZero() {
		st.OldestAge = max(f.client.now().Sub(info.State.FirstTime), 0)
	}
	f.mu.Lock()
	st.OverBudget = len(f.overBudget)
	f.mu.Unlock()
	return st, nil
}
