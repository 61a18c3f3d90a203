package app_test

import (
	"testing"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/loadtest/termsim"
)

// An operator's forced re-sign-on and target software version reach the terminal in the response
// header's processing requirement (terminal protocol §2): 3 makes it sign on again, after which
// the requirement clears; 6 tells it a software update is wanted.
func TestProcessingRequirement(t *testing.T) {
	checkNoLeak(t)
	e := startNode(t, "", nil)
	term := e.ready(testTID, testSN, nil)
	reg := e.node.Registry

	res, err := term.Purchase(e.ctx, card(), 100)
	expect(t, "purchase", res, err, "00")
	if res.Requirement != codec.RequireNothing {
		t.Fatalf("requirement %d before any operator action", res.Requirement)
	}

	tm, err := reg.GetTerminal(e.ctx, testTID)
	if err != nil {
		t.Fatal(err)
	}
	tm.ForceSignOn = true
	if _, err := reg.UpdateTerminal(e.ctx, tm); err != nil {
		t.Fatal(err)
	}
	res, err = term.Purchase(e.ctx, card(), 101)
	expect(t, "purchase after a forced re-sign-on", res, err, "00")
	if res.Requirement != codec.RequireSignOn || !term.SignOnWanted() {
		t.Fatalf("requirement %d, sign-on wanted %v; want 3", res.Requirement, term.SignOnWanted())
	}
	// The terminal signs on before its next transaction; the registry clears the flag.
	res, err = term.Purchase(e.ctx, card(), 102)
	expect(t, "purchase after signing on again", res, err, "00")
	if res.Requirement != codec.RequireNothing || term.SignOnWanted() {
		t.Fatalf("after re-sign-on: requirement %d", res.Requirement)
	}
	if tm, _ = reg.GetTerminal(e.ctx, testTID); tm.ForceSignOn || tm.KeyGeneration != 2 {
		t.Fatalf("registry: force %v, key generation %d", tm.ForceSignOn, tm.KeyGeneration)
	}

	tm.TargetVersion = "TSIM0002" // the simulator reports TSIM0001
	if _, err := reg.UpdateTerminal(e.ctx, tm); err != nil {
		t.Fatal(err)
	}
	res, err = term.Purchase(e.ctx, card(), 103)
	expect(t, "purchase below the target version", res, err, "00")
	if res.Requirement != codec.RequireTMSUpdate || !term.UpdateWanted() {
		t.Fatalf("requirement %d, update wanted %v; want 6", res.Requirement, term.UpdateWanted())
	}
	if tm, _ = reg.GetTerminal(e.ctx, testTID); tm.SoftwareVersion != "TSIM0001" {
		t.Fatalf("reported version recorded as %q", tm.SoftwareVersion)
	}
	_ = termsim.DefaultAppVersion
}
