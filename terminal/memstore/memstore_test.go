package memstore_test

import (
	"path/filepath"
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

// TestContractFile runs the suite against a store with a snapshot and change log: every write
// also goes through the log (and its fsync).
func TestContractFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) terminal.Store {
		path := filepath.Join(t.TempDir(), "registry.json")
		s, err := memstore.Open(memstore.Config{Path: path, Now: now}, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
