package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest/termsim"
)

// The canary card: a Luhn-valid PAN whose hidden middle digits (987650431) are distinctive, a
// track 2 with distinctive discretionary data, the PIN the issuer simulator accepts and a
// wrong one.
const (
	canaryPAN      = "6222029876504312343"
	canaryMiddle   = "987650431" // what masking (first 6, last 4) must hide
	canaryTrack    = canaryPAN + "D3012201" + canaryDiscr
	canaryDiscr    = "7395184620"
	canaryPIN      = testPIN
	canaryWrongPIN = "908172"
)

// syncBuffer is a log sink that many goroutines write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Sync() error { return nil }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recConn records what a terminal writes (requests) and reads (responses).
type recConn struct {
	net.Conn
	rec *recording
}

type recording struct {
	mu       sync.Mutex
	sent, rx bytes.Buffer
}

func (c *recConn) Write(p []byte) (int, error) {
	c.rec.mu.Lock()
	c.rec.sent.Write(p)
	c.rec.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.mu.Lock()
	c.rec.rx.Write(p[:n])
	c.rec.mu.Unlock()
	return n, err
}

// frames splits a recorded byte stream into whole frames (length prefix included).
func frames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) >= 2 {
		n := int(b[0])<<8 | int(b[1])
		if len(b) < 2+n {
			t.Fatalf("recorded stream ends inside a frame")
		}
		out = append(out, b[:2+n])
		b = b[2+n:]
	}
	return out
}

func luhnValid(pan string) bool {
	sum := 0
	for i := 0; i < len(pan); i++ {
		d := int(pan[len(pan)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// canary holds the secrets no log, error, journal record or stored response may show.
type canary struct {
	text  []string       // substrings, in any case
	bytes [][]byte       // raw byte sequences (packed BCD, PIN blocks)
	pins  *regexp.Regexp // the clear PINs as whole numbers
}

func (c *canary) addBlock(b []byte) {
	c.bytes = append(c.bytes, append([]byte(nil), b...))
	c.text = append(c.text, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b))
}

// find returns what of the canary s holds ("" when nothing).
func (c *canary) find(s []byte) string {
	low := bytes.ToLower(s)
	for _, x := range c.text {
		if bytes.Contains(low, []byte(strings.ToLower(x))) {
			return fmt.Sprintf("%q", x)
		}
	}
	for _, x := range c.bytes {
		if bytes.Contains(s, x) {
			return fmt.Sprintf("bytes %x", x)
		}
	}
	if m := c.pins.Find(s); m != nil {
		return fmt.Sprintf("PIN %q", m)
	}
	return ""
}

// Style rule 11: a canary PAN, track 2 and PIN go through every transaction type; no log line
// (at debug level), error text, journal record or stored retransmission response may hold
// them.
func testCanary(t *testing.T, redisURL string) {
	if !luhnValid(canaryPAN) {
		t.Fatal("canary PAN is not Luhn-valid")
	}
	logs := &syncBuffer{}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "" // timestamps are digits that could look like a PIN
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), logs, zap.DebugLevel))
	zpk := randomKey(t)
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node, err := app.Start(ctx, app.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Redis: redisURL,
		ZPK: map[string][]byte{"*": zpk}}, log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	shut := func() {
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		note(node.Shutdown(sctx))
	}
	defer shut() // on failure; a second Shutdown is a no-op
	e := &env{t: t, node: node, ctx: ctx}

	rec := &recording{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: c, rec: rec}, nil
	}
	code := e.provision(testTID, testSN)
	term := e.terminal(testSN, func(c *termsim.Config) { c.Dial, c.SignOnLayout = dial, hsm.SignOn004 })
	run := func(what string, res termsim.Result, err error, want string) termsim.Result {
		t.Helper()
		note(err)
		return expect(t, what, res, err, want)
	}
	res, err := term.Activate(ctx, code, nil)
	run("activate", res, err, "00")
	res, err = term.SignOn(ctx)
	run("sign on", res, err, "00")
	res, err = term.DownloadParameters(ctx)
	run("parameters", res, err, "00")
	res, err = term.Echo(ctx)
	run("echo", res, err, "00")

	c := termsim.Card{PAN: canaryPAN, Expiry: "3012", PIN: canaryPIN, Track2: canaryTrack}
	enc2 := c
	enc2.EncryptTrack, enc2.OmitPAN = true, true
	wrong := c
	wrong.PIN = canaryWrongPIN

	res, err = term.Balance(ctx, c)
	run("balance", res, err, "00")
	p1, err := term.Purchase(ctx, c, 1000)
	run("purchase", p1, err, "00")
	p2, err := term.Purchase(ctx, enc2, 2000)
	run("purchase, encrypted track only", p2, err, "00")
	res, err = term.Void(ctx, c, p2)
	run("void", res, err, "00")
	res, err = term.Refund(ctx, c, 300, p1)
	run("refund", res, err, "00")
	res, err = term.Purchase(ctx, wrong, 100)
	run("purchase, wrong PIN", res, err, "55")
	res, err = term.Purchase(ctx, c, 4151)
	run("purchase, insufficient funds", res, err, "51")
	pa, err := term.PreAuth(ctx, c, 5000)
	run("pre-auth", pa, err, "00")
	res, err = term.PreAuthVoid(ctx, c, pa)
	run("pre-auth void", res, err, "00")
	pa2, err := term.PreAuth(ctx, c, 6000)
	run("second pre-auth", pa2, err, "00")
	cm, err := term.Completion(ctx, c, 5500, pa2)
	run("completion", cm, err, "00")
	res, err = term.CompletionVoid(ctx, c, cm)
	run("completion void", res, err, "00")
	p3, err := term.Purchase(ctx, c, 700)
	run("purchase to reverse", p3, err, "00")

	// The terminal reverses p3 (its 0400 carries field 2); its book still counts it, so the
	// settlement is not balanced and the batch is uploaded — PANs in field 48 records.
	rev := codec.NewMessage(codec.Terminal)
	for _, f := range []struct {
		n int
		v string
	}{{2, canaryPAN}, {3, "000000"}, {4, "000000000700"}, {11, fmt.Sprintf("%06d", p3.STAN)}, {14, "3012"},
		{22, "021"}, {25, "00"}, {39, "98"}, {41, term.TID()}, {42, term.MID()}, {49, "156"}} {
		must(t, rev.SetString(f.n, f.v))
	}
	must(t, rev.SetMTI("0400"))
	must(t, rev.Set(60, codec.AppendField60(nil, codec.Field60{MessageType: 22, Batch: p3.Batch, Digits: 11})))
	must(t, rev.Set(64, make([]byte, 8)))
	resp, err := term.Exchange(ctx, rev)
	note(err)
	if err != nil || string(resp.Field(39)) != "00" {
		t.Fatalf("reversal: %v", err)
	}
	st, err := term.Settle(ctx)
	note(err)
	if err != nil || st.Flag != codec.SettleNotBalanced || st.Uploaded == 0 {
		t.Fatalf("settle: flag %d, %d uploaded, err %v; want not balanced and an upload", st.Flag, st.Uploaded, err)
	}
	// The upload's difference (p3 is reversed at posgate) and the 0500's result are journaled for
	// the settlement report.
	var diffs, results int
	must(t, e.node.Journal.Read(ctx, journal.Calendar{}.BusinessDate(time.Now()), func(r journal.Record) error {
		switch {
		case r.Type == journal.TypeBatchDifference && r.STAN == fmt.Sprintf("%06d", p3.STAN):
			if r.BatchResult.Difference != journal.DiffNotApproved || r.Amount != 700 {
				t.Errorf("difference record %+v", r.BatchResult)
			}
			diffs++
		case r.Type == journal.TypeBatchSettlement && r.TID == term.TID():
			if r.BatchResult.Balanced() {
				t.Errorf("an unbalanced 0500 journaled as balanced: %+v", r.BatchResult)
			}
			results++
		}
		return nil
	}))
	if diffs != 1 || results != 1 {
		t.Fatalf("journaled %d upload differences and %d batch results, want 1 and 1", diffs, results)
	}
	res, err = term.SignOff(ctx)
	run("sign off", res, err, "00")
	eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })

	// What a retransmission gets back is the stored response: replay every MACed request.
	rec.mu.Lock()
	requests := frames(t, bytes.Clone(rec.sent.Bytes()))
	responses := frames(t, bytes.Clone(rec.rx.Bytes()))
	rec.mu.Unlock()
	replay := e.terminal(testSN, nil)
	req := codec.NewMessage(codec.Terminal)
	var stored [][]byte
	cn := &canary{text: []string{canaryMiddle, canaryDiscr}, pins: regexp.MustCompile(`(^|[^0-9])(` + canaryPIN + `|` + canaryWrongPIN + `)([^0-9]|$)`)}
	cn.bytes = append(cn.bytes, []byte{0x98, 0x76, 0x50, 0x43}) // the packed middle digits
	for _, f := range requests {
		fr, err := codec.ParseFrame(f[2:])
		must(t, err)
		must(t, req.Unpack(fr.Body))
		if b := req.Field(52); b != nil {
			cn.addBlock(b) // every PIN block the terminal sent, under its PIK
		}
		if !req.Has(64) {
			continue
		}
		out, err := replay.SendRaw(ctx, f)
		note(err)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		stored = append(stored, out)
	}
	for _, pin := range []string{canaryPIN, canaryWrongPIN} {
		clearBlock, err := termcrypto.PINBlock(pin, []byte(canaryPAN))
		must(t, err)
		cn.addBlock(clearBlock[:])
		zoneBlock, err := termcrypto.EncryptPINBlock(zpk, pin, []byte(canaryPAN))
		must(t, err)
		cn.addBlock(zoneBlock[:]) // the block as translated for the issuer
	}
	if len(stored) < 15 {
		t.Fatalf("only %d stored responses replayed", len(stored))
	}
	for i, f := range append(responses, stored...) {
		if what := cn.find(f); what != "" {
			t.Errorf("response frame %d holds %s", i, what)
		}
		fr, err := codec.ParseFrame(f[2:])
		must(t, err)
		must(t, req.Unpack(fr.Body))
		for _, n := range []int{2, 14, 35, 36, 52, 55} {
			if req.Has(n) {
				t.Errorf("response %s carries card field %d", req.MTI(), n)
			}
		}
	}

	// The journal of the day, read back.
	var records int
	days := map[journal.Date]bool{}
	for _, at := range []time.Time{time.Now().Add(-5 * time.Minute), time.Now()} {
		days[journal.Calendar{}.BusinessDate(at)] = true
	}
	for day := range days {
		err := node.Journal.Read(ctx, day, func(r journal.Record) error {
			records++
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			b = append(b, fmt.Sprintf("%+v", r)...)
			if what := cn.find(b); what != "" {
				t.Errorf("journal record %s holds %s", r.TxnID, what)
			}
			if r.MaskedPAN != "" && (!strings.HasPrefix(r.MaskedPAN, canaryPAN[:6]) || !strings.HasSuffix(r.MaskedPAN, canaryPAN[len(canaryPAN)-4:])) {
				t.Errorf("journal record %s: masked PAN %q", r.TxnID, r.MaskedPAN)
			}
			return nil
		})
		note(err)
		if err != nil {
			t.Fatalf("journal read: %v", err)
		}
	}
	if records < 10 {
		t.Fatalf("journal holds %d records, want every captured transaction", records)
	}

	// Everything the Redis backends keep.
	if redisURL != "" {
		opt, err := redis.ParseURL(redisURL)
		must(t, err)
		rc := redis.NewClient(opt)
		defer rc.Close()
		keys, err := rc.Keys(ctx, "*").Result()
		must(t, err)
		for _, k := range keys {
			var val []byte
			switch typ := rc.Type(ctx, k).Val(); typ {
			case "string":
				val, err = rc.Get(ctx, k).Bytes()
			case "hash":
				var h map[string]string
				h, err = rc.HGetAll(ctx, k).Result()
				for f, v := range h {
					val = append(append(val, f...), v...)
				}
			case "set":
				var m []string
				m, err = rc.SMembers(ctx, k).Result()
				val = []byte(strings.Join(m, "\x00"))
			case "zset", "list":
				var m []string
				if typ == "list" {
					m, err = rc.LRange(ctx, k, 0, -1).Result()
				} else {
					m, err = rc.ZRange(ctx, k, 0, -1).Result()
				}
				val = []byte(strings.Join(m, "\x00"))
			default:
				t.Errorf("redis key %q of type %s not checked", k, typ)
			}
			must(t, err)
			if what := cn.find(append([]byte(k+"\x00"), val...)); what != "" {
				t.Errorf("redis key %q holds %s", k, what)
			}
		}
	}

	shut()
	for _, err := range errs {
		if what := cn.find([]byte(err.Error())); what != "" {
			t.Errorf("error %q holds %s", err, what)
		}
	}
	lines := strings.Split(logs.String(), "\n")
	if len(lines) < 20 {
		t.Fatalf("only %d log lines at debug level", len(lines))
	}
	for _, l := range lines {
		if what := cn.find([]byte(l)); what != "" {
			t.Errorf("log line holds %s: %s", what, l)
		}
	}
}

func TestCanaryMemory(t *testing.T) { checkNoLeak(t); testCanary(t, "") }

func TestCanaryRedis(t *testing.T) { testCanary(t, redistest.Start(t).URL()) }
