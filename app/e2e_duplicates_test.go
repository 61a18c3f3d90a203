package app_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/internal/redistest"
)

// Retransmissions (terminal-protocol §7): the same request — same TID, batch, STAN and MTI, same
// content — gets the first response byte for byte and never a second authorization; the same
// key with other content gets 94.
func testDuplicates(t *testing.T, redisURL string) {
	// A little issuer latency, so a retransmission can arrive while the first copy is upstream.
	e := startNode(t, redisURL, func(c *app.Config) { c.SimLatency = 100 * time.Millisecond })
	d := e.device("TERMDUP1", "000002021000200001")

	t.Run("identical frame", func(t *testing.T) {
		before := e.ledger()
		f := d.frame(d.purchase(d.nextSTAN(), testPAN, 1234, testPIN))
		first, raw1 := d.send(f)
		if rc := string(first.Field(39)); rc != "00" {
			t.Fatalf("purchase: %s", rc)
		}
		_, raw2 := d.send(f)
		if !bytes.Equal(raw1, raw2) {
			t.Fatalf("retransmission answered differently:\n%x\n%x", raw1, raw2)
		}
		after := e.ledger()
		if got := after.Purchases.Count - before.Purchases.Count; got != 1 {
			t.Fatalf("%d purchases reached the issuer, want 1", got)
		}
		if after.Requests-before.Requests != 1 {
			t.Fatalf("%d requests reached the issuer, want 1", after.Requests-before.Requests)
		}

		// Same key, other amount: 94, and the stored answer stays what it was.
		other := d.purchase(d.stan, testPAN, 1235, testPIN)
		resp, _ := d.exchange(other)
		if rc := string(resp.Field(39)); rc != "94" {
			t.Fatalf("same STAN, other amount: %s, want 94", rc)
		}
		if !resp.Has(64) {
			t.Fatalf("94 answer without a MAC")
		}
		otherCard := d.purchase(d.stan, otherPAN, 1234, "")
		if rc := d.code(otherCard); rc != "94" {
			t.Fatalf("same STAN, other card: %s, want 94", rc)
		}
		if _, raw3 := d.send(f); !bytes.Equal(raw1, raw3) {
			t.Fatalf("retransmission after a 94 answered differently")
		}
		if got := e.ledger().Requests - before.Requests; got != 1 {
			t.Fatalf("%d requests reached the issuer, want 1", got)
		}
	})

	t.Run("an unauthenticated copy does not take the key", func(t *testing.T) {
		stan := d.nextSTAN()
		real := d.frame(d.purchase(stan, testPAN, 4444, ""))
		badMAC := append([]byte(nil), real...)
		badMAC[len(badMAC)-1] ^= 0x01
		forged := d.frame(d.purchase(stan, testPAN, 999, ""))
		forged[len(forged)-1] ^= 0x01
		for _, f := range [][]byte{badMAC, forged} {
			if resp, _ := d.send(f); string(resp.Field(39)) != "A0" {
				t.Fatalf("copy with a wrong MAC: %s, want A0", resp.Field(39))
			}
		}
		if resp, _ := d.send(real); string(resp.Field(39)) != "00" {
			t.Fatalf("the terminal's own request after unauthenticated copies: %s, want 00", resp.Field(39))
		}
	})

	t.Run("identical frame while the first is upstream", func(t *testing.T) {
		before := e.ledger()
		f := d.frame(d.purchase(d.nextSTAN(), testPAN, 2345, ""))
		links := []*device{d, {e: e, keys: d.keys, link: e.terminal(d.sn, nil)}, {e: e, keys: d.keys, link: e.terminal(d.sn, nil)}}
		raws := make([][]byte, len(links))
		var wg sync.WaitGroup
		for i, l := range links {
			wg.Go(func() {
				out, err := l.link.SendRaw(e.ctx, f)
				if err != nil {
					t.Errorf("link %d: %v", i, err)
				}
				raws[i] = out
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		for i := range raws {
			if !bytes.Equal(raws[0], raws[i]) {
				t.Fatalf("copy %d answered differently:\n%x\n%x", i, raws[0], raws[i])
			}
		}
		if rc := string(d.parse(raws[0]).Field(39)); rc != "00" {
			t.Fatalf("purchase: %s", rc)
		}
		if got := e.ledger().Requests - before.Requests; got != 1 {
			t.Fatalf("%d requests reached the issuer, want 1", got)
		}
	})

	t.Run("declined, voided and reversed", func(t *testing.T) {
		before := e.ledger()
		decl := d.frame(d.purchase(d.nextSTAN(), testPAN, 5151, ""))
		r1, raw1 := d.send(decl)
		if rc := string(r1.Field(39)); rc != "51" {
			t.Fatalf("purchase: %s, want 51", rc)
		}
		if _, raw2 := d.send(decl); !bytes.Equal(raw1, raw2) {
			t.Fatalf("retransmitted decline answered differently")
		}

		pm := d.purchase(d.nextSTAN(), testPAN, 3000, "")
		p, _ := d.exchange(pm)
		if rc := string(p.Field(39)); rc != "00" {
			t.Fatalf("purchase: %s", rc)
		}
		void := d.frame(d.void(d.nextSTAN(), pm, p))
		v1, vraw1 := d.send(void)
		if rc := string(v1.Field(39)); rc != "00" {
			t.Fatalf("void: %s", rc)
		}
		if _, vraw2 := d.send(void); !bytes.Equal(vraw1, vraw2) {
			t.Fatalf("retransmitted void answered differently (a second void would be 22)")
		}

		rev := d.frame(d.reversalOf(pm, "98"))
		_, rraw1 := d.send(rev)
		_, rraw2 := d.send(rev)
		if !bytes.Equal(rraw1, rraw2) {
			t.Fatalf("retransmitted reversal answered differently")
		}
		after := e.ledger()
		if got := after.Declines.Count - before.Declines.Count; got != 1 {
			t.Fatalf("%d declines reached the issuer, want 1", got)
		}
		if got := after.Voids.Count - before.Voids.Count; got != 1 {
			t.Fatalf("%d voids reached the issuer, want 1", got)
		}
		eventually(t, "the reversal upstream", func() bool { return e.ledger().Reversals.Count > before.Reversals.Count })
		eventually(t, "the reversal queue to drain", func() bool { return e.reversalDepth() == 0 })
		if got := e.ledger().Reversals.Count - before.Reversals.Count; got != 1 {
			t.Fatalf("%d reversals reached the issuer, want 1", got)
		}
	})
}

func TestDuplicatesMemory(t *testing.T) { checkNoLeak(t); testDuplicates(t, "") }

func TestDuplicatesRedis(t *testing.T) { testDuplicates(t, redistest.Start(t).URL()) }

// void builds the void (0200 200000/00/23) of the purchase request orig answered by resp.
func (d *device) void(stan uint32, orig, resp *codec.Message) *codec.Message {
	amount, err := orig.Number(4)
	must(d.e.t, err)
	return d.followUp("0200", 23, stan, orig, resp, int64(amount), true)
}

// followUp builds a void or refund (processing code 200000, condition 00, 60.1 msgType) of
// amount naming the purchase request orig answered by resp in 37 (and 38 when with38) and 61.
func (d *device) followUp(mti string, msgType uint8, stan uint32, orig, resp *codec.Message, amount int64, with38 bool) *codec.Message {
	t := d.e.t
	m := d.begin(mti, stan)
	must(t, m.Set(2, orig.Field(2)))
	must(t, m.SetString(3, "200000"))
	must(t, m.SetNumber(4, uint64(amount)))
	if mti == "0220" {
		must(t, m.SetString(22, "012"))
	}
	must(t, m.SetString(25, "00"))
	must(t, m.Set(37, resp.Field(37)))
	if with38 {
		must(t, m.Set(38, resp.Field(38)))
	}
	d.ids(m)
	must(t, m.SetString(49, "156"))
	must(t, m.Set(60, codec.AppendField60(nil, codec.Field60{MessageType: msgType, Batch: d.batch, Digits: 11})))
	f60, err := codec.ParseField60(orig.Field(60))
	must(t, err)
	stanOrig, err := orig.Number(11)
	must(t, err)
	must(t, m.Set(61, codec.AppendField61(nil, codec.Field61{Batch: f60.Batch, STAN: uint32(stanOrig), Digits: 12})))
	var zero [8]byte
	must(t, m.Set(64, zero[:]))
	return m
}

// reversalOf builds the 0400 of the request orig: its fields without PIN, track and terminal
// info, with 39 = reason.
func (d *device) reversalOf(orig *codec.Message, reason string) *codec.Message {
	t := d.e.t
	m := codec.NewMessage(codec.Terminal)
	must(t, m.SetMTI("0400"))
	for n := orig.Next(0); n != 0; n = orig.Next(n) {
		switch n {
		case 26, 35, 36, 52, 53, 59, 64:
			continue
		}
		must(t, m.Set(n, orig.Field(n)))
	}
	must(t, m.SetString(39, reason))
	var zero [8]byte
	must(t, m.Set(64, zero[:]))
	return m
}
