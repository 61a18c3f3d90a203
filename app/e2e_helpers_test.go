package app_test

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/routing/issuersim"
)

// device is a terminal whose keys the test holds in clear, so it can build any frame byte by
// byte (a flipped MAC, a bad BCD digit, an exact retransmission) and send it with
// termsim.SendRaw. It activates and signs on itself (layout 003, POS ECB MAC).
type device struct {
	e            *env
	tid, mid, sn string
	tmk          []byte
	keys         termcrypto.WorkingKeys
	batch        uint32
	stan         uint32
	link         *termsim.Terminal // the connection only: SendRaw
}

var (
	devTPDU   = termsim.DefaultTPDU
	devHeader = codec.Header{0x60, 0x31, 0x00, 0x00, 0x00, 0x01}
)

// device provisions tid bound to sn, activates and signs it on.
func (e *env) device(tid, sn string) *device {
	e.t.Helper()
	code := e.provision(tid, sn)
	d := &device{e: e, sn: sn, link: e.terminal(sn, nil), batch: 1}
	if rc := d.activate(code); rc != "00" {
		e.t.Fatalf("device activation: %s", rc)
	}
	if resp, _ := d.exchange(d.signOnMsg("01 ", d.sn, nil, false)); string(resp.Field(39)) != "00" {
		e.t.Fatalf("device sign-on: %s", resp.Field(39))
	} else {
		d.installKeys(resp)
	}
	return d
}

func (d *device) nextSTAN() uint32 { d.stan++; return d.stan }

// activate sends 0800/101 with a pool key and the proof for code; on 00 it keeps TID, MID and
// the clear TMK. It returns the response code.
func (d *device) activate(code string) string {
	d.e.t.Helper()
	m, priv := d.activationMsg(code)
	resp, _ := d.exchange(m)
	return d.activated(resp, priv)
}

// activationMsg builds an activation request for code with a pool key pair.
func (d *device) activationMsg(code string) (*codec.Message, *rsa.PrivateKey) {
	t := d.e.t
	t.Helper()
	priv, err := keys.Get(d.e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := termcrypto.ActivationProof(code, []byte(d.sn), pub)
	if err != nil {
		t.Fatal(err)
	}
	m := d.begin("0800", d.nextSTAN())
	must(t, m.Set(59, codec.AppendTerminalInfo(nil, codec.TerminalInfo{DeviceType: []byte("02"), SN: []byte(d.sn),
		AppVersion: []byte("TSIM0001")})))
	must(t, m.Set(60, codec.AppendField60(nil, codec.Field60{NetworkCode: 101, Digits: 11})))
	must(t, m.Set(62, codec.AppendTLV(codec.AppendTLV(nil, codec.Tag62PublicKey, pub), codec.Tag62Proof, proof)))
	return m, priv
}

// activated takes in an activation response: on 00 the TID, MID and clear TMK. It returns the
// response code.
func (d *device) activated(resp *codec.Message, priv *rsa.PrivateKey) string {
	t := d.e.t
	t.Helper()
	rc := string(resp.Field(39))
	if rc != "00" {
		return rc
	}
	var tk, kc []byte
	it := codec.NewTLVIter(resp.Field(62), 3)
	for it.Next() {
		switch string(it.Tag()) {
		case codec.Tag62TMK:
			tk = it.Value()
		case codec.Tag62KCV:
			kc = it.Value()
		}
	}
	var err error
	if d.tmk, err = termcrypto.OpenTMK(priv, tk, hsm.KCV(kc)); err != nil {
		t.Fatalf("activation TMK: %v", err)
	}
	d.tid, d.mid = string(resp.Field(41)), string(resp.Field(42))
	return rc
}

// signOnMsg builds a 0800/003 sign-on with operator op and SN sn; random replaces the STAN as
// the random factor and badCipher spoils the SN cipher.
func (d *device) signOnMsg(op, sn string, random []byte, badCipher bool) *codec.Message {
	t := d.e.t
	stan := d.nextSTAN()
	m := d.begin("0800", stan)
	d.ids(m)
	if random == nil {
		random = fmt.Appendf(nil, "%06d", stan)
	}
	d.set59(m, sn, random, badCipher)
	must(t, m.Set(60, codec.AppendField60(nil, codec.Field60{Batch: d.batch, NetworkCode: 3, Digits: 11})))
	must(t, m.SetString(63, op))
	return m
}

func (d *device) installKeys(resp *codec.Message) {
	t := d.e.t
	t.Helper()
	k, err := termcrypto.DecodeSignOn(d.tmk, hsm.SignOn003, resp.Field(62))
	if err != nil {
		t.Fatalf("sign-on keys: %v", err)
	}
	d.keys = k
	f60, err := codec.ParseField60(resp.Field(60))
	if err != nil {
		t.Fatalf("sign-on 60: %v", err)
	}
	d.batch = f60.Batch
}

func (d *device) begin(mti string, stan uint32) *codec.Message {
	m := codec.NewMessage(codec.Terminal)
	must(d.e.t, m.SetMTI(mti))
	must(d.e.t, m.SetNumber(11, uint64(stan)))
	return m
}

func (d *device) ids(m *codec.Message) {
	must(d.e.t, m.SetString(41, d.tid))
	must(d.e.t, m.SetString(42, d.mid))
}

func (d *device) set59(m *codec.Message, sn string, random []byte, badCipher bool) {
	c, err := termcrypto.SNCipher(d.tmk, []byte(sn), random)
	must(d.e.t, err)
	if badCipher {
		c = [8]byte{'0', '0', '0', '0', '0', '0', '0', '0'}
	}
	must(d.e.t, m.Set(59, codec.AppendTerminalInfo(nil, codec.TerminalInfo{DeviceType: []byte("02"), SN: []byte(sn),
		RandomFactor: random, SNCipher: c[:], AppVersion: []byte("TSIM0001")})))
}

// purchase builds a MACed 0200 purchase of amount fen with pan (and a PIN block when pin is
// set), field 59 authenticating the device.
func (d *device) purchase(stan uint32, pan string, amount int64, pin string) *codec.Message {
	t := d.e.t
	m := d.begin("0200", stan)
	must(t, m.SetString(2, pan))
	must(t, m.SetString(3, "000000"))
	must(t, m.SetNumber(4, uint64(amount)))
	entry := "012"
	if pin != "" {
		entry = "011"
	}
	must(t, m.SetString(22, entry))
	must(t, m.SetString(25, "00"))
	if pin != "" {
		must(t, m.SetString(26, "12"))
	}
	d.ids(m)
	must(t, m.SetString(49, "156"))
	if pin != "" {
		block, err := termcrypto.EncryptPINBlock(d.keys.PIK, pin, []byte(pan))
		must(t, err)
		must(t, m.Set(52, block[:]))
		must(t, m.SetString(53, "2600000000000000"))
	}
	d.set59(m, d.sn, []byte(pan[len(pan)-6:]), false)
	must(t, m.Set(60, codec.AppendField60(nil, codec.Field60{MessageType: 22, Batch: d.batch, Digits: 11})))
	var zero [8]byte
	must(t, m.Set(64, zero[:]))
	return m
}

// frame packs m; when m carries 64 its MAC is computed with the device's MAK.
func (d *device) frame(m *codec.Message) []byte {
	t := d.e.t
	f, err := codec.AppendFrame(nil, devTPDU, devHeader, m)
	must(t, err)
	if m.Has(64) {
		body := f[2+codec.TPDULen+codec.HeaderLen:]
		mac, err := termcrypto.MAC(d.keys.MAK, hsm.MACPOSECB, body[:len(body)-8])
		must(t, err)
		copy(body[len(body)-8:], mac[:])
	}
	return f
}

// send writes frame and returns the response, unpacked, and its raw frame. A response MAC is
// verified when present.
func (d *device) send(frame []byte) (*codec.Message, []byte) {
	t := d.e.t
	t.Helper()
	raw, err := d.link.SendRaw(d.e.ctx, frame)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return d.parse(raw), raw
}

func (d *device) parse(raw []byte) *codec.Message {
	t := d.e.t
	t.Helper()
	f, err := codec.ParseFrame(raw[2:])
	if err != nil {
		t.Fatalf("response frame: %v", err)
	}
	resp := codec.NewMessage(codec.Terminal)
	if err := resp.Unpack(f.Body); err != nil {
		t.Fatalf("response: %v", err)
	}
	if off := resp.MACOffset(); off >= 0 && d.keys.MAK != nil {
		want, err := termcrypto.MAC(d.keys.MAK, hsm.MACPOSECB, f.Body[:off])
		if err != nil || !bytes.Equal(want[:], resp.Field(64)) {
			t.Errorf("response %s/%s: MAC does not verify", resp.MTI(), resp.Field(39))
		}
	}
	return resp
}

func (d *device) exchange(m *codec.Message) (*codec.Message, []byte) {
	d.e.t.Helper()
	return d.send(d.frame(m))
}

// code exchanges m and returns field 39.
func (d *device) code(m *codec.Message) string {
	d.e.t.Helper()
	resp, _ := d.exchange(m)
	return string(resp.Field(39))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// routesFile writes a routing table like the built-in one with every route timing out after
// timeout and a breaker that does not open in a test's lifetime, and returns its path.
func routesFile(t *testing.T, timeout time.Duration) string {
	t.Helper()
	y := fmt.Sprintf(`default_route: cup
routes:
  - {name: cup, timeout: %[1]s, breaker_failures: 100000}
  - {name: visa, timeout: %[1]s, breaker_failures: 100000}
  - {name: onus, timeout: %[1]s, breaker_failures: 100000}
bins:
  - {prefix: "4", route: visa, kind: credit}
  - {from: "620000", to: "622999", route: cup, kind: debit}
  - {from: "623000", to: "623099", route: onus, kind: debit}
`, timeout)
	path := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// eventually polls cond every 20 ms until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) ledger() issuersim.RouteLedger { return e.node.Simulator.Ledger().Total() }

// reversalDepth is the number of reversals queued upstream and not yet acknowledged.
func (e *env) reversalDepth() uint64 {
	e.t.Helper()
	st, err := e.node.Forwarder.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("forwarder stats: %v", err)
	}
	return st.Depth
}

// declined checks a termsim result's code and, for a decline, that the error says so.
func declined(t *testing.T, what string, res termsim.Result, err error, code string) {
	t.Helper()
	expect(t, what, res, err, code)
	if code != "00" && !errors.Is(err, termsim.ErrDeclined) {
		t.Fatalf("%s: error %v, want ErrDeclined", what, err)
	}
}
