package settlement_test

import (
	"testing"

	"github.com/posgate/posgate/settlement"
	"github.com/posgate/posgate/settlement/runstest"
)

func TestMemRunsContract(t *testing.T) {
	runstest.Run(t, func(*testing.T) settlement.RunStore { return &settlement.MemRuns{} })
}
