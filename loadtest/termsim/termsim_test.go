package termsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
)

// testKeys is shared by every test: RSA key generation is slow, under -race especially.
var testKeys = NewKeyPool(1)

const (
	testPAN   = "6225880112345678"
	testTrack = "6225880112345678D28122011234567890"
)

var (
	pinCard   = Card{PAN: testPAN, Expiry: "2812", PIN: "123456"}
	swipeCard = Card{PAN: testPAN, Track2: testTrack, Expiry: "2812"}
)

func newTerm(t *testing.T, p *peer, mod func(*Config)) *Terminal {
	t.Helper()
	cfg := Config{Addr: p.addr(), SN: p.sn, Timeout: 5 * time.Second, KeyPool: testKeys, MACAlgorithm: p.alg}
	if mod != nil {
		mod(&cfg)
	}
	term, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { term.Close() })
	return term
}

// ready activates the terminal with a fresh code and signs it on.
func ready(t *testing.T, p *peer, term *Terminal) {
	t.Helper()
	ctx := context.Background()
	if _, err := term.Activate(ctx, p.newCode(), nil); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if _, err := term.SignOn(ctx); err != nil {
		t.Fatalf("SignOn: %v", err)
	}
}

// approve returns a check of a transaction's outcome: no error, code 00, an RRN and an auth
// code. Use: r := approve(t, "purchase")(term.Purchase(ctx, card, 100)).
func approve(t *testing.T, what string) func(Result, error) Result {
	return func(r Result, err error) Result {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !r.Approved() || len(r.RRN) != 12 || r.AuthCode == "" {
			t.Fatalf("%s: got code %q RRN %q auth %q, want an approval", what, r.Code, r.RRN, r.AuthCode)
		}
		return r
	}
}

func fmtCard(c Card) string { return fmt.Sprintf("%v|%+v|%s", c, c, c) }

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name    string
		layout  hsm.SignOnLayout
		alg     hsm.MACAlgorithm
		encrypt bool
	}{
		{"001 POS-ECB", hsm.SignOn001, hsm.MACPOSECB, false},
		{"003 X9.19", hsm.SignOn003, hsm.MACX919, false},
		{"004 POS-ECB encrypted track", hsm.SignOn004, hsm.MACPOSECB, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newPeer(t, tc.alg)
			term := newTerm(t, p, func(c *Config) { c.SignOnLayout = tc.layout })

			if _, err := term.SignOn(ctx); !errors.Is(err, ErrNotActivated) {
				t.Fatalf("SignOn before activation: got %v, want ErrNotActivated", err)
			}
			if _, err := term.Activate(ctx, p.newCode(), nil); err != nil {
				t.Fatalf("Activate: %v", err)
			}
			if term.TID() != p.tid || term.MID() != p.mid || !term.Activated() {
				t.Fatalf("after activation: TID %q MID %q activated %v", term.TID(), term.MID(), term.Activated())
			}
			if _, err := term.Purchase(ctx, pinCard, 100); !errors.Is(err, ErrNotSignedOn) {
				t.Fatalf("Purchase before sign-on: got %v, want ErrNotSignedOn", err)
			}
			if _, err := term.SignOn(ctx); err != nil {
				t.Fatalf("SignOn: %v", err)
			}
			if term.Batch() != p.batch {
				t.Fatalf("batch after sign-on: got %d, want %d (the answer's 60.2)", term.Batch(), p.batch)
			}

			purchase := approve(t, "purchase")(term.Purchase(ctx, pinCard, 1000))
			approve(t, "void")(term.Void(ctx, pinCard, purchase))

			card2 := swipeCard
			card2.EncryptTrack = tc.encrypt
			purchase2 := approve(t, "swiped purchase")(term.Purchase(ctx, card2, 2000))
			if got := p.lastTrack(); got != testTrack {
				t.Fatalf("track as the peer decrypted it: got %q, want %q", got, testTrack)
			}
			approve(t, "refund")(term.Refund(ctx, pinCard, 500, purchase2))

			preauth := approve(t, "pre-auth")(term.PreAuth(ctx, pinCard, 5000))
			pv := approve(t, "pre-auth 2")(term.PreAuth(ctx, pinCard, 300))
			approve(t, "pre-auth void")(term.PreAuthVoid(ctx, pinCard, pv))
			completion := approve(t, "completion")(term.Completion(ctx, pinCard, 4000, preauth))
			approve(t, "completion void")(term.CompletionVoid(ctx, pinCard, completion))

			bal := approve(t, "balance")(term.Balance(ctx, pinCard))
			if !bal.HasBalance || bal.Balance != 12345 {
				t.Fatalf("balance: got %d (present %v), want 12345", bal.Balance, bal.HasBalance)
			}

			wrongPIN := pinCard
			wrongPIN.PIN = "654321"
			res, err := term.Purchase(ctx, wrongPIN, 700)
			var de *DeclinedError
			if !errors.As(err, &de) || de.Code != "55" || res.Code != "55" {
				t.Fatalf("wrong PIN: got %v (code %q), want a decline with 55", err, res.Code)
			}

			want := codec.Totals{DebitAmount: 1000 + 2000 + 4000, DebitCount: 3, CreditAmount: 1000 + 500 + 4000, CreditCount: 3}
			if got := term.Totals().Domestic; got != want {
				t.Fatalf("terminal totals: got %+v, want %+v", got, want)
			}
			batch := term.Batch()
			st, err := term.Settle(ctx)
			if err != nil {
				t.Fatalf("Settle: %v", err)
			}
			if st.Flag != codec.SettleBalanced || st.Uploaded != 0 || st.SettledBatch != batch {
				t.Fatalf("settlement: flag %d uploaded %d batch %d, want balanced, 0, %d", st.Flag, st.Uploaded, st.SettledBatch, batch)
			}
			if term.Batch() != batch+1 || term.BookLen() != 0 {
				t.Fatalf("after settlement: batch %d book %d, want %d and 0", term.Batch(), term.BookLen(), batch+1)
			}
			if n := len(p.requests("0400")); n != 0 {
				t.Fatalf("reversals sent: %d, want 0", n)
			}
			if _, err := term.Echo(ctx); err != nil {
				t.Fatalf("Echo: %v", err)
			}
			if _, err := term.SignOff(ctx); err != nil {
				t.Fatalf("SignOff: %v", err)
			}
			if _, err := term.Purchase(ctx, pinCard, 100); !errors.Is(err, ErrNotSignedOn) {
				t.Fatalf("Purchase after sign-off: got %v, want ErrNotSignedOn", err)
			}
			if s := term.Stats(); s.Dials != 1 || s.Sent != s.Received {
				t.Fatalf("stats: %+v, want one long connection and every request answered", s)
			}
		})
	}
}

func TestSettleUnbalancedUploadsBatch(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, nil)
	ready(t, p, term)

	var purchases []Result
	for i := 1; i <= 10; i++ {
		r, err := term.Purchase(ctx, pinCard, int64(i)*100)
		purchases = append(purchases, approve(t, "purchase")(r, err))
	}
	voided := approve(t, "void")(term.Void(ctx, pinCard, purchases[2]))
	p.script(func(p *peer) { p.unbalanced = true })
	batch := term.Batch()
	st, err := term.Settle(ctx)
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if st.Flag != codec.SettleNotBalanced || st.Uploaded != 11 {
		t.Fatalf("settlement: flag %d uploaded %d, want 2 and 11", st.Flag, st.Uploaded)
	}
	if term.Batch() != batch+1 {
		t.Fatalf("batch after upload: got %d, want %d", term.Batch(), batch+1)
	}

	uploads := p.requests("0320")
	if len(uploads) != 3 {
		t.Fatalf("0320 messages: got %d, want 3 (8 + 3 records, then the end)", len(uploads))
	}
	for i, want := range []struct {
		code   uint16
		digits int
	}{{201, 2 + 8*40}, {201, 2 + 3*40}, {202, 4}} {
		m := uploads[i].msg
		f := field60(t, m)
		if f.NetworkCode != want.code || f.Batch != batch || len(m.Field(48)) != want.digits || !m.Has(64) {
			t.Errorf("0320 #%d: 60.3 %d batch %d 48 digits %d MAC %v, want %d, %d, %d, MAC",
				i, f.NetworkCode, f.Batch, len(m.Field(48)), m.Has(64), want.code, batch, want.digits)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(p.uploadEnd, []int{11}) {
		t.Fatalf("closing counts: got %v, want [11]", p.uploadEnd)
	}
	if len(p.uploads) != 11 {
		t.Fatalf("records: got %d, want 11", len(p.uploads))
	}
	for i, rec := range p.uploads {
		wantSTAN, wantAmount := uint32(0), int64(0)
		if i < 10 {
			wantSTAN, wantAmount = purchases[i].STAN, purchases[i].Amount
		} else {
			wantSTAN, wantAmount = voided.STAN, voided.Amount
		}
		if rec.STAN != wantSTAN || rec.Amount != wantAmount || string(rec.PAN[:rec.PANLen]) != testPAN || rec.CardOrg != 0 {
			t.Errorf("record %d: STAN %d amount %d org %d, want STAN %d amount %d org 0 and the card's PAN",
				i, rec.STAN, rec.Amount, rec.CardOrg, wantSTAN, wantAmount)
		}
	}
}

func TestTimeoutReversal(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	ready(t, p, term)

	// The purchase's answer and the first reversal's answer are lost.
	lost := map[string]int{"0200": 1, "0400": 1}
	p.script(func(p *peer) {
		p.drop = func(m *codec.Message) bool {
			mti := string(m.MTI())
			if lost[mti] > 0 {
				lost[mti]--
				return true
			}
			return false
		}
	})
	res, err := term.Purchase(ctx, pinCard, 1234)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Purchase: got %v, want ErrTimeout", err)
	}
	if !res.Reversed || res.ReversalCode != "98" || term.ReversalPending() {
		t.Fatalf("result: reversed %v code %q pending %v, want reversed with 98", res.Reversed, res.ReversalCode, term.ReversalPending())
	}
	orig := p.requests("0200")
	revs := p.requests("0400")
	if len(orig) != 1 || len(revs) != 2 {
		t.Fatalf("requests: %d purchases and %d reversals, want 1 and 2", len(orig), len(revs))
	}
	for i, rv := range revs {
		checkReversal(t, i, rv.msg, orig[0].msg, "98")
	}
	if !slices.Equal(revs[0].body, revs[1].body) {
		t.Fatal("a retried reversal differs from the first one")
	}
	if term.BookLen() != 0 {
		t.Fatalf("book after a reversed purchase: %d entries, want 0", term.BookLen())
	}

	// Every reversal is lost now: the retries run out and the reversal stays pending.
	p.script(func(p *peer) {
		p.drop = func(m *codec.Message) bool { return m.IsMTI("0200") || m.IsMTI("0400") }
	})
	res2, err := term.Purchase(ctx, pinCard, 2222)
	if !errors.Is(err, ErrTimeout) || res2.Reversed || !term.ReversalPending() {
		t.Fatalf("second purchase: err %v reversed %v pending %v, want timeout, not reversed, pending", err, res2.Reversed, term.ReversalPending())
	}
	if n := len(p.requests("0400")) - 2; n != DefaultReversalRetries {
		t.Fatalf("reversal attempts: got %d, want %d", n, DefaultReversalRetries)
	}
	p.script(func(p *peer) { p.drop = nil })
	before := len(p.requests(""))
	approve(t, "purchase after the outage")(term.Purchase(ctx, pinCard, 3333))
	after := p.requests("")[before:]
	if len(after) != 2 || after[0].mti() != "0400" || stanOf(after[0].msg) != res2.STAN || after[1].mti() != "0200" {
		t.Fatalf("after the outage: got %d requests, want the pending 0400 (STAN %d) then the 0200", len(after), res2.STAN)
	}
	st, err := term.Settle(ctx)
	if err != nil || st.Flag != codec.SettleBalanced {
		t.Fatalf("Settle: flag %d, %v; want balanced (reversed purchases excluded on both sides)", st.Flag, err)
	}
}

// checkReversal compares a 0400 with the request it reverses.
func checkReversal(t *testing.T, i int, rev, orig *codec.Message, reason string) {
	t.Helper()
	for _, n := range []int{2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60} {
		if string(rev.Field(n)) != string(orig.Field(n)) {
			t.Errorf("0400 #%d field %d differs from the original's", i, n)
		}
	}
	for _, n := range []int{26, 35, 52, 53, 59} {
		if rev.Has(n) {
			t.Errorf("0400 #%d carries field %d", i, n)
		}
	}
	if got := string(rev.Field(39)); got != reason || !rev.Has(64) {
		t.Errorf("0400 #%d: 39 %q MAC %v, want %q and a MAC", i, got, rev.Has(64), reason)
	}
}

func TestResponseMACFailure(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACX919)
	term := newTerm(t, p, nil)
	ready(t, p, term)
	p.script(func(p *peer) {
		p.corruptMAC = func(r *codec.Message) bool { return r.IsMTI("0210") }
	})
	res, err := term.Purchase(ctx, pinCard, 5000)
	if !errors.Is(err, ErrResponseMAC) {
		t.Fatalf("Purchase: got %v, want ErrResponseMAC", err)
	}
	if !res.Reversed || res.ReversalCode != "A0" {
		t.Fatalf("result: reversed %v code %q, want reversed with A0", res.Reversed, res.ReversalCode)
	}
	revs := p.requests("0400")
	if len(revs) != 1 {
		t.Fatalf("reversals: got %d, want 1", len(revs))
	}
	checkReversal(t, 0, revs[0].msg, p.requests("0200")[0].msg, "A0")
	// A balance inquiry is not reversible: a bad MAC is reported, nothing is reversed.
	p.script(func(p *peer) { p.corruptMAC = func(r *codec.Message) bool { return r.IsMTI("0210") } })
	if _, err := term.Balance(ctx, pinCard); !errors.Is(err, ErrResponseMAC) {
		t.Fatalf("Balance: got %v, want ErrResponseMAC", err)
	}
	if n := len(p.requests("0400")); n != 1 {
		t.Fatalf("reversals after a balance inquiry: got %d, want still 1", n)
	}
	p.script(func(p *peer) { p.corruptMAC = nil })
	if st, err := term.Settle(ctx); err != nil || st.Flag != codec.SettleBalanced || st.Totals.Domestic.DebitCount != 0 {
		t.Fatalf("Settle: %+v, %v; want balanced with nothing", st.Totals, err)
	}
}

func TestProcessingRequirement(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, nil)
	ready(t, p, term)

	tests := []struct {
		name    string
		req     byte
		wantPre []string // requests the terminal sends before its next 0200 ("0800/360" …)
	}{
		{"sign on again", codec.RequireSignOn, []string{"0800/3"}},
		{"parameters", codec.RequireParams, []string{"0800/360"}},
		{"software update", codec.RequireTMSUpdate, nil},
		{"nothing", codec.RequireNothing, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			once := true
			p.script(func(p *peer) {
				p.requirement = func(m *codec.Message) byte {
					if once && m.IsMTI("0200") {
						once = false
						return tc.req
					}
					return 0
				}
			})
			res := approve(t, "purchase")(term.Purchase(ctx, pinCard, 100))
			if res.Requirement != tc.req {
				t.Fatalf("Result.Requirement: got %d, want %d", res.Requirement, tc.req)
			}
			before := len(p.requests(""))
			approve(t, "next purchase")(term.Purchase(ctx, pinCard, 100))
			var got []string
			for _, c := range p.requests("")[before:] {
				if c.mti() == "0200" {
					break
				}
				got = append(got, c.mti()+"/"+itoa(uint32(field60(t, c.msg).NetworkCode)))
			}
			if !slices.Equal(got, tc.wantPre) {
				t.Fatalf("before the next purchase: got %v, want %v", got, tc.wantPre)
			}
		})
	}
	if !term.UpdateWanted() {
		t.Fatal("UpdateWanted: got false after requirement 6")
	}
	if pr := term.Params(); pr.MerchantName != "TEST MERCHANT" || pr.Timeout != 7*time.Second || pr.Retries != 2 {
		t.Fatalf("Params: got %+v", pr)
	}
	if term.Timeout() != 7*time.Second {
		t.Fatalf("timeout after the download: got %v, want the downloaded 7s", term.Timeout())
	}
}

func TestConnections(t *testing.T) {
	tests := []struct {
		name  string
		short bool
	}{{"long", false}, {"short", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newPeer(t, hsm.MACPOSECB)
			term := newTerm(t, p, func(c *Config) { c.ShortConnections = tc.short })
			ready(t, p, term)
			r := approve(t, "purchase")(term.Purchase(ctx, pinCard, 100))
			approve(t, "void")(term.Void(ctx, pinCard, r))
			if _, err := term.Settle(ctx); err != nil {
				t.Fatalf("Settle: %v", err)
			}
			want := 1
			if tc.short {
				want = len(p.requests(""))
			}
			p.mu.Lock()
			got := p.accepted
			p.mu.Unlock()
			if got != want || int(term.Stats().Dials) != want {
				t.Fatalf("connections: peer accepted %d, terminal dialed %d, want %d", got, term.Stats().Dials, want)
			}
		})
	}
}

func TestLongConnectionRedials(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, nil)
	ready(t, p, term)
	p.script(func(p *peer) { p.closeAfter = func(m *codec.Message) bool { return m.IsMTI("0200") } })
	for i := 0; i < 3; i++ {
		approve(t, "purchase")(term.Purchase(ctx, pinCard, 100))
		<-p.closed // the gateway has closed the idle connection before the next request
	}
	if d := term.Stats().Dials; d != 3 {
		t.Fatalf("dials: got %d, want 3 (a redial after each close)", d)
	}
	if n := len(p.requests("0400")); n != 0 {
		t.Fatalf("reversals: got %d, want 0 (every answer arrived)", n)
	}
}

func TestExchangeAndSendRaw(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, nil)
	ready(t, p, term)

	m := codec.NewMessage(codec.Terminal)
	must(m.SetMTI("0820"))
	must(m.SetString(11, "000099"))
	must(m.SetString(41, term.TID()))
	must(m.SetString(42, term.MID()))
	must(m.SetString(60, "00000007301"))
	resp, err := term.Exchange(ctx, m)
	if err != nil || !resp.IsMTI("0830") || string(resp.Field(39)) != "00" || string(resp.Field(11)) != "000099" {
		t.Fatalf("Exchange: %v", err)
	}

	// A MACed request built by hand: Exchange computes the MAC, the peer verifies it.
	m.Reset()
	must(m.SetMTI("0200"))
	must(m.SetString(2, testPAN))
	must(m.SetString(3, "000000"))
	must(m.SetNumber(4, 100))
	must(m.SetString(11, "000100"))
	must(m.SetString(22, "012"))
	must(m.SetString(25, "00"))
	must(m.SetString(41, term.TID()))
	must(m.SetString(42, term.MID()))
	must(m.SetString(49, "156"))
	must(m.SetString(60, "22000007000"))
	must(m.Set(64, make([]byte, 8)))
	resp, err = term.Exchange(ctx, m)
	if err != nil || string(resp.Field(39)) != "A7" { // no field 59: the peer declines, after the MAC passed
		t.Fatalf("Exchange 0200: code %q, %v; want A7 (MAC accepted, 59 missing)", resp.Field(39), err)
	}

	frame, err := codec.AppendFrame(nil, DefaultTPDU, DefaultHeader, func() *codec.Message {
		m.Reset()
		must(m.SetMTI("0820"))
		must(m.SetString(11, "000101"))
		must(m.SetString(41, term.TID()))
		must(m.SetString(42, term.MID()))
		must(m.SetString(60, "00000007301"))
		return m
	}())
	must(err)
	out, err := term.SendRaw(ctx, frame)
	if err != nil {
		t.Fatalf("SendRaw: %v", err)
	}
	f, err := codec.ParseFrame(out[2:])
	if err != nil || f.TPDU != DefaultTPDU.Swap() {
		t.Fatalf("SendRaw answer: %v, TPDU %x", err, f.TPDU)
	}

	bad := append([]byte(nil), frame...)
	bad[2] = 0x61 // TPDU id: the peer closes the connection
	if _, err := term.SendRaw(ctx, bad); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("SendRaw of a bad TPDU: got %v, want ErrNoResponse", err)
	}
	approve(t, "purchase after a dropped connection")(term.Purchase(ctx, pinCard, 100))
}

func TestNoCardDataInErrors(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	ready(t, p, term)
	canary := []string{testPAN, testPAN[6:], "2812", "123456", testTrack}
	var errs []error
	bad := Card{PAN: testPAN, Track2: testTrack + "1234", PIN: "123456"}
	_, err := term.Purchase(ctx, bad, 100)
	errs = append(errs, err)
	_, err = term.Purchase(ctx, Card{PAN: testPAN, PIN: "12"}, 100)
	errs = append(errs, err)
	wrong := pinCard
	wrong.PIN = "000000"
	_, err = term.Purchase(ctx, wrong, 100)
	errs = append(errs, err)
	p.script(func(p *peer) { p.drop = func(m *codec.Message) bool { return m.IsMTI("0200") } })
	_, err = term.Purchase(ctx, pinCard, 100)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("error %d: got nil", i)
		}
		for _, c := range canary {
			if strings.Contains(err.Error(), c) {
				t.Errorf("error %d (%T) holds card data", i, err)
			}
		}
	}
	if s := fmtCard(pinCard); strings.Contains(s, testPAN) || strings.Contains(s, "123456") || !strings.Contains(s, "622588******5678") {
		t.Errorf("a Card prints as %q", s)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Addr: "127.0.0.1:1", SN: "SN1"}
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no address", func(c *Config) { c.Addr = "" }, "Addr"},
		{"no SN", func(c *Config) { c.SN = "" }, "SN"},
		{"short TID", func(c *Config) { c.TID = "123" }, "TID"},
		{"bad TPDU", func(c *Config) { c.TPDU = codec.TPDU{0x61} }, "TPDU"},
		{"bad version", func(c *Config) { c.SoftwareVersion = "1.2" }, "SoftwareVersion"},
		{"operator", func(c *Config) { c.Operator = "0001" }, "Operator"},
		{"layout", func(c *Config) { c.SignOnLayout = 9 }, "SignOnLayout"},
		{"TMK", func(c *Config) { c.TMK = make([]byte, 5) }, "TMK"},
		{"retries", func(c *Config) { c.ReversalRetries = -1 }, "ReversalRetries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			var ce *ConfigError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("got %v, want nil", err)
			case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field):
				t.Fatalf("got %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
}

func TestKeyPool(t *testing.T) {
	pool := NewKeyPool(2)
	if err := pool.Warm(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	var keys [3]any
	for i := range keys {
		k, err := pool.Get(context.Background())
		if err != nil || k.N.BitLen() != 2048 {
			t.Fatalf("Get: %v", err)
		}
		keys[i] = k
	}
	if keys[0] == keys[1] || keys[0] != keys[2] {
		t.Fatal("keys are not handed out round-robin over 2 distinct keys")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewKeyPool(1).Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: got %v", err)
	}
}

func TestCancelledContextOwesReversal(t *testing.T) {
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, nil)
	ready(t, p, term)
	p.script(func(p *peer) { p.drop = func(m *codec.Message) bool { return m.IsMTI("0200") } })
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the peer has the request (its answer is dropped, so the read blocks).
	go func() {
		for len(p.requests("0200")) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	res, err := term.Purchase(ctx, pinCard, 900)
	if !errors.Is(err, context.Canceled) || res.ReversalCode != "06" || res.Reversed || !term.ReversalPending() {
		t.Fatalf("cancelled purchase: err %v code %q reversed %v pending %v, want Canceled, 06, pending",
			err, res.ReversalCode, res.Reversed, term.ReversalPending())
	}
	p.script(func(p *peer) { p.drop = nil })
	approve(t, "next purchase")(term.Purchase(context.Background(), pinCard, 100))
	revs := p.requests("0400")
	if len(revs) != 1 {
		t.Fatalf("reversals: got %d, want 1", len(revs))
	}
	checkReversal(t, 0, revs[0].msg, p.requests("0200")[0].msg, "06")
}

// A refund cannot be reversed: when its answer is lost the terminal sends the same frame again
// (same STAN, byte for byte) until it is answered, so it learns an approval it missed instead of
// refunding twice.
func TestRefundRepeatedWhenUnanswered(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	ready(t, p, term)
	orig := approve(t, "purchase")(term.Purchase(ctx, pinCard, 5000))
	lost := 2
	p.script(func(p *peer) {
		p.drop = func(m *codec.Message) bool {
			if m.IsMTI("0220") && lost > 0 {
				lost--
				return true
			}
			return false
		}
	})
	res := approve(t, "refund answered on its third sending")(term.Refund(ctx, pinCard, 1200, orig))
	if res.Repeats != 2 {
		t.Errorf("repeats %d, want 2", res.Repeats)
	}
	sent := p.requests("0220")
	if len(sent) != 3 || !slices.Equal(sent[0].body, sent[1].body) || !slices.Equal(sent[0].body, sent[2].body) {
		t.Fatalf("refund frames: %d, identical %v", len(sent), len(sent) == 3 && slices.Equal(sent[0].body, sent[2].body))
	}
	if len(p.requests("0400")) != 0 {
		t.Errorf("a refund was reversed")
	}
	// Never answered: the retries run out and the refund is reported unanswered.
	p.script(func(p *peer) { p.drop = func(m *codec.Message) bool { return m.IsMTI("0220") } })
	before := len(p.requests("0220"))
	res, err := term.Refund(ctx, pinCard, 100, orig)
	if !errors.Is(err, ErrTimeout) || res.Repeats != DefaultReversalRetries || len(p.requests("0220"))-before != 1+DefaultReversalRetries {
		t.Errorf("unanswered refund: %v, repeats %d, frames %d", err, res.Repeats, len(p.requests("0220"))-before)
	}
	// It stays owed: the next transaction first delivers it, byte for byte, and its approval
	// enters the book (the settlement totals agree with the gateway's).
	if !term.AdvicePending() {
		t.Fatal("an unanswered refund is not pending")
	}
	credits := term.Totals().Domestic.CreditCount
	p.script(func(p *peer) { p.drop = nil })
	approve(t, "purchase after the unanswered refund")(term.Purchase(ctx, pinCard, 300))
	sent = p.requests("0220")
	if term.AdvicePending() || len(sent)-before != 2+DefaultReversalRetries || !slices.Equal(sent[before].body, sent[len(sent)-1].body) {
		t.Fatalf("pending refund: still pending %v, frames %d, delivered as sent %v", term.AdvicePending(),
			len(sent)-before, slices.Equal(sent[before].body, sent[len(sent)-1].body))
	}
	if got := term.Totals().Domestic.CreditCount; got != credits+1 {
		t.Errorf("credits in the book %d, want %d (the delivered refund)", got, credits+1)
	}
}
