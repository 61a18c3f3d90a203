package routing

import (
	"context"
	"testing"
	"time"
)

// TestMemorySTANAdvance: a restarted node continues its day's STANs after the last one its
// journal shows, never goes back, and a new day still starts at 1.
func TestMemorySTANAdvance(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := NewMemorySTAN()
	s.Advance("cup", now, 4711)
	if n, _ := s.NextSTAN(ctx, "cup", now); n != 4712 {
		t.Fatalf("after Advance(4711): %d, want 4712", n)
	}
	s.Advance("cup", now, 100) // behind the counter: no effect
	if n, _ := s.NextSTAN(ctx, "cup", now); n != 4713 {
		t.Fatalf("after Advance(100): %d, want 4713", n)
	}
	if n, _ := s.NextSTAN(ctx, "visa", now); n != 1 {
		t.Fatalf("another route: %d, want 1", n)
	}
	if n, _ := s.NextSTAN(ctx, "cup", now.Add(24*time.Hour)); n != 1 {
		t.Fatalf("the next day: %d, want 1", n)
	}
}
