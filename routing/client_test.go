package routing_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/routing/issuersim"
)

func TestAuthorizeAgainstSimulator(t *testing.T) {
	e := newEnv(t)
	e.sim(issuersim.Config{})
	c := e.client("")
	const pan = "6212345678901234"
	tests := []struct {
		name string
		req  *routing.Request
		rc   string
	}{
		{"approve", purchase(pan, 10000), "00"},
		{"amount ending 51", purchase(pan, 12351), "51"},
		{"amount ending 61", purchase(pan, 99961), "61"},
		{"lost card", purchase(issuersim.DefaultLostCards[0], 10000), "41"},
		{"stolen card", purchase(issuersim.DefaultStolenCards[0], 10000), "43"},
		{"right PIN", func() *routing.Request {
			r := purchase(pan, 10000)
			r.PINBlock = pinBlock(t, "123456", pan)
			return r
		}(), "00"},
		{"wrong PIN", func() *routing.Request {
			r := purchase(pan, 10000)
			r.PINBlock = pinBlock(t, "654321", pan)
			return r
		}(), "55"},
		{"PIN block under another key", func() *routing.Request {
			r := purchase(pan, 10000)
			r.PINBlock = []byte{0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x11, 0x22, 0x33}
			return r
		}(), "99"},
		{"visa route approve", purchase("4111111111111111", 500), "00"},
		{"pre-authorization", func() *routing.Request {
			r := purchase(pan, 30000)
			r.Type = routing.TxnPreAuth
			return r
		}(), "00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := c.Table().Lookup(tt.req.PAN).Route
			res, err := c.Authorize(context.Background(), route, tt.req)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if res.ResponseCode != tt.rc {
				t.Fatalf("response code %s, want %s", res.ResponseCode, tt.rc)
			}
			if res.Approved() && (len(res.AuthCode) != 6 || !isDigits(res.AuthCode)) {
				t.Errorf("auth code %q is not 6 digits", res.AuthCode)
			}
			if !res.Approved() && res.AuthCode != "" {
				t.Errorf("declined with auth code %q", res.AuthCode)
			}
			if res.STAN == 0 || len(res.Transmission) != 10 || res.RequestMTI != tt.req.Type.MTI() {
				t.Errorf("Result = %+v", res)
			}
		})
	}
	t.Run("balance inquiry", func(t *testing.T) {
		r := purchase(pan, 0)
		r.Type = routing.TxnBalance
		res, err := c.Authorize(context.Background(), "cup", r)
		if err != nil || res.ResponseCode != "00" || !res.HasBalance || res.Balance != issuersim.DefaultBalance {
			t.Fatalf("balance inquiry = %+v, %v", res, err)
		}
	})
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func TestHeaders(t *testing.T) {
	e := newEnv(t)
	e.sim(issuersim.Config{})
	c := e.client("")
	spy := e.conn()
	sub, err := spy.SubscribeSync(routing.SubjectPrefix + "onus")
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := purchase("6230000000000011", 100)
	if _, err := c.Authorize(ctx, "onus", req); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	ctxDeadline, _ := ctx.Deadline()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(routing.HeaderTxn); got != req.Txn {
		t.Errorf("%s = %q, want %q", routing.HeaderTxn, got, req.Txn)
	}
	if got := m.Header.Get(routing.HeaderRoute); got != "onus" {
		t.Errorf("%s = %q", routing.HeaderRoute, got)
	}
	ms, err := strconv.ParseInt(m.Header.Get(routing.HeaderDeadline), 10, 64)
	if err != nil || ms != ctxDeadline.UnixMilli() {
		t.Errorf("%s = %d (%v), want the caller's deadline %d (shorter than the route's)", routing.HeaderDeadline, ms, err, ctxDeadline.UnixMilli())
	}
	up := codec.NewMessage(codec.Upstream)
	if err := up.Unpack(m.Data); err != nil || !up.IsMTI("0200") {
		t.Errorf("request on the wire: %v, MTI %s", err, up.MTI())
	}
}

func TestNoResponders(t *testing.T) {
	e := newEnv(t)
	c := e.client("")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Authorize(ctx, "visa", purchase("4111111111111111", 100))
	if !errors.Is(err, routing.ErrNoResponders) || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("error = %v, want ErrNoResponders", err)
	}
	if ctx.Err() != nil {
		t.Fatal("no-responders answer waited for the deadline")
	}
	if routing.OutcomeUnknown(err) {
		t.Error("no responders reported as an unknown outcome")
	}
	var ue *routing.UpstreamError
	if !errors.As(err, &ue) || ue.Route != "visa" {
		t.Errorf("UpstreamError = %+v", ue)
	}
	if _, err := c.Authorize(ctx, "amex", purchase("4111111111111111", 100)); !errors.Is(err, routing.ErrUnknownRoute) {
		t.Errorf("unknown route error = %v", err)
	}
}

const shortTable = `default_route: cup
routes:
  - name: cup
    timeout: 300ms
    breaker_failures: 2
    breaker_cooldown: 300ms
    max_in_flight: 1
`

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	e.sim(issuersim.Config{DropRate: 1})
	t.Run("route timeout", func(t *testing.T) {
		c := e.client(shortTable)
		_, err := c.Authorize(context.Background(), "cup", purchase("6212345678901234", 100))
		if !errors.Is(err, routing.ErrTimeout) || !routing.OutcomeUnknown(err) {
			t.Fatalf("error = %v, want ErrTimeout (outcome unknown)", err)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		c := e.client("") // route timeout 8s: the caller's 200ms deadline must win
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := c.Authorize(ctx, "cup", purchase("6212345678901234", 100))
		if !errors.Is(err, routing.ErrTimeout) {
			t.Fatalf("error = %v, want ErrTimeout", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		c := e.client("")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := c.Authorize(ctx, "cup", purchase("6212345678901234", 100))
		if !errors.Is(err, routing.ErrCanceled) || !routing.OutcomeUnknown(err) {
			t.Fatalf("error = %v, want ErrCanceled (outcome unknown)", err)
		}
		if c.BreakerState("cup") != routing.BreakerClosed {
			t.Error("a cancellation counted against the breaker")
		}
	})
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	e := newEnv(t)
	c := e.client(shortTable)
	ctx := context.Background()
	pan := "6212345678901234"
	for i := 0; i < 2; i++ {
		if _, err := c.Authorize(ctx, "cup", purchase(pan, 100)); !errors.Is(err, routing.ErrNoResponders) {
			t.Fatalf("attempt %d: %v, want ErrNoResponders", i, err)
		}
	}
	if st := c.BreakerState("cup"); st != routing.BreakerOpen {
		t.Fatalf("breaker %v after 2 failures, want open", st)
	}
	_, err := c.Authorize(ctx, "cup", purchase(pan, 100))
	if !errors.Is(err, routing.ErrBreakerOpen) || routing.OutcomeUnknown(err) {
		t.Fatalf("open breaker: %v, want ErrBreakerOpen", err)
	}
	// After the cool-down one probe goes out; it fails (still nobody listening): open again.
	eventually(t, "half-open probe", func() bool {
		_, err := c.Authorize(ctx, "cup", purchase(pan, 100))
		return errors.Is(err, routing.ErrNoResponders)
	})
	if st := c.BreakerState("cup"); st != routing.BreakerOpen {
		t.Fatalf("breaker %v after a failed probe, want open", st)
	}
	e.sim(issuersim.Config{})
	var res routing.Result
	eventually(t, "recovery", func() bool {
		res, err = c.Authorize(ctx, "cup", purchase(pan, 100))
		return err == nil
	})
	if res.ResponseCode != "00" || c.BreakerState("cup") != routing.BreakerClosed {
		t.Fatalf("after recovery: %+v, breaker %v", res, c.BreakerState("cup"))
	}
}

func TestMaxInFlight(t *testing.T) {
	e := newEnv(t)
	e.sim(issuersim.Config{Latency: 2 * time.Second})
	c := e.client(`default_route: cup
routes:
  - name: cup
    max_in_flight: 1
`)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := c.Authorize(context.Background(), "cup", purchase("6212345678901234", 100)); err != nil {
			t.Errorf("first request: %v", err)
		}
	}()
	eventually(t, "first request in flight", func() bool { return c.InFlight("cup") == 1 })
	_, err := c.Authorize(context.Background(), "cup", purchase("6212345678901234", 100))
	if !errors.Is(err, routing.ErrBusy) {
		t.Errorf("second request: %v, want ErrBusy", err)
	}
	wg.Wait()
}

func TestReplyMismatch(t *testing.T) {
	e := newEnv(t)
	// A broken responder that answers with another STAN.
	nc := e.conn()
	_, err := nc.QueueSubscribe(routing.SubjectPrefix+"cup", routing.QueueGroup, func(m *nats.Msg) {
		req := codec.NewMessage(codec.Upstream)
		if err := req.Unpack(m.Data); err != nil {
			return
		}
		rep := codec.NewMessage(codec.Upstream)
		_ = rep.CopyFrom(req)
		_ = rep.SetMTI(routing.ReplyMTI(req.MTI()))
		_ = rep.SetString(11, "999999")
		_ = rep.SetString(39, "00")
		b, _ := rep.Pack(nil)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	c := e.client("")
	_, err = c.Authorize(context.Background(), "cup", purchase("6212345678901234", 100))
	if !errors.Is(err, routing.ErrReplyMismatch) || !routing.OutcomeUnknown(err) {
		t.Fatalf("error = %v, want ErrReplyMismatch", err)
	}
}

func TestTwoSimulatorsShareLoad(t *testing.T) {
	e := newEnv(t)
	a := e.sim(issuersim.Config{Instance: "a"})
	b := e.sim(issuersim.Config{Instance: "b"})
	c := e.client("")
	const n = 60
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Authorize(context.Background(), "cup", purchase("6212345678901234", 1000))
			if err != nil || !res.Approved() {
				t.Errorf("Authorize: %+v %v", res, err)
			}
		}()
	}
	wg.Wait()
	la, lb := a.Ledger().Total(), b.Ledger().Total()
	if la.Requests == 0 || lb.Requests == 0 || la.Requests+lb.Requests != n {
		t.Fatalf("requests per instance %d + %d, want both > 0 summing to %d", la.Requests, lb.Requests, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ledgers, err := issuersim.QueryLedgers(ctx, e.conn(), "", 2)
	if err != nil {
		t.Fatalf("QueryLedgers: %v", err)
	}
	sum := issuersim.Sum(ledgers...)
	if len(sum.Instances) != 2 || sum.Instances[0] != "a" || sum.Instances[1] != "b" {
		t.Errorf("instances %v", sum.Instances)
	}
	if got := sum.Routes["cup"].Purchases; got.Count != n || got.Fen != n*1000 {
		t.Errorf("summed purchases %+v, want %d / %d fen", got, n, n*1000)
	}
}

func TestClientNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("session", func(t *testing.T) {
		e := newEnv(t)
		e.sim(issuersim.Config{Latency: 20 * time.Millisecond})
		c := e.client("")
		if _, err := c.Authorize(context.Background(), "cup", purchase("6212345678901234", 100)); err != nil {
			t.Fatal(err)
		}
	})
	noLeak(t, before)
}
