package memstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/posgate/posgate/terminal"
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

// BenchmarkAdvanceBatch measures one acknowledged write (a 0500's batch advance): in memory
// only, and with a Path (one fsynced change-log line per write).
func BenchmarkAdvanceBatch(b *testing.B) {
	for _, mode := range []string{"memory", "file"} {
		b.Run(mode, func(b *testing.B) {
			s := benchStore(b, mode, 1)
			ctx := context.Background()
			tid := benchTID(0)
			from := terminal.FirstBatch
			b.ReportAllocs()
			for b.Loop() {
				next, err := s.AdvanceBatch(ctx, tid, from)
				if err != nil {
					b.Fatal(err)
				}
				from = next
			}
		})
	}
}

// BenchmarkAdvanceBatchParallel runs 16 writers per core on their own terminals: concurrent
// writers share an fsync (group commit).
func BenchmarkAdvanceBatchParallel(b *testing.B) {
	for _, mode := range []string{"memory", "file"} {
		b.Run(mode, func(b *testing.B) {
			const terminals = 256
			s := benchStore(b, mode, terminals)
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				tid := benchTID(int(next.Add(1)-1) % terminals)
				from := terminal.FirstBatch
				for pb.Next() {
					got, err := s.AdvanceBatch(ctx, tid, from)
					if err != nil {
						from = got // another goroutine shares the terminal
						continue
					}
					from = got
				}
			})
		})
	}
}

func benchTID(i int) string { return fmt.Sprintf("2%07d", i) }

func benchStore(b *testing.B, mode string, terminals int) *Store {
	b.Helper()
	cfg := Config{}
	if mode == "file" {
		cfg.Path = filepath.Join(b.TempDir(), "registry.json")
	}
	s, err := Open(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := s.CreateMerchant(ctx, terminal.Merchant{MID: mid, Name: "Shop", MCC: "5411"}); err != nil {
		b.Fatal(err)
	}
	for i := range terminals {
		if _, err := s.CreateTerminal(ctx, terminal.Terminal{TID: benchTID(i), MID: mid}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}
