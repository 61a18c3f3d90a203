package memstate_test

import (
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/gateway/statetest"
)

func TestContract(t *testing.T) {
	statetest.Run(t, func(t *testing.T) gateway.State {
		s, err := memstate.New(memstate.Config{SweepInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
