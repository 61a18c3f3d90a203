package memstore_test

import (
	"testing"
	"time"

	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/memstore"
	"github.com/posgate/posgate/terminal/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) terminal.Store {
		s, err := memstore.Open(memstore.Config{Now: now}, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
