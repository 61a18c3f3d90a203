package memstore

import (
	"context"
	"testing"
)

// BenchmarkGetTerminal reads an activated, signed-on terminal by TID (a deep copy).
func BenchmarkGetTerminal(b *testing.B) {
	s, err := Open(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	populate(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetTerminal(ctx, tid); err != nil {
			b.Fatal(err)
		}
	}
}
