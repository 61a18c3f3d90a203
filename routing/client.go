package routing

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
)

// Subjects and headers of the upstream link (docs/upstream-protocol.md).
const (
	// SubjectPrefix prefixes the route name in the request subject: posgate.auth.<route>.
	SubjectPrefix = "posgate.auth."
	// QueueGroup is the queue group responders subscribe in, so instances share the load.
	QueueGroup = "posgate-issuers"
	// HeaderTxn carries the unique transaction id.
	HeaderTxn = "Posgate-Txn"
	// HeaderRoute carries the route name.
	HeaderRoute = "Posgate-Route"
	// HeaderDeadline carries the Unix time in milliseconds after which the answer is useless.
	HeaderDeadline = "Posgate-Deadline"
)

// Config configures a Client.
type Config struct {
	// Table is the routing table: routes, their timeouts and limits. Required.
	Table *Table
	// STAN numbers upstream requests. Default: a new MemorySTAN (one node only; see STANSource).
	STAN STANSource
	// Now is the clock (field 7, deadlines, breaker cool-downs). Default time.Now.
	Now func() time.Time
}

// ErrNoTable is returned by Config.Validate when Table is nil.
var ErrNoTable = errors.New("routing: config has no routing table")

// Validate reports a missing table.
func (c Config) Validate() error {
	if c.Table == nil {
		return ErrNoTable
	}
	return nil
}

// Client sends authorizations upstream over NATS. It holds no goroutines of its own (the NATS
// connection, owned by the caller, does the I/O), so it has no Start or Shutdown; it is safe for
// concurrent use.
type Client struct {
	nc     *nats.Conn
	table  *Table
	stan   STANSource
	now    func() time.Time
	log    *zap.Logger
	routes map[string]*routeState
	pool   sync.Pool // *exchange
}

type routeState struct {
	Route
	subject  string
	inFlight atomic.Int64
	breaker  *breaker
}

// exchange is the reusable memory of one request/reply.
type exchange struct {
	req, rep *codec.Message
	buf      []byte
	// msg and its header are rewritten for every request: the client has copied them out
	// by the time RequestMsgWithContext returns.
	msg                  nats.Msg
	txn, route, deadline [1]string
}

func newExchange() *exchange {
	x := &exchange{req: codec.NewMessage(codec.Upstream), rep: codec.NewMessage(codec.Upstream), buf: make([]byte, 0, 512)}
	x.msg.Header = nats.Header{HeaderTxn: x.txn[:], HeaderRoute: x.route[:], HeaderDeadline: x.deadline[:]}
	return x
}

// New returns a Client sending on nc. log may be nil.
func New(nc *nats.Conn, cfg Config, log *zap.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.STAN == nil {
		cfg.STAN = NewMemorySTAN()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{nc: nc, table: cfg.Table, stan: cfg.STAN, now: cfg.Now, log: log.Named("routing"),
		routes: make(map[string]*routeState)}
	for _, r := range cfg.Table.routes {
		c.routes[r.Name] = &routeState{Route: r, subject: SubjectPrefix + r.Name,
			breaker: newBreaker(r.BreakerFailures, r.BreakerCooldown)}
	}
	c.pool.New = func() any {
		return newExchange()
	}
	return c, nil
}

// Table returns the client's routing table.
func (c *Client) Table() *Table { return c.table }

// Authorize sends req on route and waits for the reply, at most until ctx's deadline or the
// route's timeout, whichever comes first. When an error leaves the outcome unknown
// (OutcomeUnknown), the Result still holds RequestMTI, STAN and Transmission of the request
// that was sent, which a reversal needs for field 90. A reply that answers the request (MTI, 11 and 41
// match) is a Result whatever its response code; everything else is an error: *MappingError
// for a request that cannot be built (nothing sent), *UpstreamError for the exchange (see the
// sentinels and OutcomeUnknown).
func (c *Client) Authorize(ctx context.Context, route string, req *Request) (Result, error) {
	return c.send(ctx, route, req, Sent{})
}

// Sent identifies one upstream request: its MTI, STAN and transmission time (field 7). It is
// what the issuer's records are keyed by and what field 90 of a later reversal names.
type Sent struct {
	MTI  string
	STAN uint32
	At   time.Time // field 7 is At in UTC, MMDDhhmmss
}

// Transmission is field 7 of the request: At as MMDDhhmmss UTC.
func (s Sent) Transmission() string {
	var b [10]byte
	return string(appendMMDDhhmmss(b[:0], s.At.UTC()))
}

// Prepare draws the identifiers of a request of type typ on route — a STAN and the
// transmission time — without sending anything, so the caller can record them durably (a
// write-ahead intent) before AuthorizeAs sends the request under them.
func (c *Client) Prepare(ctx context.Context, route string, typ TxnType) (Sent, error) {
	if c.routes[route] == nil {
		return Sent{}, &UpstreamError{Route: route, Err: ErrUnknownRoute}
	}
	now := c.now()
	stan, err := c.stan.NextSTAN(ctx, route, now)
	if err != nil {
		return Sent{}, &UpstreamError{Route: route, Err: ErrTransport, Cause: err}
	}
	return Sent{MTI: typ.MTI(), STAN: stan, At: now}, nil
}

// AuthorizeAs is Authorize under the identifiers Prepare drew.
func (c *Client) AuthorizeAs(ctx context.Context, route string, req *Request, s Sent) (Result, error) {
	if s.STAN == 0 {
		return Result{}, &MappingError{Err: ErrInvalidValue}
	}
	return c.send(ctx, route, req, s)
}

// send is Authorize with the identifiers s (zero: draw a STAN, now as the transmission time).
// Reversals keep the STAN they were stored with across all their repeats.
func (c *Client) send(ctx context.Context, route string, req *Request, s Sent) (Result, error) {
	rs := c.routes[route]
	if rs == nil {
		return Result{}, &UpstreamError{Route: route, Err: ErrUnknownRoute}
	}
	if req.Txn == "" {
		return Result{}, &MappingError{Err: ErrNoTxnID}
	}
	stan, at := s.STAN, s.At
	if at.IsZero() {
		at = c.now()
	}
	if stan == 0 {
		var err error
		if stan, err = c.stan.NextSTAN(ctx, route, at); err != nil {
			return Result{}, &UpstreamError{Route: route, Err: ErrTransport, Cause: err}
		}
	}
	x := c.pool.Get().(*exchange)
	defer c.pool.Put(x)
	if err := BuildMessage(x.req, req, stan, at); err != nil {
		return Result{}, err
	}
	return c.exchange(ctx, rs, req.Txn, x)
}

// exchange sends x.req on rs and maps the reply in x.rep.
func (c *Client) exchange(ctx context.Context, rs *routeState, txn string, x *exchange) (Result, error) {
	if rs.inFlight.Add(1) > int64(rs.MaxInFlight) {
		rs.inFlight.Add(-1)
		return Result{}, &UpstreamError{Route: rs.Name, Err: ErrBusy}
	}
	defer rs.inFlight.Add(-1)
	now := c.now()
	if !rs.breaker.allow(now) {
		return Result{}, &UpstreamError{Route: rs.Name, Err: ErrBreakerOpen}
	}
	res, o, err := c.roundTrip(ctx, rs, txn, x, now)
	if changed, to := rs.breaker.done(o, c.now()); changed {
		c.log.Warn("route breaker changed state", zap.String("route", rs.Name), zap.Stringer("state", to))
	}
	return res, err
}

func (c *Client) roundTrip(ctx context.Context, rs *routeState, txn string, x *exchange, now time.Time) (Result, outcome, error) {
	var err error
	x.buf, err = x.req.Pack(x.buf[:0])
	if err != nil {
		return Result{}, outcomeNeutral, &MappingError{Err: ErrInvalidValue, Cause: err}
	}
	deadline := now.Add(rs.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	msg := &x.msg
	msg.Subject, msg.Data = rs.subject, x.buf
	x.txn[0], x.route[0], x.deadline[0] = txn, rs.Name, strconv.FormatInt(deadline.UnixMilli(), 10)
	// What was sent identifies the request for a reversal (field 90) when the outcome is
	// unknown, so errors after this point return it too.
	sent := Result{RequestMTI: string(x.req.MTI()), Transmission: string(x.req.Field(7))}
	if v, err := x.req.Number(11); err == nil {
		sent.STAN = uint32(v)
	}
	resp, err := c.nc.RequestMsgWithContext(rctx, msg)
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return sent, outcomeFailure, &UpstreamError{Route: rs.Name, Err: ErrNoResponders, Cause: nats.ErrNoResponders}
		case errors.Is(ctx.Err(), context.Canceled):
			return sent, outcomeNeutral, &UpstreamError{Route: rs.Name, Err: ErrCanceled, Cause: context.Canceled}
		case rctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			return sent, outcomeFailure, &UpstreamError{Route: rs.Name, Err: ErrTimeout, Cause: context.DeadlineExceeded}
		default:
			return sent, outcomeFailure, &UpstreamError{Route: rs.Name, Err: ErrTransport, Cause: err}
		}
	}
	if err := x.rep.Unpack(resp.Data); err != nil {
		return sent, outcomeFailure, &UpstreamError{Route: rs.Name, Err: ErrBadReply, Cause: err}
	}
	res, err := ParseReply(x.req, x.rep)
	if err != nil {
		sentinel := ErrBadReply
		if errors.Is(err, ErrReplyMismatch) {
			sentinel = ErrReplyMismatch
		}
		return sent, outcomeFailure, &UpstreamError{Route: rs.Name, Err: sentinel, Cause: err}
	}
	return res, outcomeSuccess, nil
}

// BreakerState returns the state of route's breaker (BreakerClosed for an unknown route).
func (c *Client) BreakerState(route string) BreakerState {
	if rs := c.routes[route]; rs != nil {
		return rs.breaker.current()
	}
	return BreakerClosed
}

// InFlight returns the number of requests on route waiting for a reply.
func (c *Client) InFlight(route string) int {
	if rs := c.routes[route]; rs != nil {
		return int(rs.inFlight.Load())
	}
	return 0
}
