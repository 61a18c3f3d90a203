package app_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/terminal"
)

// Limits of the decline tests' node.
const (
	maxAmount     = 100_000 // fen
	maxDailyCount = 6
	stolenPAN     = "6200000000000043"
	otherPAN      = "6222029999999999"
)

// Every way the gateway refuses a terminal message (terminal-protocol §9, terminal-flows.md),
// over TCP against a whole node.
func testDeclines(t *testing.T, redisURL string) {
	e := startNode(t, redisURL, func(c *app.Config) {
		c.Processor = gateway.ProcessorConfig{MaxAmount: maxAmount, MaxDailyCount: maxDailyCount}
	})
	ctx := e.ctx
	d := e.device("TERMD001", "000002021000100001")

	t.Run("unknown terminal", func(t *testing.T) {
		term := e.terminal("000002021000100099", func(c *termsim.Config) {
			c.TMK, c.TID, c.MID = randomKey(t), "NOSUCH01", merchant
		})
		res, err := term.SignOn(ctx)
		declined(t, "sign-on of an unknown TID", res, err, "97")
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		must(t, m.SetString(41, "NOSUCH01"))
		if rc := d.code(m); rc != "97" {
			t.Fatalf("purchase of an unknown TID: %s, want 97", rc)
		}
	})
	t.Run("merchant mismatch", func(t *testing.T) {
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		must(t, m.SetString(42, "898310048169999"))
		if rc := d.code(m); rc != "03" {
			t.Fatalf("purchase under another MID: %s, want 03", rc)
		}
		if rc := d.code(func() *codec.Message {
			m := d.signOnMsg("01 ", d.sn, nil, false)
			must(t, m.SetString(42, "898310048169999"))
			return m
		}()); rc != "03" {
			t.Fatalf("sign-on under another MID: %s, want 03", rc)
		}
	})
	t.Run("pending terminal", func(t *testing.T) {
		e.provision("TERMD002", "000002021000100002") // never activated
		term := e.terminal("000002021000100002", func(c *termsim.Config) {
			c.TMK, c.TID, c.MID = randomKey(t), "TERMD002", merchant
		})
		res, err := term.SignOn(ctx)
		declined(t, "sign-on of a pending terminal", res, err, "97")
	})
	t.Run("blocked terminal", func(t *testing.T) {
		b := e.device("TERMD003", "000002021000100003")
		if rc := b.code(b.purchase(b.nextSTAN(), testPAN, 100, "")); rc != "00" {
			t.Fatalf("purchase before the block: %s", rc)
		}
		if _, err := e.node.Registry.Block(ctx, b.tid, terminal.ReasonLost); err != nil {
			t.Fatal(err)
		}
		if rc := b.code(b.purchase(b.nextSTAN(), testPAN, 100, "")); rc != "58" {
			t.Fatalf("purchase of a lost terminal: %s, want 58", rc)
		}
		if rc := b.code(b.signOnMsg("01 ", b.sn, nil, false)); rc != "58" {
			t.Fatalf("sign-on of a lost terminal: %s, want 58", rc)
		}
	})
	t.Run("wrong SN", func(t *testing.T) {
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		d.set59(m, otherSN, []byte(testPAN[len(testPAN)-6:]), false)
		if rc := d.code(m); rc != "A7" {
			t.Fatalf("purchase with another SN: %s, want A7", rc)
		}
		if rc := d.code(d.signOnMsg("01 ", otherSN, nil, false)); rc != "A7" {
			t.Fatalf("sign-on with another SN: %s, want A7", rc)
		}
	})
	t.Run("wrong random factor", func(t *testing.T) {
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		d.set59(m, d.sn, []byte("999999"), false)
		if rc := d.code(m); rc != "A7" {
			t.Fatalf("purchase with a random factor not from the PAN: %s, want A7", rc)
		}
		if rc := d.code(d.signOnMsg("01 ", d.sn, []byte("999999"), false)); rc != "A7" {
			t.Fatalf("sign-on with a random factor not the STAN: %s, want A7", rc)
		}
	})
	t.Run("bad SN cipher", func(t *testing.T) {
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		d.set59(m, d.sn, []byte(testPAN[len(testPAN)-6:]), true)
		if rc := d.code(m); rc != "A7" {
			t.Fatalf("purchase with a bad SN cipher: %s, want A7", rc)
		}
		m = d.signOnMsg("01 ", d.sn, nil, true)
		if rc := d.code(m); rc != "A7" {
			t.Fatalf("sign-on with a bad SN cipher: %s, want A7", rc)
		}
	})
	t.Run("wrong MAC", func(t *testing.T) {
		f := d.frame(d.purchase(d.nextSTAN(), testPAN, 100, ""))
		f[len(f)-1] ^= 0x01
		resp, _ := d.send(f)
		if rc := string(resp.Field(39)); rc != "A0" || resp.Has(64) {
			t.Fatalf("purchase with a flipped MAC byte: %s (MAC %v), want A0 without MAC", rc, resp.Has(64))
		}
	})
	t.Run("missing MAC", func(t *testing.T) {
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		m.Unset(64)
		if rc := d.code(m); rc != "A0" {
			t.Fatalf("purchase without MAC: %s, want A0", rc)
		}
	})
	t.Run("wrong operator", func(t *testing.T) {
		if rc := d.code(d.signOnMsg("09 ", d.sn, nil, false)); rc != "05" {
			t.Fatalf("sign-on by operator 09: %s, want 05", rc)
		}
	})
	t.Run("wrong activation proofs delay the SN", func(t *testing.T) {
		const sn = "000002021000100004"
		good := e.provision("TERMD004", sn)
		term := e.terminal(sn, nil)
		for i := 1; i <= terminal.FreeProofs+1; i++ {
			wrong, err := e.node.HSM.NewActivationCode(ctx)
			must(t, err)
			res, err := term.Activate(ctx, wrong.Code, nil)
			declined(t, "activation with a wrong code", res, err, "A7")
		}
		res, err := term.Activate(ctx, good, nil)
		declined(t, "activation with the right code inside the back-off", res, err, "A7")
		if n := e.securityEvents("TERMD004", "activation_delayed"); n != 1 {
			t.Errorf("security events activation_delayed: %d, want 1", n)
		}
		// An operator lifts the delay: the code the terminal was given still works.
		if _, err := e.node.Registry.UnlockActivation(ctx, "TERMD004"); err != nil {
			t.Fatal(err)
		}
		res, err = term.Activate(ctx, good, nil)
		expect(t, "activation after the operator's unlock", res, err, "00")
	})
	t.Run("unsupported message", func(t *testing.T) {
		m := d.purchase(d.nextSTAN(), testPAN, 100, "")
		must(t, m.SetString(3, "990000"))
		resp, _ := d.exchange(m)
		if rc := string(resp.Field(39)); rc != "40" || resp.Has(64) {
			t.Fatalf("processing code 990000: %s (MAC %v), want 40 without MAC", rc, resp.Has(64))
		}
	})
	t.Run("malformed field", func(t *testing.T) {
		f := d.frame(d.purchase(d.nextSTAN(), testPAN, 100, ""))
		// Body: MTI 2, bitmap 8, field 2 (LL + packed PAN), field 3 (3 bytes), field 4.
		off := 2 + codec.TPDULen + codec.HeaderLen + 2 + 8 + 1 + (len(testPAN)+1)/2 + 3
		f[off+2] = 0x9A // a nibble that is no decimal digit
		resp, _ := d.send(f)
		if rc := string(resp.Field(39)); rc != "30" {
			t.Fatalf("field 4 with a bad BCD digit: %s, want 30", rc)
		}
		if rc := d.code(d.purchase(d.nextSTAN(), testPAN, 100, "")); rc != "00" {
			t.Fatalf("purchase after a format error: %s", rc)
		}
	})
	t.Run("unreadable frames close the connection", func(t *testing.T) {
		before := e.node.Gateway.Stats().FrameErrors
		good := d.frame(d.purchase(d.nextSTAN(), testPAN, 100, ""))
		oversize := append([]byte{0xFF, 0xFF}, good[2:]...)
		badTPDU := append([]byte(nil), good...)
		badTPDU[2] = 0x61
		for name, f := range map[string][]byte{"oversize length": oversize, "TPDU id 0x61": badTPDU} {
			out, err := d.link.SendRaw(ctx, f)
			if !errors.Is(err, termsim.ErrNoResponse) {
				t.Fatalf("%s: answer %x err %v, want the connection closed", name, out, err)
			}
		}
		if got := e.node.Gateway.Stats().FrameErrors - before; got != 2 {
			t.Fatalf("frame errors counted: %d, want 2", got)
		}
		if rc := d.code(d.purchase(d.nextSTAN(), testPAN, 100, "")); rc != "00" {
			t.Fatalf("purchase on a new connection: %s", rc)
		}
	})
	t.Run("amount limit", func(t *testing.T) {
		before := e.ledger().Requests
		if rc := d.code(d.purchase(d.nextSTAN(), testPAN, maxAmount+1, "")); rc != "61" {
			t.Fatalf("purchase above the limit: %s, want 61", rc)
		}
		if got := e.ledger().Requests; got != before {
			t.Fatalf("a purchase above the limit went upstream")
		}
	})
	t.Run("daily count limit", func(t *testing.T) {
		term := e.ready("TERMD005", "000002021000100005", nil)
		for i := 0; i < maxDailyCount-1; i++ {
			res, err := term.Purchase(ctx, card(), 100)
			expect(t, "purchase within the daily count", res, err, "00")
		}
		res, err := term.PreAuth(ctx, card(), 100)
		expect(t, "pre-auth within the daily count", res, err, "00")
		res, err = term.Purchase(ctx, card(), 100)
		declined(t, "purchase over the daily count", res, err, "65")
		res, err = term.PreAuth(ctx, card(), 100)
		declined(t, "pre-auth over the daily count", res, err, "65")
	})
	t.Run("issuer declines", func(t *testing.T) {
		term := e.ready("TERMD006", "000002021000100006", nil)
		wrongPIN := card()
		wrongPIN.PIN = "654321"
		for _, c := range []struct {
			what   string
			card   termsim.Card
			amount int64
			code   string
		}{
			{"insufficient funds", card(), 5151, "51"},
			{"issuer amount limit", card(), 6161, "61"},
			{"lost card", termsim.Card{PAN: lostPAN}, 100, "41"},
			{"stolen card", termsim.Card{PAN: stolenPAN}, 100, "43"},
			{"wrong PIN", wrongPIN, 100, "55"},
		} {
			res, err := term.Purchase(ctx, c.card, c.amount)
			declined(t, c.what, res, err, c.code)
		}
		st, err := term.Settle(ctx)
		if err != nil || st.Flag != codec.SettleBalanced {
			t.Fatalf("settle after declines only: flag %d err %v", st.Flag, err)
		}
	})
	t.Run("follow-ups", func(t *testing.T) {
		term := e.ready("TERMD007", "000002021000100007", nil)
		p, err := term.Purchase(ctx, card(), 2000)
		expect(t, "purchase", p, err, "00")

		unknown := p
		unknown.STAN += 500
		res, err := term.Void(ctx, card(), unknown)
		declined(t, "void of an unknown original", res, err, "25")
		other := p
		other.Amount++
		res, err = term.Void(ctx, card(), other)
		declined(t, "void with a different amount", res, err, "64")
		res, err = term.Void(ctx, termsim.Card{PAN: otherPAN}, p)
		declined(t, "void with another card", res, err, "14")
		res, err = term.Void(ctx, card(), p)
		expect(t, "void", res, err, "00")
		res, err = term.Void(ctx, card(), p)
		declined(t, "second void", res, err, "22")
		res, err = term.Refund(ctx, card(), 100, p)
		declined(t, "refund of a voided purchase", res, err, "22")

		p2, err := term.Purchase(ctx, card(), 1000)
		expect(t, "second purchase", p2, err, "00")
		res, err = term.Refund(ctx, card(), 600, p2)
		expect(t, "refund", res, err, "00")
		res, err = term.Refund(ctx, card(), 401, p2)
		declined(t, "refund above the remainder", res, err, "13")
		res, err = term.Refund(ctx, card(), 400, p2)
		expect(t, "refund of the remainder", res, err, "00")

		pa, err := term.PreAuth(ctx, card(), 3000)
		expect(t, "pre-auth", pa, err, "00")
		res, err = term.Completion(ctx, card(), 3001, pa)
		declined(t, "completion above the pre-auth", res, err, "13")
		st, err := term.Settle(ctx)
		if err != nil || st.Flag != codec.SettleBalanced {
			t.Fatalf("settle: flag %d err %v", st.Flag, err)
		}
	})
}

func TestDeclinesMemory(t *testing.T) { checkNoLeak(t); testDeclines(t, "") }

func TestDeclinesRedis(t *testing.T) { testDeclines(t, redistest.Start(t).URL()) }

// An issuer nobody answers for: 91, not a timeout and no reversal.
func TestNoResponders(t *testing.T) {
	checkNoLeak(t)
	e := startNode(t, "", func(c *app.Config) { c.NoSimulator = true })
	if e.node.Simulator != nil {
		t.Fatal("NoSimulator started a simulator")
	}
	term := e.ready(testTID, testSN, nil)
	res, err := term.Purchase(e.ctx, card(), 100)
	declined(t, "purchase without an issuer", res, err, "91")
	res, err = term.Balance(e.ctx, card())
	declined(t, "balance without an issuer", res, err, "91")
	if term.ReversalPending() {
		t.Fatal("a 91 left the terminal owing a reversal")
	}
	if n := e.reversalDepth(); n != 0 {
		t.Fatalf("%d reversals queued after 91", n)
	}
	// The purchase's write-ahead intent is closed by its decline: no open intent for a
	// restart to reverse or for posgate reconcile to report.
	today := journal.Calendar{}.BusinessDate(time.Now())
	outcomes := map[string]string{}                             // intent's outcome id → decline code ("" while open)
	for _, d := range []journal.Date{today, today.AddDays(1)} { // the cut-off may pass meanwhile
		if err := e.node.Journal.Read(e.ctx, d, func(r journal.Record) error {
			switch r.Type {
			case journal.TypeIntent:
				if _, ok := outcomes[r.Original.TxnID]; !ok {
					outcomes[r.Original.TxnID] = ""
				}
			case journal.TypeDeclined:
				outcomes[r.Original.TxnID] = r.ResponseCode
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(outcomes) != 1 {
		t.Fatalf("intents and declines: %v, want the purchase's", outcomes)
	}
	for id, code := range outcomes {
		if code != "91" {
			t.Errorf("intent of %s closed by %q, want a 91 decline", id, code)
		}
	}
}

func randomKey(t *testing.T) []byte {
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}
