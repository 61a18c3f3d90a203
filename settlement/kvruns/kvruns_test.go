package kvruns

import (
	"context"
	"fmt"
	"testing"

	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/settlement"
	"github.com/posgate/posgate/settlement/runstest"
)

func TestContract(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	n := 0
	runstest.Run(t, func(t *testing.T) settlement.RunStore {
		n++
		s, err := New(context.Background(), nc, fmt.Sprintf("RUNS_%d", n), 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
