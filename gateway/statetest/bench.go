package statetest

import (
	"context"
	"strconv"
	"testing"

	"github.com/posgate/posgate/gateway"
)

// BenchReserve measures Reserve of a new key (the path of every request), one key per iteration.
func BenchReserve(b *testing.B, s gateway.State) {
	ctx := context.Background()
	h := hash(0x5a)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		key := gateway.RetransmitKey{TID: tid1, Batch: i / 1000000, STAN: i % 1000000, MTI: "0200"}
		if r, _, err := s.Reserve(ctx, key, h, ttl); err != nil || r != gateway.ReserveNew {
			b.Fatalf("Reserve = %s, %v", name(r), err)
		}
	}
}

// BenchAddTotals measures AddTotals of a new entry into one batch (the path of every approval).
func BenchAddTotals(b *testing.B, s gateway.State) {
	ctx := context.Background()
	d := gateway.Totals{DebitAmount: 100, DebitCount: 1}
	entry := make([]byte, 0, 32)
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		entry = strconv.AppendInt(append(entry[:0], "txn."...), i, 10)
		if _, err := s.AddTotals(ctx, tid1, 1, string(entry), d); err != nil {
			b.Fatal(err)
		}
	}
}
