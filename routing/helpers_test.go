package routing_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/hsm/termcrypto"
	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/routing/issuersim"
)

// testZPK is the clear zone PIN key the tests' simulators check PIN blocks under.
var testZPK = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}

// env is one in-process NATS server with helpers.
type env struct {
	t  *testing.T
	ns *natsembed.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, ns: natstest.Start(t)}
}

func (e *env) conn() *nats.Conn { return natstest.Connect(e.t, e.ns) }

// sim starts a simulator on its own connection and shuts it down at cleanup.
func (e *env) sim(cfg issuersim.Config) *issuersim.Simulator {
	e.t.Helper()
	if cfg.ZPK == nil {
		cfg.ZPK = append([]byte(nil), testZPK...)
	}
	s, err := issuersim.New(e.conn(), cfg, zaptest.NewLogger(e.t))
	if err != nil {
		e.t.Fatalf("issuersim.New: %v", err)
	}
	if err := s.Start(); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.t.Cleanup(func() { shutdown(e.t, s.Shutdown) })
	return s
}

// client returns a routing client over the table yaml (DefaultTable when empty).
func (e *env) client(yaml string) *routing.Client {
	e.t.Helper()
	tab := routing.DefaultTable()
	if yaml != "" {
		var err error
		if tab, err = routing.ParseTable([]byte(yaml)); err != nil {
			e.t.Fatalf("ParseTable: %v", err)
		}
	}
	c, err := routing.New(e.conn(), routing.Config{Table: tab}, zaptest.NewLogger(e.t))
	if err != nil {
		e.t.Fatalf("routing.New: %v", err)
	}
	return c
}

func shutdown(t *testing.T, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// eventually polls cond every 10ms until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noLeak fails the test if, after shutdown, more goroutines run than before (polling, since
// goroutines take a moment to exit).
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after shutdown\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pinBlock(t *testing.T, pin, pan string) []byte {
	t.Helper()
	b, err := termcrypto.EncryptPINBlock(testZPK, pin, []byte(pan))
	if err != nil {
		t.Fatal(err)
	}
	return b[:]
}

var txnSeq atomic.Int64

// purchase returns a purchase request for pan and amount with a fresh transaction id.
func purchase(pan string, amount int64) *routing.Request {
	return &routing.Request{
		Type: routing.TxnPurchase, Txn: "txn-" + strconv.FormatInt(txnSeq.Add(1), 10),
		PAN: []byte(pan), Amount: amount, EntryMode: []byte("021"), TID: []byte("10400067"),
		MID: []byte("000000000000004"), AcquirerID: []byte("48021000"), RRN: []byte("000000000001"),
	}
}
