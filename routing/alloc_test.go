//go:build !race

package routing

import "testing"

func TestLookupZeroAllocs(t *testing.T) {
	tab := DefaultTable()
	pans := [][]byte{[]byte("4111111111111111"), []byte("6230000000000000"), []byte("3000000000000000")}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, p := range pans {
			_ = tab.Resolve(p, []byte("031"))
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per run, want 0", allocs)
	}
}
