package termsim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
)

// peer is a scripted acquirer front end for the tests: it listens on loopback, reads frames
// with codec.NewReader and answers as terminal-flows.md says posgate does, doing every
// cryptographic check with the real gateway-side module (hsm.Software): activation proof, SN
// cipher, request MACs, PIN translation and verification, track decryption, response MACs. It
// keeps its own ledger of what it approved, so settlement totals and follow-up references are
// checked against an independent record, not against the simulator's own book.
type peer struct {
	t   *testing.T
	ln  net.Listener
	mod *hsm.Software
	zpk hsm.WrappedKey
	alg hsm.MACAlgorithm
	wg  sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	// The one terminal the peer knows.
	sn, tid, mid string
	acv          hsm.WrappedKey
	tmk          hsm.WrappedKey
	pik, mak     hsm.WrappedKey
	tdk          hsm.WrappedKey
	pin          string // the card's PIN, as the issuer knows it
	batch        uint32 // batch a sign-on answer assigns
	rrn          int
	ledger       map[[2]uint32]*entry // (batch, STAN) → request the peer answered 00
	reqs         []captured
	uploads      []codec.UploadRecord
	uploadEnd    []int // counts of the closing 0320s
	clearTracks  []string
	accepted     int

	// Scripting, set by tests under mu (before the exchange they affect).
	drop        func(m *codec.Message) bool // process the request but never send the answer
	corruptMAC  func(m *codec.Message) bool // answer with a wrong field 64
	requirement func(m *codec.Message) byte // processing requirement of the answer
	closeAfter  func(m *codec.Message) bool // close the connection after answering
	unbalanced  bool                        // answer every 0500 with flag 2
	closed      chan struct{}               // signalled when closeAfter closed a connection
}

// entry is a financial request the peer approved.
type entry struct {
	msgType       uint8 // 60.1
	pan           string
	amount        int64
	rrn, auth     string
	reversed      bool
	voided        bool
	completedUpTo int64 // pre-auth: amount completed
	refunded      int64
	date          string // field 13 answered
}

// captured is one request frame as the peer received it.
type captured struct {
	tpdu   codec.TPDU
	header codec.Header
	body   []byte
	msg    *codec.Message
}

func (c captured) mti() string { return string(c.msg.MTI()) }

func newPeer(t *testing.T, alg hsm.MACAlgorithm) *peer {
	t.Helper()
	mod, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	zpk, err := mod.GenerateKey(ctx, hsm.KeyZPK)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, ln: ln, mod: mod, zpk: zpk, alg: alg,
		sn: "000024039991810100000206", tid: "10000019", mid: "850100082410002", pin: "123456",
		batch: 7, ledger: map[[2]uint32]*entry{}, closed: make(chan struct{}, 16)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *peer) addr() string { return p.ln.Addr().String() }

// newCode registers a fresh activation code for the peer's terminal and returns it.
func (p *peer) newCode() string {
	p.t.Helper()
	ac, err := p.mod.NewActivationCode(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.acv = ac.Verifier
	p.mu.Unlock()
	return ac.Code
}

func (p *peer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.accepted++
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *peer) serve(c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	rd := codec.NewReader(c, 0)
	for {
		f, err := rd.Next()
		if err != nil { // end of stream, or a malformed frame: close, as the gateway does
			return
		}
		body := append([]byte(nil), f.Body...)
		m := codec.NewMessage(codec.Terminal)
		if err := m.Unpack(body); err != nil {
			p.t.Errorf("peer: request does not decode: %v", err)
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, captured{tpdu: f.TPDU, header: f.Header, body: body, msg: m})
		p.mu.Unlock()
		// The request is processed even when its answer is then dropped: the answer is lost
		// on the way back, as in the field.
		resp, req := p.handle(m, body)
		p.mu.Lock()
		drop := p.drop != nil && p.drop(m)
		if p.requirement != nil {
			req = p.requirement(m)
		}
		closeAfter := p.closeAfter != nil && p.closeAfter(m)
		p.mu.Unlock()
		if drop {
			continue
		}
		frame, err := codec.AppendFrame(nil, f.TPDU.Swap(), f.Header.WithRequirement(req), resp)
		if err != nil {
			p.t.Errorf("peer: response does not pack: %v", err)
			return
		}
		if _, err := c.Write(frame); err != nil {
			return
		}
		if closeAfter {
			c.Close()
			p.closed <- struct{}{}
			return
		}
	}
}

// handle answers one request; it returns the response and the processing requirement.
func (p *peer) handle(m *codec.Message, body []byte) (*codec.Message, byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := codec.NewMessage(codec.Terminal)
	mti := string(m.MTI())
	respMTI := []byte(mti)
	respMTI[2]++
	must(r.SetMTI(string(respMTI)))
	for _, n := range []int{2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60, 61} {
		if v := m.Field(n); v != nil {
			must(r.Set(n, v))
		}
	}
	must(r.SetString(12, "101530"))
	must(r.SetString(13, "1122"))
	f60, err := codec.ParseField60(m.Field(60))
	if err != nil {
		return p.answer(r, "30", false), 0
	}
	switch mti {
	case "0800":
		switch f60.NetworkCode {
		case 101:
			return p.activate(m, r), 0
		case 1, 3, 4:
			return p.signOn(m, r, f60), 0
		case 360:
			tlv := codec.AppendTLV(nil, "MN", []byte("TEST MERCHANT"))
			tlv = codec.AppendTLV(tlv, "TO", []byte("007"))
			tlv = codec.AppendTLV(tlv, "RT", []byte("2"))
			must(r.Set(62, tlv))
			return p.answer(r, "00", false), 0
		}
		return p.answer(r, "40", false), 0
	case "0820":
		return p.answer(r, "00", false), 0
	}
	// Everything else is MACed.
	if err := p.mod.VerifyMAC(context.Background(), p.mak, p.alg, body[:m.MACOffset()], m.Field(64)); err != nil || m.MACOffset() < 0 {
		return p.answer(r, "A0", false), 0
	}
	switch mti {
	case "0100", "0200", "0220":
		return p.financial(m, r, f60), 0
	case "0400":
		if e := p.ledger[[2]uint32{f60.Batch, stanOf(m)}]; e != nil {
			e.reversed = true
		}
		return p.answer(r, "00", true), 0
	case "0500":
		return p.settle(m, r, f60), 0
	case "0320":
		switch f60.NetworkCode {
		case 201:
			u, err := codec.ParseBatchUpload(m.Field(48))
			if err != nil {
				return p.answer(r, "30", false), 0
			}
			p.uploads = append(p.uploads, u.Records[:u.Count]...)
		case 202, 207:
			n, err := codec.ParseBatchEnd(m.Field(48))
			if err != nil {
				return p.answer(r, "30", false), 0
			}
			p.uploadEnd = append(p.uploadEnd, n)
		}
		return p.answer(r, "00", true), 0
	}
	return p.answer(r, "40", false), 0
}

// answer sets 39 and, when mac is set and the code is not one that goes unMACed, field 64.
func (p *peer) answer(r *codec.Message, code string, mac bool) *codec.Message {
	must(r.SetString(39, code))
	if !mac {
		return r
	}
	for _, c := range noMACCodes {
		if c == code {
			return r
		}
	}
	var zero [8]byte
	must(r.Set(64, zero[:]))
	body, err := r.Pack(nil)
	must(err)
	sum, err := p.mod.GenerateMAC(context.Background(), p.mak, p.alg, body[:len(body)-8])
	must(err)
	if p.corruptMAC != nil && p.corruptMAC(r) {
		sum[0] ^= 0x01
	}
	must(r.Set(64, sum[:]))
	return r
}

func (p *peer) activate(m, r *codec.Message) *codec.Message {
	ti, err := codec.ParseTerminalInfo(m.Field(59))
	if err != nil || string(ti.SN) != p.sn || p.acv.IsZero() {
		return p.answer(r, "97", false)
	}
	var pk, pf []byte
	it := codec.NewTLVIter(m.Field(62), 3)
	for it.Next() {
		switch string(it.Tag()) {
		case codec.Tag62PublicKey:
			pk = it.Value()
		case codec.Tag62Proof:
			pf = it.Value()
		}
	}
	act, err := p.mod.Activate(context.Background(), p.acv, ti.SN, pk, pf)
	if err != nil {
		return p.answer(r, "A7", false)
	}
	p.tmk = act.TMK
	p.acv = hsm.WrappedKey{} // spent
	must(r.SetString(41, p.tid))
	must(r.SetString(42, p.mid))
	tlv := codec.AppendTLV(nil, codec.Tag62TMK, act.EncryptedTMK)
	tlv = codec.AppendTLV(tlv, codec.Tag62KCV, act.KCV[:])
	must(r.Set(62, tlv))
	return p.answer(r, "00", false)
}

func (p *peer) signOn(m, r *codec.Message, f60 codec.Field60) *codec.Message {
	if string(m.Field(41)) != p.tid || string(m.Field(42)) != p.mid || p.tmk.IsZero() {
		return p.answer(r, "97", false)
	}
	if m.Has(59) {
		ti, err := codec.ParseTerminalInfo(m.Field(59))
		if err != nil || string(ti.SN) != p.sn || !bytes.Equal(ti.RandomFactor, m.Field(11)) {
			return p.answer(r, "A7", false)
		}
		if err := p.mod.CheckSN(context.Background(), p.tmk, ti.SN, ti.RandomFactor, ti.SNCipher); err != nil {
			return p.answer(r, "A7", false)
		}
	}
	if op := string(m.Field(63)); op != "01 " && op != "01" {
		return p.answer(r, "05", false)
	}
	layout, err := hsm.ParseSignOnLayout(fmt.Sprintf("%03d", f60.NetworkCode))
	must(err)
	keys, err := p.mod.SignOn(context.Background(), p.tmk, layout)
	must(err)
	p.pik, p.mak, p.tdk = keys.PIK, keys.MAK, keys.TDK
	must(r.Set(60, codec.AppendField60(nil, codec.Field60{Batch: p.batch, NetworkCode: f60.NetworkCode, Digits: 11})))
	must(r.SetString(32, "48021000"))
	must(r.SetString(37, "000000000000"))
	must(r.Set(62, keys.Field62))
	return p.answer(r, "00", false)
}

func stanOf(m *codec.Message) uint32 {
	n, _ := m.Number(11)
	return uint32(n)
}

func (p *peer) financial(m, r *codec.Message, f60 codec.Field60) *codec.Message {
	ctx := context.Background()
	if string(m.Field(41)) != p.tid || string(m.Field(42)) != p.mid {
		return p.answer(r, "97", false)
	}
	pan := string(m.Field(2))
	if tr := m.Field(35); tr != nil {
		clearTrack := string(tr)
		if string(m.Field(53)) == "2610000000000000" || string(m.Field(53)) == "0610000000000000" {
			packed := codec.AppendPackedBCD(nil, tr)
			dec, err := p.mod.DecryptTrack(ctx, nil, p.tdk, packed)
			if err != nil {
				return p.answer(r, "99", false)
			}
			un, _ := codec.AppendUnpackedBCD(nil, dec, len(tr))
			clearTrack = string(un)
		}
		p.clearTracks = append(p.clearTracks, clearTrack)
		trackPAN, _, _ := bytes.Cut([]byte(clearTrack), []byte("D"))
		if pan == "" {
			pan = string(trackPAN)
		} else if pan != string(trackPAN) {
			return p.answer(r, "14", true)
		}
	}
	amount, _ := m.Number(4)
	if m.Has(59) {
		ti, err := codec.ParseTerminalInfo(m.Field(59))
		if err != nil || string(ti.SN) != p.sn || len(pan) < 6 || string(ti.RandomFactor) != pan[len(pan)-6:] {
			return p.answer(r, "A7", true)
		}
		if err := p.mod.CheckSN(ctx, p.tmk, ti.SN, ti.RandomFactor, ti.SNCipher); err != nil {
			return p.answer(r, "A7", true)
		}
	} else if f60.MessageType == 1 || f60.MessageType == 22 || f60.MessageType == 10 {
		return p.answer(r, "A7", true)
	}
	if block := m.Field(52); block != nil {
		zb, err := p.mod.TranslatePIN(ctx, p.pik, p.zpk, block, []byte(pan))
		if err != nil {
			return p.answer(r, "99", false)
		}
		ok, err := p.mod.VerifyPIN(ctx, p.zpk, zb[:], []byte(pan), p.pin)
		if err != nil || !ok {
			return p.answer(r, "55", true)
		}
	}
	// Follow-ups: the original by TID + 61.1 + 61.2, with 37/38 matching.
	var orig *entry
	if v := m.Field(61); v != nil {
		f61, err := codec.ParseField61(v)
		if err != nil {
			return p.answer(r, "30", true)
		}
		orig = p.ledger[[2]uint32{f61.Batch, f61.STAN}]
		if orig == nil || orig.reversed {
			return p.answer(r, "25", true)
		}
		if rrn := m.Field(37); rrn != nil && string(rrn) != orig.rrn {
			return p.answer(r, "25", true)
		}
		if auth := m.Field(38); auth != nil && string(auth) != orig.auth {
			return p.answer(r, "25", true)
		}
		if orig.pan != pan {
			return p.answer(r, "14", true)
		}
		if f61.Digits >= 16 && fmt.Sprintf("%04d", f61.Date) != orig.date {
			return p.answer(r, "25", true)
		}
	}
	switch f60.MessageType {
	case 23, 21, 11: // voids: whole amount, once
		if orig.voided || int64(amount) != orig.amount {
			return p.answer(r, "22", true)
		}
		orig.voided = true
	case 25:
		if orig.refunded+int64(amount) > orig.amount {
			return p.answer(r, "13", true)
		}
		orig.refunded += int64(amount)
	case 20:
		if orig.msgType != 10 || orig.voided || int64(amount) > orig.amount {
			return p.answer(r, "13", true)
		}
		orig.completedUpTo = int64(amount)
	}
	p.rrn++
	rrn := fmt.Sprintf("%012d", p.rrn)
	auth := fmt.Sprintf("A%05d", p.rrn)
	must(r.SetString(15, "1122"))
	must(r.SetString(32, "48021000"))
	must(r.SetString(37, rrn))
	must(r.SetString(38, auth))
	must(r.SetString(44, "0102000000048021000   "))
	must(r.SetString(63, "CUP"))
	if f60.MessageType == 1 {
		must(r.SetString(54, "1002156C000000012345"))
	} else {
		p.ledger[[2]uint32{f60.Batch, stanOf(m)}] = &entry{msgType: f60.MessageType, pan: pan, amount: int64(amount),
			rrn: rrn, auth: auth, date: "1122"}
	}
	return p.answer(r, "00", true)
}

// totals computes the peer's own settlement totals for a batch from its ledger.
func (p *peer) totals(batch uint32) codec.Totals {
	var t codec.Totals
	for k, e := range p.ledger {
		if k[0] != batch || e.reversed {
			continue
		}
		switch e.msgType {
		case 22, 20:
			t.DebitAmount += e.amount
			t.DebitCount++
		case 23, 21, 25:
			t.CreditAmount += e.amount
			t.CreditCount++
		}
	}
	return t
}

func (p *peer) settle(m, r *codec.Message, f60 codec.Field60) *codec.Message {
	got, err := codec.ParseSettlementTotals(m.Field(48))
	if err != nil {
		return p.answer(r, "30", true)
	}
	want := p.totals(f60.Batch)
	flag := codec.SettleBalanced
	d := got.Domestic
	if p.unbalanced || d.DebitAmount != want.DebitAmount || d.DebitCount != want.DebitCount ||
		d.CreditAmount != want.CreditAmount || d.CreditCount != want.CreditCount {
		flag = codec.SettleNotBalanced
	}
	got.Domestic.Flag, got.Foreign.Flag = flag, codec.SettleBalanced
	v, err := codec.AppendSettlementTotals(nil, got)
	must(err)
	must(r.Set(48, v))
	must(r.SetString(15, "1122"))
	return p.answer(r, "00", true)
}

// requests returns the requests received so far with the given MTI ("" for all).
func (p *peer) requests(mti string) []captured {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []captured
	for _, c := range p.reqs {
		if mti == "" || c.mti() == mti {
			out = append(out, c)
		}
	}
	return out
}

// lastTrack returns the clear track 2 of the last financial request that carried one.
func (p *peer) lastTrack() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.clearTracks) == 0 {
		return ""
	}
	return p.clearTracks[len(p.clearTracks)-1]
}

func (p *peer) script(f func(p *peer)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// field60 decodes field 60 of a captured request.
func field60(t *testing.T, m *codec.Message) codec.Field60 {
	t.Helper()
	f, err := codec.ParseField60(m.Field(60))
	if err != nil {
		t.Fatalf("field 60: %v", err)
	}
	return f
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
