//go:build !race

package memstore

import (
	"context"
	"testing"
)

// TestGetTerminalAllocs pins the cost of the per-message read: the deep copy makes at most two
// allocations (operators, one buffer for all key cipher texts).
func TestGetTerminalAllocs(t *testing.T) {
	s, err := Open(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	populate(t, s)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.GetTerminal(ctx, tid); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("GetTerminal: %v allocations, want at most 2", allocs)
	}
}
