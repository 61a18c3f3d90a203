package main

import (
	"io"
	"testing"

	"github.com/posgate/posgate/gateway"
)

func TestParseFault(t *testing.T) {
	for _, bad := range []string{"answered", "nowhere:purchase", "journaled:refund:0", "journaled:refund:x", "a:b:c:d"} {
		if _, err := parseFault(bad, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if f, err := parseFault("", io.Discard); f != nil || err != nil {
		t.Fatalf("empty spec armed a fault: %v", err)
	}
	// The hook only stops the N-th matching transaction (it then blocks forever, so only the
	// ones before it are called here).
	f, err := parseFault("journaled:refund:3", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f(gateway.FaultJournaled, gateway.KindRefund)
	f(gateway.FaultJournaled, gateway.KindRefund)
	f(gateway.FaultAnswered, gateway.KindRefund)    // another point
	f(gateway.FaultJournaled, gateway.KindPurchase) // another kind
}
