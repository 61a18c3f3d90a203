package memstate_test

import (
	"testing"

	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/gateway/statetest"
)

func newBench(b *testing.B) *memstate.State {
	s, err := memstate.New(memstate.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkReserve(b *testing.B)   { statetest.BenchReserve(b, newBench(b)) }
func BenchmarkAddTotals(b *testing.B) { statetest.BenchAddTotals(b, newBench(b)) }
