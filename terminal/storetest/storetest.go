// Package storetest is the contract test suite every terminal.Store implementation passes
// (litestream's RunWithReplicaClient pattern): an implementation's test calls Run with a factory
// that returns a fresh, empty store, and every case runs as a subtest against it.
package storetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// Factory returns a new, empty store whose clock is now. It registers the store's cleanup with
// t.Cleanup. Stores made by separate calls must not share records.
type Factory func(t *testing.T, now func() time.Time) terminal.Store

// Clock is a settable clock for stores under test. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at 2025-03-01 08:00:00 UTC.
func NewClock() *Clock { return &Clock{now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Run runs the contract suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"MerchantCreateGet", testMerchantCreateGet},
		{"MerchantValidation", testMerchantValidation},
		{"MerchantUpdateRevision", testMerchantUpdateRevision},
		{"MerchantList", testMerchantList},
		{"TerminalCreateDefaults", testTerminalCreateDefaults},
		{"TerminalCreateErrors", testTerminalCreateErrors},
		{"TerminalValidation", testTerminalValidation},
		{"TerminalCopies", testTerminalCopies},
		{"TerminalUpdate", testTerminalUpdate},
		{"TerminalList", testTerminalList},
		{"SNBinding", testSNBinding},
		{"BlockUnblock", testBlockUnblock},
		{"ActivationIssue", testActivationIssue},
		{"ActivationSpend", testActivationSpend},
		{"ActivationExpiry", testActivationExpiry},
		{"ActivationProofBackoff", testActivationProofBackoff},
		{"RotateKeys", testRotateKeys},
		{"SignOnFreshness", testSignOnFreshness},
		{"AdvanceBatch", testAdvanceBatch},
		{"Seen", testSeen},
		{"ConcurrentActivate", testConcurrentActivate},
		{"ConcurrentClaims", testConcurrentClaims},
		{"ConcurrentBindSN", testConcurrentBindSN},
		{"ConcurrentRotateKeys", testConcurrentRotateKeys},
		{"ConcurrentAdvanceBatch", testConcurrentAdvanceBatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := NewClock()
			e := &env{Store: newStore(t, clock.Now), clock: clock, ctx: context.Background()}
			c.fn(t, e)
		})
	}
}

// env is one case's store and clock.
type env struct {
	terminal.Store
	clock *Clock
	ctx   context.Context
}

// Fixture identifiers.
const (
	mid1 = "898310048161234"
	mid2 = "898310048165678"
	tid1 = "10000001"
	tid2 = "10000002"
	sn1  = "000001024501ABC123"
	sn2  = "000001024501ABC456"
)

// key returns a wrapped key of type kt whose cipher text is n copies of b.
func key(kt hsm.KeyType, b byte, n int) hsm.WrappedKey {
	return hsm.WrappedKey{Type: kt, Cipher: bytes.Repeat([]byte{b}, n), KCV: hsm.KCV{b, b ^ 0xff, b, 0x5a}}
}

func workingKeys(b byte) terminal.Keys {
	return terminal.Keys{PIK: key(hsm.KeyPIK, b, 24), MAK: key(hsm.KeyMAK, b+1, 24), TDK: key(hsm.KeyTDK, b+2, 24)}
}

func merchant(mid string) terminal.Merchant {
	return terminal.Merchant{MID: mid, Name: "上海测试商户 " + mid[len(mid)-4:], MCC: "5411", City: "Shanghai",
		FeePlan: "standard", SettlementAccount: "6222020200112233445"}
}

func (e *env) mustMerchant(t *testing.T, mid string) terminal.Merchant {
	t.Helper()
	m, err := e.CreateMerchant(e.ctx, merchant(mid))
	if err != nil {
		t.Fatalf("CreateMerchant(%s): %v", mid, err)
	}
	return m
}

func (e *env) mustTerminal(t *testing.T, tid, mid, sn string) terminal.Terminal {
	t.Helper()
	got, err := e.CreateTerminal(e.ctx, terminal.Terminal{TID: tid, MID: mid, SN: sn, DeviceType: "02"})
	if err != nil {
		t.Fatalf("CreateTerminal(%s): %v", tid, err)
	}
	return got
}

// activated creates merchant, terminal with sn, issues a code and activates it.
func (e *env) activated(t *testing.T, tid, mid, sn string) terminal.Terminal {
	t.Helper()
	if _, err := e.GetMerchant(e.ctx, mid); errors.Is(err, terminal.ErrNotFound) {
		e.mustMerchant(t, mid)
	}
	e.mustTerminal(t, tid, mid, sn)
	v := key(hsm.KeyACV, 0x11, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid, v, 0); err != nil {
		t.Fatalf("IssueActivationCode: %v", err)
	}
	got, err := e.Activate(e.ctx, sn, v, key(hsm.KeyTMK, 0x22, 16))
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	return got
}

// wantErr fails unless err matches want (errors.Is), and checks that no secret leaks into it.
func wantErr(t *testing.T, what string, err, want error, secrets ...hsm.WrappedKey) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
	noSecret(t, what, err, secrets...)
}

// noSecret fails if the error text holds the cipher text of any of keys, raw or in hex.
func noSecret(t *testing.T, what string, err error, keys ...hsm.WrappedKey) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, k := range keys {
		if len(k.Cipher) == 0 {
			continue
		}
		h := hex.EncodeToString(k.Cipher)
		if strings.Contains(strings.ToLower(msg), h) || strings.Contains(msg, string(k.Cipher)) {
			t.Fatalf("%s: error text holds key material: %q", what, msg)
		}
	}
}

func sameKeys(a, b terminal.Keys) bool {
	return a.TMK.Equal(b.TMK) && a.PIK.Equal(b.PIK) && a.MAK.Equal(b.MAK) && a.TDK.Equal(b.TDK)
}

// race runs fn(i) in n goroutines started together and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// tidN returns the n-th fixture TID.
func tidN(n int) string { return fmt.Sprintf("2%07d", n) }
