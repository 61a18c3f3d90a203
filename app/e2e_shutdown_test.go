package app_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/loadtest/termsim"
)

// Shutdown stops accepting, answers the request in flight, and leaves no goroutine behind.
func TestShutdownAnswersInFlight(t *testing.T) {
	checkNoLeak(t)
	e := startNode(t, "", func(c *app.Config) { c.SimLatency = 300 * time.Millisecond })
	term := e.ready(testTID, testSN, nil)
	addr := e.node.GatewayAddr().String()

	type outcome struct {
		res termsim.Result
		err error
	}
	done := make(chan outcome, 1)
	// The sign-on's handler may still be finishing after its answer (in flight too): wait for
	// the purchase's own frame, read and in flight.
	before := e.node.Gateway.Stats().Requests
	go func() {
		res, err := term.Purchase(e.ctx, card(), 1200)
		done <- outcome{res, err}
	}()
	eventually(t, "the purchase to be in flight", func() bool {
		st := e.node.Gateway.Stats()
		return st.Requests == before+1 && st.InFlight == 1
	})
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.node.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	o := <-done
	expect(t, "purchase in flight at shutdown", o.res, o.err, "00")
	if got := e.node.Simulator.Ledger().Total().Purchases.Count; got != 1 {
		t.Fatalf("issuer saw %d purchases", got)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the terminal listener still accepts after shutdown")
	}
	if err := e.node.Shutdown(sctx); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}
