package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// racers is how many goroutines race in the concurrency cases (gateway nodes, in effect).
const racers = 16

// testConcurrentActivate: many nodes race to spend one activation code; exactly one wins and
// its TMK is the one stored.
func testConcurrentActivate(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, sn1)
	v := key(hsm.KeyACV, 0x11, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v, 0); err != nil {
		t.Fatal(err)
	}
	tmks := make([]hsm.WrappedKey, racers)
	for i := range tmks {
		tmks[i] = key(hsm.KeyTMK, byte(i+1), 16)
	}
	errs := race(racers, func(i int) error {
		_, err := e.Activate(e.ctx, sn1, v, tmks[i])
		return err
	})
	for _, err := range errs {
		noSecret(t, "Activate", err, tmks...)
	}
	winner := oneWinner(t, "Activate", errs, terminal.ErrCodeSpent)
	got, err := e.GetTerminal(e.ctx, tid1)
	if err != nil || !got.Keys.TMK.Equal(tmks[winner]) || got.Status != terminal.StatusActive {
		t.Errorf("stored TMK is not the winner's (%v, %v)", got.Keys.TMK, err)
	}
}

// testConcurrentClaims: proofs claimed in parallel are each counted once: exactly
// FreeProofs+1 get through (the last of them sets the delay) and every other racer finds the
// SN delayed — parallel guesses cannot outrun the count.
func testConcurrentClaims(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, sn1)
	if _, err := e.IssueActivationCode(e.ctx, tid1, key(hsm.KeyACV, 0x12, 32), 0); err != nil {
		t.Fatal(err)
	}
	counts := make([]int, racers)
	errs := race(racers, func(i int) error {
		c, err := e.ClaimProof(e.ctx, sn1)
		counts[i] = c.WrongProofs
		return err
	})
	var counted []int
	for i, err := range errs {
		switch {
		case err == nil:
			counted = append(counted, counts[i])
		case errors.Is(err, terminal.ErrLocked):
		default:
			t.Errorf("ClaimProof racer %d: %v", i, err)
		}
	}
	slices.Sort(counted)
	want := make([]int, 0, terminal.FreeProofs+1)
	for n := 1; n <= terminal.FreeProofs+1; n++ {
		want = append(want, n)
	}
	if fmt.Sprint(counted) != fmt.Sprint(want) {
		t.Errorf("ClaimProof: counts of the claims let through %v, want %v", counted, want)
	}
	c, err := e.GetActivationCode(e.ctx, sn1)
	wantErr(t, "GetActivationCode after the race", err, terminal.ErrLocked)
	if c, err = e.UnlockActivation(e.ctx, tid1); err != nil || c.WrongProofs != 0 {
		t.Errorf("unlock after the race: %+v, %v", c, err)
	}
}

// testConcurrentBindSN: many terminals race to bind one SN; exactly one gets it and the index
// agrees with it.
func testConcurrentBindSN(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	for i := range racers {
		e.mustTerminal(t, tidN(i), mid1, "")
	}
	errs := race(racers, func(i int) error {
		_, err := e.BindSN(e.ctx, tidN(i), sn1)
		return err
	})
	winner := oneWinner(t, "BindSN", errs, terminal.ErrSNBound)
	got, err := e.GetTerminalBySN(e.ctx, sn1)
	if err != nil || got.TID != tidN(winner) {
		t.Errorf("GetTerminalBySN: %s, %v; want %s", got.TID, err, tidN(winner))
	}
	for i := range racers {
		x, _ := e.GetTerminal(e.ctx, tidN(i))
		if (x.SN == sn1) != (i == winner) {
			t.Errorf("terminal %s has SN %q (winner %s)", x.TID, x.SN, tidN(winner))
		}
	}
}

// testConcurrentRotateKeys: nodes that read the same generation race to rotate; one wins.
func testConcurrentRotateKeys(t *testing.T, e *env) {
	e.activated(t, tid1, mid1, sn1)
	keys := make([]terminal.Keys, racers)
	for i := range keys {
		keys[i] = workingKeys(byte(i * 8))
	}
	errs := race(racers, func(i int) error {
		_, err := e.RotateKeys(e.ctx, tid1, 0, keys[i], terminal.SignOnSeq(1, uint32(i+1)))
		return err
	})
	winner := oneWinner(t, "RotateKeys", errs, terminal.ErrConflict)
	got, _ := e.GetTerminal(e.ctx, tid1)
	if got.KeyGeneration != 1 || !got.Keys.MAK.Equal(keys[winner].MAK) || !got.Keys.PIK.Equal(keys[winner].PIK) {
		t.Errorf("after race: generation %d, keys of winner stored %v", got.KeyGeneration, got.Keys.MAK.Equal(keys[winner].MAK))
	}
}

// testConcurrentAdvanceBatch: a settlement retried on many nodes advances the batch once.
func testConcurrentAdvanceBatch(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, "")
	got := make([]terminal.Batch, racers)
	errs := race(racers, func(i int) error {
		var err error
		got[i], err = e.AdvanceBatch(e.ctx, tid1, 1)
		return err
	})
	wins := 0
	for i, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, terminal.ErrConflict) {
			t.Errorf("AdvanceBatch racer %d: %v", i, err)
		}
		if got[i] != 2 {
			t.Errorf("AdvanceBatch racer %d: batch %v, want 000002", i, got[i])
		}
	}
	if wins != 1 {
		t.Errorf("AdvanceBatch: %d winners, want 1", wins)
	}
	if x, _ := e.GetTerminal(e.ctx, tid1); x.Batch != 2 {
		t.Errorf("batch after race: %v, want 000002", x.Batch)
	}
}

// oneWinner checks that exactly one racer succeeded and every other one failed with loser,
// and returns the winner's index.
func oneWinner(t *testing.T, op string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("%s: racers %d and %d both succeeded", op, winner, i)
			}
			winner = i
		case !errors.Is(err, loser):
			t.Errorf("%s racer %d: got %v, want %v", op, i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer succeeded", op)
	}
	return winner
}
