//go:build !race

package termsim

import (
	"testing"

	"github.com/posgate/posgate/hsm"
)

// TestPurchaseRequestAllocs asserts that building and MACing a purchase request allocates
// nothing once the terminal's buffers have grown: the load generator runs thousands of
// terminals.
func TestPurchaseRequestAllocs(t *testing.T) {
	term, _, _ := offlineTerminal(t, hsm.MACPOSECB)
	card := pinCard
	if got := testing.AllocsPerRun(200, func() {
		if err := buildPurchase(term, &card); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Fatalf("allocations per purchase request: got %v, want 0", got)
	}
}
