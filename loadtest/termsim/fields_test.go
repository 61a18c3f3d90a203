package termsim

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
)

// TestRequestFields runs one session of every message type against the peer and checks each
// request as the peer decoded it with codec against terminal-flows.md, field by field: which
// fields are present, the fixed values (3, 22, 25, 26, 53, 49, 60, 61, 63, 39), field 59's tags
// and the frame's TPDU and header.
func TestRequestFields(t *testing.T) {
	ctx := context.Background()
	p := newPeer(t, hsm.MACPOSECB)
	term := newTerm(t, p, func(c *Config) {
		c.SignOnLayout = hsm.SignOn004
		c.Timeout = 300 * time.Millisecond
		c.KeepSettings = true // the downloaded 7 s timeout would slow the dropped purchase
	})
	at := map[string]int{} // name → index of its request in p.requests("")
	mark := func(name string) { at[name] = len(p.requests("")) }

	mark("activation")
	if _, err := term.Activate(ctx, p.newCode(), nil); err != nil {
		t.Fatal(err)
	}
	mark("sign-on")
	if _, err := term.SignOn(ctx); err != nil {
		t.Fatal(err)
	}
	mark("parameter download")
	if _, err := term.DownloadParameters(ctx); err != nil {
		t.Fatal(err)
	}
	mark("echo")
	if _, err := term.Echo(ctx); err != nil {
		t.Fatal(err)
	}
	mark("balance")
	approve(t, "balance")(term.Balance(ctx, pinCard))
	mark("purchase with PIN")
	p1 := approve(t, "purchase")(term.Purchase(ctx, pinCard, 1000))
	chip := Card{PAN: testPAN, Expiry: "2812", PIN: "123456", EntryMode: EntryChip, SequenceNumber: "001",
		ICC: []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8}}
	mark("chip purchase")
	p2 := approve(t, "chip purchase")(term.Purchase(ctx, chip, 2000))
	enc := swipeCard
	enc.EncryptTrack = true
	mark("swiped purchase, encrypted track")
	approve(t, "encrypted")(term.Purchase(ctx, enc, 300))
	trackOnly := swipeCard
	trackOnly.OmitPAN = true
	mark("swiped purchase, track only")
	approve(t, "track only")(term.Purchase(ctx, trackOnly, 400))
	mark("void")
	approve(t, "void")(term.Void(ctx, pinCard, p1))
	mark("refund")
	approve(t, "refund")(term.Refund(ctx, chip, 500, p2))
	mark("pre-authorization")
	pa := approve(t, "pre-auth")(term.PreAuth(ctx, pinCard, 5000))
	pa2 := approve(t, "pre-auth 2")(term.PreAuth(ctx, pinCard, 600))
	mark("pre-auth void")
	approve(t, "pre-auth void")(term.PreAuthVoid(ctx, pinCard, pa2))
	mark("completion")
	c := approve(t, "completion")(term.Completion(ctx, pinCard, 4000, pa))
	mark("completion void")
	approve(t, "completion void")(term.CompletionVoid(ctx, pinCard, c))
	once := true
	p.script(func(p *peer) {
		p.drop = func(m *codec.Message) bool {
			if once && m.IsMTI("0200") {
				once = false
				return true
			}
			return false
		}
	})
	mark("reversed purchase")
	if _, err := term.Purchase(ctx, pinCard, 700); err == nil {
		t.Fatal("dropped purchase: got no error")
	}
	mark("reversal")
	p.script(func(p *peer) { p.unbalanced = true })
	mark("settlement")
	if _, err := term.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	mark("sign-off")
	if _, err := term.SignOff(ctx); err != nil {
		t.Fatal(err)
	}
	at["reversal"] = at["reversed purchase"] + 1
	at["batch upload"] = at["settlement"] + 1
	at["batch upload end"] = at["settlement"] + 2 // 8 transactions in the book: one 0320, then the end

	reqs := p.requests("")
	const (
		ti59None = iota
		ti59Activation
		ti59STAN
		ti59PAN
	)
	tests := []struct {
		name   string
		mti    string
		fields []int
		values map[int]string
		f60    [2]int // 60.1, 60.3
		ti     int
		f61    int // digits of 61
	}{
		{"activation", "0800", []int{11, 59, 60, 62}, nil, [2]int{0, 101}, ti59Activation, 0},
		{"sign-on", "0800", []int{11, 41, 42, 59, 60, 63}, map[int]string{63: "01 "}, [2]int{0, 4}, ti59STAN, 0},
		{"parameter download", "0800", []int{11, 41, 42, 60}, nil, [2]int{0, 360}, ti59None, 0},
		{"echo", "0820", []int{11, 41, 42, 60}, nil, [2]int{0, 301}, ti59None, 0},
		{"sign-off", "0820", []int{11, 41, 42, 60}, nil, [2]int{0, 2}, ti59None, 0},
		{"balance", "0200", []int{2, 3, 11, 14, 22, 25, 26, 41, 42, 49, 52, 53, 59, 60, 64},
			map[int]string{3: "310000", 22: "011", 25: "00", 26: "12", 49: "156", 53: "2600000000000000"}, [2]int{1, 0}, ti59PAN, 0},
		{"purchase with PIN", "0200", []int{2, 3, 4, 11, 14, 22, 25, 26, 41, 42, 49, 52, 53, 59, 60, 64},
			map[int]string{3: "000000", 4: "000000001000", 22: "011", 25: "00", 26: "12", 53: "2600000000000000"}, [2]int{22, 0}, ti59PAN, 0},
		{"chip purchase", "0200", []int{2, 3, 4, 11, 14, 22, 23, 25, 26, 41, 42, 49, 52, 53, 55, 59, 60, 64},
			map[int]string{22: "051", 23: "001"}, [2]int{22, 0}, ti59PAN, 0},
		{"swiped purchase, encrypted track", "0200", []int{2, 3, 4, 11, 14, 22, 25, 35, 41, 42, 49, 53, 59, 60, 64},
			map[int]string{22: "022", 53: "0610000000000000"}, [2]int{22, 0}, ti59PAN, 0},
		{"swiped purchase, track only", "0200", []int{3, 4, 11, 14, 22, 25, 35, 41, 42, 49, 59, 60, 64},
			map[int]string{22: "022", 35: testTrack}, [2]int{22, 0}, ti59PAN, 0},
		{"void", "0200", []int{2, 3, 4, 11, 25, 37, 38, 41, 42, 49, 60, 61, 64},
			map[int]string{3: "200000", 4: "000000001000", 25: "00"}, [2]int{23, 0}, ti59None, 12},
		{"refund", "0220", []int{2, 3, 4, 11, 25, 37, 41, 42, 49, 60, 61, 64},
			map[int]string{3: "200000", 4: "000000000500", 25: "00"}, [2]int{25, 0}, ti59None, 16},
		{"pre-authorization", "0100", []int{2, 3, 4, 11, 14, 22, 25, 26, 41, 42, 49, 52, 53, 59, 60, 64},
			map[int]string{3: "030000", 25: "06"}, [2]int{10, 0}, ti59PAN, 0},
		{"pre-auth void", "0100", []int{2, 3, 4, 11, 25, 38, 41, 42, 49, 60, 61, 64},
			map[int]string{3: "200000", 4: "000000000600", 25: "06"}, [2]int{11, 0}, ti59None, 16},
		{"completion", "0200", []int{2, 3, 4, 11, 25, 38, 41, 42, 49, 60, 61, 64},
			map[int]string{3: "000000", 4: "000000004000", 25: "06"}, [2]int{20, 0}, ti59None, 16},
		{"completion void", "0200", []int{2, 3, 4, 11, 25, 37, 38, 41, 42, 49, 60, 61, 64},
			map[int]string{3: "200000", 4: "000000004000", 25: "06"}, [2]int{21, 0}, ti59None, 12},
		{"reversal", "0400", []int{2, 3, 4, 11, 14, 22, 25, 39, 41, 42, 49, 60, 64},
			map[int]string{3: "000000", 4: "000000000700", 39: "98"}, [2]int{22, 0}, ti59None, 0},
		{"settlement", "0500", []int{11, 41, 42, 48, 49, 60, 63, 64}, map[int]string{63: "01 "}, [2]int{0, 201}, ti59None, 0},
		{"batch upload", "0320", []int{11, 41, 42, 48, 60, 64}, nil, [2]int{0, 201}, ti59None, 0},
		{"batch upload end", "0320", []int{11, 41, 42, 48, 60, 64}, map[int]string{48: "0008"}, [2]int{0, 202}, ti59None, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, ok := at[tc.name]
			if !ok || i >= len(reqs) {
				t.Fatalf("no request recorded for %q", tc.name)
			}
			c := reqs[i]
			m := c.msg
			if got := c.mti(); got != tc.mti {
				t.Fatalf("MTI: got %s, want %s", got, tc.mti)
			}
			if c.tpdu != DefaultTPDU || c.header != (codec.Header{0x60, 0x31, 0x00, 0x00, 0x00, 0x01}) {
				t.Errorf("TPDU %x header %x, want %x and 603100000001", c.tpdu, c.header, DefaultTPDU)
			}
			var got []int
			for n := m.Next(0); n != 0; n = m.Next(n) {
				got = append(got, n)
			}
			if !slices.Equal(got, tc.fields) {
				t.Fatalf("fields: got %v, want %v", got, tc.fields)
			}
			for n, want := range tc.values {
				if v := string(m.Field(n)); v != want {
					t.Errorf("field %d: got %q, want %q", n, v, want)
				}
			}
			f60 := field60(t, m)
			if int(f60.MessageType) != tc.f60[0] || int(f60.NetworkCode) != tc.f60[1] || len(m.Field(60)) != 11 {
				t.Errorf("60: got %s, want 60.1 %02d and 60.3 %03d in 11 digits", m.Field(60), tc.f60[0], tc.f60[1])
			}
			wantBatch := p.batch // assigned by the sign-on answer
			switch tc.name {
			case "activation":
				wantBatch = 0
			case "sign-on":
				wantBatch = 1 // Config.Batch's default, before the answer
			case "sign-off":
				wantBatch = p.batch + 1 // after the settlement
			}
			if f60.Batch != wantBatch {
				t.Errorf("60.2: got %d, want %d", f60.Batch, wantBatch)
			}
			if v := m.Field(61); len(v) != tc.f61 {
				t.Errorf("61: got %d digits, want %d", len(v), tc.f61)
			}
			if tc.ti == ti59None {
				return
			}
			ti, err := codec.ParseTerminalInfo(m.Field(59))
			if err != nil {
				t.Fatalf("59: %v", err)
			}
			if string(ti.DeviceType) != DefaultDeviceType || string(ti.SN) != p.sn || string(ti.AppVersion) != DefaultAppVersion {
				t.Errorf("59: device type %q SN %q version %q", ti.DeviceType, ti.SN, ti.AppVersion)
			}
			switch tc.ti {
			case ti59Activation:
				if ti.RandomFactor != nil || ti.SNCipher != nil {
					t.Error("59 of the activation carries a random factor or an SN cipher")
				}
			case ti59STAN:
				if string(ti.RandomFactor) != string(m.Field(11)) || len(ti.SNCipher) != 8 {
					t.Errorf("59: random factor %q (STAN %s), SN cipher %d characters", ti.RandomFactor, m.Field(11), len(ti.SNCipher))
				}
			case ti59PAN:
				if string(ti.RandomFactor) != testPAN[len(testPAN)-6:] || len(ti.SNCipher) != 8 {
					t.Errorf("59: random factor is not the PAN's last six digits, or no SN cipher")
				}
			}
		})
	}
}
