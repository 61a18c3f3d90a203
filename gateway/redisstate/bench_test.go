package redisstate_test

import (
	"testing"

	"github.com/posgate/posgate/gateway/statetest"
	"github.com/posgate/posgate/internal/redistest"
)

// The Redis benchmarks run over loopback against a real redis-server: one round trip each.

func BenchmarkReserve(b *testing.B) {
	statetest.BenchReserve(b, newState(b, redistest.Start(b)))
}

func BenchmarkAddTotals(b *testing.B) {
	statetest.BenchAddTotals(b, newState(b, redistest.Start(b)))
}
