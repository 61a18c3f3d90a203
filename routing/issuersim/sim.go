package issuersim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/routing"
)

// Simulator is one issuer simulator instance. New → Start → Shutdown; safe for concurrent use.
type Simulator struct {
	cfg    Config
	nc     *nats.Conn
	log    *zap.Logger
	module hsm.Module
	zpk    hsm.WrappedKey // zero when no ZPK is configured
	lost   map[string]string
	ledger *ledger
	store  *store // nil: the ledger lives in memory only

	unbooked atomic.Int64 // requests left unanswered because their entry could not be stored

	rngMu sync.Mutex
	rng   *mrand.Rand

	mu      sync.Mutex // guards subs and closed, and orders wg.Add against Shutdown's wait
	subs    []*nats.Subscription
	closed  bool
	started bool
	wg      sync.WaitGroup // requests being processed or waiting to be answered
	pool    sync.Pool      // *work
	warned  sync.Once
	// closeStore stops the ledger's writer once every request has been answered.
	closeStore sync.Once
}

type work struct {
	req, rep *codec.Message
	buf      []byte
}

// New returns a stopped simulator answering on nc. log may be nil.
func New(nc *nats.Conn, cfg Config, log *zap.Logger) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.QueueGroup == "" {
		cfg.QueueGroup = routing.QueueGroup
	}
	if cfg.ExpectedPIN == "" {
		cfg.ExpectedPIN = DefaultExpectedPIN
	}
	if cfg.LostCards == nil {
		cfg.LostCards = DefaultLostCards
	}
	if cfg.StolenCards == nil {
		cfg.StolenCards = DefaultStolenCards
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Balance == 0 {
		cfg.Balance = DefaultBalance
	}
	if cfg.LedgerSubject == "" {
		cfg.LedgerSubject = DefaultLedgerSubject
	}
	if cfg.MaxTracked == 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Instance == "" && cfg.LedgerStream != "" {
		cfg.Instance = DefaultDurableInstance
	}
	if cfg.Instance == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		cfg.Instance = "sim-" + hex.EncodeToString(b[:])
	}
	s := &Simulator{cfg: cfg, nc: nc, log: log.Named("issuersim").With(zap.String("instance", cfg.Instance)),
		lost: map[string]string{}, ledger: newLedger(cfg.Instance, cfg.MaxTracked),
		rng: mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	for _, pan := range cfg.LostCards {
		s.lost[pan] = "41"
	}
	for _, pan := range cfg.StolenCards {
		s.lost[pan] = "43"
	}
	if len(cfg.ZPK) > 0 {
		sw, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
		if err != nil {
			return nil, fmt.Errorf("issuersim: software HSM: %w", err)
		}
		if s.zpk, err = sw.ImportKey(hsm.KeyZPK, cfg.ZPK); err != nil {
			return nil, fmt.Errorf("%w: ZPK: %w", ErrConfig, err)
		}
		s.module = sw
		s.cfg.ZPK = nil // the wrapped key is all we keep
	}
	s.pool.New = func() any {
		return &work{req: codec.NewMessage(codec.Upstream), rep: codec.NewMessage(codec.Upstream), buf: make([]byte, 0, 512)}
	}
	return s, nil
}

// Instance returns the instance id the ledger carries.
func (s *Simulator) Instance() string { return s.cfg.Instance }

// ZPKCheckValue returns the KCV of the configured ZPK ("" without one), to compare with the
// gateway's route key without showing either.
func (s *Simulator) ZPKCheckValue() string {
	if s.zpk.IsZero() {
		return ""
	}
	return s.zpk.KCV.String()
}

// ErrStopped is returned by Start after Shutdown.
var ErrStopped = errors.New("issuersim: simulator shut down")

// Start subscribes to the routes' subjects in the queue group and to the ledger subject.
func (s *Simulator) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStopped
	}
	if s.started {
		return nil
	}
	if s.cfg.LedgerStream != "" && s.store == nil {
		if err := s.openLedger(); err != nil {
			return err
		}
	}
	subjects := []string{routing.SubjectPrefix + "*"}
	if len(s.cfg.Routes) > 0 {
		subjects = subjects[:0]
		for _, r := range s.cfg.Routes {
			subjects = append(subjects, routing.SubjectPrefix+r)
		}
	}
	for _, subj := range subjects {
		sub, err := s.nc.QueueSubscribe(subj, s.cfg.QueueGroup, s.onRequest)
		if err != nil {
			s.unsubscribeLocked()
			return fmt.Errorf("issuersim: subscribe %s: %w", subj, err)
		}
		s.subs = append(s.subs, sub)
	}
	sub, err := s.nc.Subscribe(s.cfg.LedgerSubject, s.onLedger)
	if err != nil {
		s.unsubscribeLocked()
		return fmt.Errorf("issuersim: subscribe %s: %w", s.cfg.LedgerSubject, err)
	}
	s.subs = append(s.subs, sub)
	if err := s.nc.Flush(); err != nil { // the subscriptions are live on the server when Start returns
		s.unsubscribeLocked()
		return fmt.Errorf("issuersim: subscribe: %w", err)
	}
	s.started = true
	s.log.Info("issuer simulator started", zap.Strings("subjects", subjects), zap.String("queue_group", s.cfg.QueueGroup),
		zap.Bool("pin_check", !s.zpk.IsZero()), zap.Float64("drop_rate", s.cfg.DropRate))
	return nil
}

// openLedger opens the ledger stream and books again every entry this instance stored before,
// so a restarted simulator answers reversals of its earlier approvals and reports its whole
// ledger.
func (s *Simulator) openLedger() error {
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	st, err := openStore(ctx, s.nc, s.cfg.LedgerStream, s.cfg.Instance, s.cfg.LedgerReplicas)
	if err != nil {
		return fmt.Errorf("issuersim: %w", err)
	}
	n := 0
	s.ledger.mu.Lock()
	err = readEntries(ctx, st.js, st.stream, s.cfg.Instance, func(e Entry) error {
		s.ledger.apply(&e)
		n++
		return nil
	})
	s.ledger.mu.Unlock()
	if err != nil {
		return err
	}
	s.store = st
	s.log.Info("ledger restored", zap.String("stream", st.stream), zap.Int("entries", n))
	return nil
}

// replayTimeout bounds opening the ledger stream and reading it back at Start.
const replayTimeout = 5 * time.Minute

// Unbooked counts requests left unanswered because the ledger stream did not store their entry.
func (s *Simulator) Unbooked() int64 { return s.unbooked.Load() }

func (s *Simulator) unsubscribeLocked() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.subs = nil
}

// Shutdown stops taking requests and waits, until ctx ends, for those already taken to be
// answered (delayed answers included). Safe to call more than once.
func (s *Simulator) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.unsubscribeLocked()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.closeStore.Do(func() {
			if s.store != nil {
				s.store.close()
			}
		})
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ledger returns a copy of this instance's ledger.
func (s *Simulator) Ledger() Ledger { return s.ledger.snapshot() }

func (s *Simulator) onLedger(m *nats.Msg) {
	b, err := json.Marshal(s.ledger.snapshot())
	if err != nil {
		s.log.Error("ledger encode", zap.Error(err))
		return
	}
	if err := m.Respond(b); err != nil {
		s.log.Warn("ledger reply", zap.Error(err))
	}
}

// begin registers a request in flight, unless the simulator is shutting down.
func (s *Simulator) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Simulator) onRequest(m *nats.Msg) {
	if !s.begin() {
		return
	}
	route := strings.TrimPrefix(m.Subject, routing.SubjectPrefix)
	w := s.pool.Get().(*work)
	e, reply, drop, delay := s.process(route, w, m.Data)
	if s.store == nil {
		s.book(&e)
		s.answer(m, w, reply, drop, delay)
		return
	}
	// Durable: the entry is stored before the answer leaves, so nothing answered is ever
	// missing from the ledger after a crash. A store that fails leaves the request unanswered:
	// the acquirer times out and reverses, as with any issuer that cannot book.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := s.store.append(ctx, &e)
		cancel()
		if err != nil {
			s.unbooked.Add(1)
			s.log.Error("ledger entry not stored: request left unanswered", zap.String("route", route), zap.Error(err))
			s.answer(m, w, nil, false, 0)
			return
		}
		s.book(&e)
		s.answer(m, w, reply, drop, delay)
	}()
}

// storeTimeout bounds the wait for the ledger stream's acknowledgement of one entry.
const storeTimeout = 5 * time.Second

func (s *Simulator) book(e *Entry) {
	s.ledger.mu.Lock()
	s.ledger.apply(e)
	s.ledger.mu.Unlock()
}

// answer sends reply (unless nil or dropped) after delay, then releases w and the request.
func (s *Simulator) answer(m *nats.Msg, w *work, reply []byte, drop bool, delay time.Duration) {
	if reply == nil || drop || m.Reply == "" {
		s.pool.Put(w)
		s.wg.Done()
		return
	}
	send := func() {
		defer s.wg.Done()
		defer s.pool.Put(w)
		if err := m.Respond(reply); err != nil {
			s.log.Warn("reply failed", zap.String("subject", m.Subject), zap.Error(err))
		}
	}
	if delay <= 0 {
		send()
		return
	}
	time.AfterFunc(delay, send)
}

// process decides the answer to one request and the entry that books it. It returns the
// packed reply (a view into w.buf, nil when none is sent), whether to drop it and how long to
// delay it.
func (s *Simulator) process(route string, w *work, data []byte) (e Entry, reply []byte, drop bool, delay time.Duration) {
	req, rep := w.req, w.rep
	e = Entry{Instance: s.cfg.Instance, Route: route, Type: EntryMalformed, Booked: s.cfg.Now().UTC()}
	if err := req.Unpack(data); err != nil {
		s.log.Warn("undecodable request", zap.String("route", route), zap.Error(err))
		return e, nil, false, 0
	}
	replyMTI := routing.ReplyMTI(req.MTI())
	typ, _, ok := routing.Classify(req)
	rc := "00"
	if !ok {
		rc = "12" // invalid transaction
	} else {
		rc = s.decide(typ, req)
		e.Type = typ.String()
	}
	amount, _ := req.Number(4)
	stan, _ := req.Number(11)
	e.MTI, e.STAN, e.Transmission, e.Amount, e.ResponseCode = string(req.MTI()), uint32(stan), string(req.Field(7)), int64(amount), rc
	e.RRN, e.TID, e.MID = string(req.Field(37)), string(req.Field(41)), string(req.Field(42))
	if o, ok := routing.ParseField90(req.Field(90)); ok {
		e.OriginalSTAN, e.OriginalTransmission = o.STAN, o.Transmission
	}
	drop, delay = s.draw()
	e.Dropped = drop

	if replyMTI == "" {
		return e, nil, false, 0
	}
	rep.Reset()
	_ = rep.SetMTI(replyMTI)
	for _, n := range [...]int{3, 4, 7, 11, 12, 13, 25, 32, 37, 41, 42, 49} {
		if v := req.Field(n); v != nil {
			_ = rep.Set(n, v)
		}
	}
	if rc == "00" && typ != routing.TxnReversal {
		e.AuthCode = authCode(route, req)
		_ = rep.SetString(38, e.AuthCode)
	}
	_ = rep.SetString(39, rc)
	if rc == "00" && typ == routing.TxnBalance {
		cur := string(req.Field(49))
		if len(cur) != 3 {
			cur = routing.DefaultCurrency
		}
		var f54 [20]byte
		_ = rep.Set(54, routing.AppendBalance(f54[:0], cur, s.cfg.Balance))
	}
	var err error
	if w.buf, err = rep.Pack(w.buf[:0]); err != nil {
		s.log.Error("reply encode", zap.String("route", route), zap.Error(err))
		return e, nil, false, 0
	}
	return e, w.buf, drop, delay
}

// decide returns the response code of a classified request.
func (s *Simulator) decide(typ routing.TxnType, req *codec.Message) string {
	if typ == routing.TxnReversal {
		return "00" // a reversal is always acknowledged, known original or not
	}
	pan := req.Field(2)
	if pan == nil {
		if t2 := req.Field(35); t2 != nil {
			if i := indexSep(t2); i >= 0 {
				pan = t2[:i]
			}
		}
	}
	if rc, ok := s.lost[string(pan)]; ok {
		return rc
	}
	if block := req.Field(52); block != nil {
		if rc := s.checkPIN(block, pan); rc != "" {
			return rc
		}
	}
	switch typ {
	case routing.TxnPurchase, routing.TxnPreAuth, routing.TxnCompletion:
		amount, err := req.Number(4)
		if err != nil {
			return "30"
		}
		switch amount % 100 {
		case 51:
			return "51"
		case 61:
			return "61"
		}
	}
	return "00"
}

func indexSep(t2 []byte) int {
	for i, c := range t2 {
		if c == '=' || c == 'D' {
			return i
		}
	}
	return -1
}

// checkPIN returns "" when the PIN block holds the expected PIN, else the response code.
func (s *Simulator) checkPIN(block, pan []byte) string {
	if s.zpk.IsZero() {
		s.warned.Do(func() { s.log.Warn("PIN block received but no ZPK configured: answering 96") })
		return "96"
	}
	if len(pan) == 0 {
		return "30"
	}
	ok, err := s.module.VerifyPIN(context.Background(), s.zpk, block, pan, s.cfg.ExpectedPIN)
	switch {
	case errors.Is(err, hsm.ErrPINBlock):
		return "99" // does not decrypt to a format-0 block: wrong key or garbage
	case errors.Is(err, hsm.ErrPAN):
		return "30"
	case err != nil:
		s.log.Error("PIN verification failed", zap.Error(err))
		return "96"
	case !ok:
		return "55"
	}
	return ""
}

// draw picks the drop decision and the delay of one answer.
func (s *Simulator) draw() (drop bool, delay time.Duration) {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	if s.cfg.DropRate > 0 {
		drop = s.rng.Float64() < s.cfg.DropRate
	}
	switch {
	case s.cfg.Latency > 0:
		delay = s.cfg.Latency
	case s.cfg.LatencyMax > 0:
		delay = s.cfg.LatencyMin
		if span := s.cfg.LatencyMax - s.cfg.LatencyMin; span > 0 {
			delay += time.Duration(s.rng.Int64N(int64(span) + 1))
		}
	}
	return drop, delay
}

// authCode derives a 6-digit code from the request: the same request always gets the same code.
func authCode(route string, req *codec.Message) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(route))
	for _, n := range [...]int{7, 11, 41} {
		_, _ = h.Write(req.Field(n))
	}
	return fmt.Sprintf("%06d", h.Sum32()%1_000_000)
}
