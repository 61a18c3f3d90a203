package app_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
)

// fakeClock is the gateway's injected clock: real time plus what the test advanced.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// securityEvents counts the node's recent security events of reason for tid.
func (e *env) securityEvents(tid, reason string) int {
	n := 0
	for _, ev := range e.node.Processor.SecurityEvents(256) {
		if ev.Terminal == tid && ev.Reason == reason {
			n++
		}
	}
	return n
}

// The replay probe of issue 12: a sign-on captured off the wire and sent again never rotates
// the terminal's keys — within the retransmission window it is answered with the recorded
// 0810 byte for byte, after it (a STAN that no longer follows the last sign-on's) it is
// refused with A7 — and the genuine terminal goes on transacting with the keys it holds.
func testSignOnReplay(t *testing.T, redisURL string) {
	e := startNode(t, redisURL, nil)
	d := e.device("TERMR001", "000002021000200001")
	purchase := func(what string) {
		t.Helper()
		if rc := d.code(d.purchase(d.nextSTAN(), testPAN, 1234, "")); rc != "00" {
			t.Fatalf("purchase %s: %s, want 00", what, rc)
		}
	}
	// The capture: a genuine sign-on and its answer.
	captured := d.frame(d.signOnMsg("01 ", d.sn, nil, false))
	resp, answer := d.send(captured)
	if string(resp.Field(39)) != "00" {
		t.Fatalf("sign-on: %s", resp.Field(39))
	}
	d.installKeys(resp)
	purchase("after the sign-on")
	term, err := e.node.Registry.GetTerminal(e.ctx, d.tid)
	if err != nil {
		t.Fatal(err)
	}

	// Replayed at once: the recorded answer, nothing rotated.
	if _, again := d.send(captured); !bytes.Equal(again, answer) {
		t.Errorf("replayed sign-on: answer differs from the recorded one")
	}
	if now, _ := e.node.Registry.GetTerminal(e.ctx, d.tid); now.KeyGeneration != term.KeyGeneration {
		t.Errorf("replayed sign-on rotated the keys: generation %d → %d", term.KeyGeneration, now.KeyGeneration)
	}
	purchase("after the replay")

	// The terminal signs on again; the capture replayed later still rotates nothing.
	resp, _ = d.exchange(d.signOnMsg("01 ", d.sn, nil, false))
	if string(resp.Field(39)) != "00" {
		t.Fatalf("second sign-on: %s", resp.Field(39))
	}
	d.installKeys(resp)
	term, _ = e.node.Registry.GetTerminal(e.ctx, d.tid)
	if _, again := d.send(captured); !bytes.Equal(again, answer) {
		t.Errorf("old sign-on replayed: answer differs from its recorded one")
	}
	purchase("after the old sign-on was replayed")

	// A captured sign-on whose retransmission record is gone (an earlier STAN than the last
	// sign-on's, never answered here): refused, a security event, nothing rotated.
	last := d.stan
	d.stan -= 3 // an earlier STAN than the last sign-on's (that of a purchase before it)
	stale := d.signOnMsg("01 ", d.sn, nil, false)
	d.stan = last
	if rc := string(d.parse(mustSend(t, d, stale)).Field(39)); rc != "A7" {
		t.Errorf("stale sign-on: %s, want A7", rc)
	}
	if now, _ := e.node.Registry.GetTerminal(e.ctx, d.tid); now.KeyGeneration != term.KeyGeneration || !now.Keys.MAK.Equal(term.Keys.MAK) {
		t.Errorf("stale sign-on rotated the keys: generation %d → %d", term.KeyGeneration, now.KeyGeneration)
	}
	if n := e.securityEvents(d.tid, "replayed_sign_on"); n != 1 {
		t.Errorf("security events replayed_sign_on: %d, want 1", n)
	}
	purchase("after the stale sign-on")
}

func mustSend(t *testing.T, d *device, m *codec.Message) []byte {
	t.Helper()
	_, raw := d.exchange(m)
	return raw
}

func TestSignOnReplayMemory(t *testing.T) { testSignOnReplay(t, "") }

func TestSignOnReplayRedis(t *testing.T) { testSignOnReplay(t, redistest.Start(t).URL()) }

// A legacy terminal (operator-enabled) signs on without field 59; nothing authenticates such a
// sign-on, so a second rotation within LegacySignOnInterval is refused — its retransmission
// is still answered — and a terminal not marked legacy is never let in without 59.
func TestLegacySignOnRateLimited(t *testing.T) {
	clock := &fakeClock{}
	e := startNode(t, "", func(c *app.Config) { c.Processor.Now = clock.Now })
	d := e.device("TERML001", "000002021000200002")
	noSN := func() *codec.Message {
		m := d.signOnMsg("01 ", d.sn, nil, false)
		m.Unset(59)
		return m
	}
	if rc := d.code(noSN()); rc != "A7" {
		t.Fatalf("sign-on without 59 of a terminal not marked legacy: %s, want A7", rc)
	}
	term, err := e.node.Registry.GetTerminal(e.ctx, d.tid)
	if err != nil {
		t.Fatal(err)
	}
	term.Legacy = true
	if _, err := e.node.Registry.UpdateTerminal(e.ctx, term); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // the device's own sign-on is over a minute old
	first := d.frame(noSN())
	resp, answer := d.send(first)
	if string(resp.Field(39)) != "00" {
		t.Fatalf("legacy sign-on: %s", resp.Field(39))
	}
	d.installKeys(resp)
	if _, again := d.send(first); !bytes.Equal(again, answer) {
		t.Errorf("retransmitted legacy sign-on: not the recorded answer")
	}
	before, _ := e.node.Registry.GetTerminal(e.ctx, d.tid)
	clock.Advance(30 * time.Second)
	if rc := d.code(noSN()); rc != "A7" {
		t.Errorf("second legacy sign-on after 30 s: %s, want A7", rc)
	}
	if now, _ := e.node.Registry.GetTerminal(e.ctx, d.tid); now.KeyGeneration != before.KeyGeneration {
		t.Errorf("rate-limited legacy sign-on rotated the keys")
	}
	if n := e.securityEvents(d.tid, "legacy_sign_on_rate"); n != 1 {
		t.Errorf("security events legacy_sign_on_rate: %d, want 1", n)
	}
	if rc := d.code(d.purchase(d.nextSTAN(), testPAN, 1234, "")); rc != "00" {
		t.Errorf("purchase with the keys of the first legacy sign-on: %s", rc)
	}
	clock.Advance(31 * time.Second)
	resp, _ = d.exchange(noSN())
	if string(resp.Field(39)) != "00" {
		t.Fatalf("legacy sign-on a minute later: %s", resp.Field(39))
	}
}

// Guesses of an activation code sent in parallel are counted before they are checked: of 12
// wrong proofs racing on 12 connections exactly FreeProofs+1 reach the security module, the
// rest find the SN delayed — and no failure to count lets a proof through unchecked.
func TestActivationGuessesInParallel(t *testing.T) {
	e := startNode(t, "", nil)
	const sn, tid = "000002021000200003", "TERMR003"
	e.provision(tid, sn)
	const racers = 12
	codes := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		term := e.terminal(sn, nil)
		wrong, err := e.node.HSM.NewActivationCode(e.ctx)
		must(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := term.Activate(e.ctx, wrong.Code, nil)
			codes[i] = res.Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != "A7" {
			t.Errorf("racer %d: %q, want A7", i, c)
		}
	}
	checked, delayed := e.securityEvents(tid, "activation_proof"), e.securityEvents(tid, "activation_delayed")
	if checked != terminal.FreeProofs+1 || delayed != racers-checked {
		t.Errorf("proofs checked %d (want %d), delayed %d (want %d)", checked, terminal.FreeProofs+1, delayed, racers-terminal.FreeProofs-1)
	}
}

// An activation the terminal did not hear the answer to, sent again, gets the recorded answer
// (the TMK under the terminal's own public key) and changes nothing: the terminal is not left
// with a spent code and no TMK, and a replay installs no other key.
func TestActivationRetransmission(t *testing.T) {
	e := startNode(t, "", nil)
	const tid, sn = "TERMR004", "000002021000200004"
	code := e.provision(tid, sn)
	d := &device{e: e, sn: sn, link: e.terminal(sn, nil), batch: 1}
	m, priv := d.activationMsg(code)
	frame := d.frame(m)
	resp, answer := d.send(frame)
	if rc := d.activated(resp, priv); rc != "00" {
		t.Fatalf("activation: %s", rc)
	}
	before, err := e.node.Registry.GetTerminal(e.ctx, tid)
	if err != nil {
		t.Fatal(err)
	}
	if _, again := d.send(frame); !bytes.Equal(again, answer) {
		t.Errorf("retransmitted activation: not the recorded answer")
	}
	after, _ := e.node.Registry.GetTerminal(e.ctx, tid)
	if !after.Keys.TMK.Equal(before.Keys.TMK) || after.Revision != before.Revision {
		t.Errorf("retransmitted activation changed the terminal (revision %d → %d)", before.Revision, after.Revision)
	}
	// The terminal goes on with the TMK it opened.
	resp, _ = d.exchange(d.signOnMsg("01 ", d.sn, nil, false))
	if string(resp.Field(39)) != "00" {
		t.Fatalf("sign-on after the retransmitted activation: %s", resp.Field(39))
	}
	d.installKeys(resp)
	if rc := d.code(d.purchase(d.nextSTAN(), testPAN, 1234, "")); rc != "00" {
		t.Errorf("purchase: %s", rc)
	}
}
