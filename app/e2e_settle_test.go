package app_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/journal"
)

// A node settles by itself: at start, the latest closed business date that no node has settled
// is run into DATA/settlement.
func TestNodeSettlesClosedDate(t *testing.T) {
	checkNoLeak(t)
	dir := t.TempDir()
	startNode(t, "", func(c *app.Config) { c.DataDir = dir })
	last := journal.Calendar{}.BusinessDate(time.Now()).AddDays(-1)
	summary := filepath.Join(dir, "settlement", last.String(), "summary.json")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(summary); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settlement of %s in %s", last, filepath.Dir(summary))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, f := range []string{"merchants.csv", "transactions.csv", "batches.csv"} {
		if _, err := os.Stat(filepath.Join(filepath.Dir(summary), f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
