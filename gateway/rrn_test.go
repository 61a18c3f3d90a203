package gateway

import (
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/journal"
)

const (
	rrnTestNode = 7
	perSecond   = 100000 // RRNs a second: five digits
)

func rrnProcessor(t *testing.T, loc *time.Location) *Processor {
	t.Helper()
	return &Processor{cfg: ProcessorConfig{NodeID: rrnTestNode, Calendar: journal.Calendar{Location: loc}}}
}

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	return loc
}

// checkRRN fails unless rrn is 12 digits, a valid hhmmss, then the node digit at position 7.
func checkRRN(t *testing.T, rrn []byte) {
	t.Helper()
	if len(rrn) != 12 {
		t.Fatalf("RRN %q: got %d bytes, want 12", rrn, len(rrn))
	}
	for _, c := range rrn {
		if c < '0' || c > '9' {
			t.Fatalf("RRN %q: not all digits", rrn)
		}
	}
	two := func(i int) int { return int(rrn[i]-'0')*10 + int(rrn[i+1]-'0') }
	if h, m, s := two(0), two(2), two(4); h > 23 || m > 59 || s > 59 {
		t.Fatalf("RRN %q: hhmmss out of range", rrn)
	}
	if rrn[6] != '0'+rrnTestNode {
		t.Fatalf("RRN %q: node digit got %c, want %d", rrn, rrn[6], rrnTestNode)
	}
}

// draw draws an RRN for a request that started at start.
func draw(p *Processor, tx *txn, start time.Time) [12]byte {
	tx.start = start
	p.newRRN(tx)
	return tx.rrn
}

func TestRRNSequence(t *testing.T) {
	loc := shanghai(t)
	base := time.Date(2026, 3, 14, 10, 20, 30, 0, loc)
	type step struct {
		at          time.Duration // request start, from base
		n           int           // RRNs drawn
		first, last string        // want: the first and the last of them
	}
	tests := []struct {
		name  string
		base  time.Time
		steps []step
	}{
		{"in order", base, []step{
			{0, 2, "102030700000", "102030700001"},
			{time.Second, 1, "102031700000", "102031700000"},
		}},
		{"older after newer, same second", base, []step{
			{900 * time.Millisecond, 1, "102030700000", ""},
			{100 * time.Millisecond, 1, "102030700001", ""},
		}},
		{"older after newer, earlier second", base, []step{
			{0, 1, "102030700000", ""},
			{2 * time.Second, 1, "102032700000", ""},
			{0, 1, "102032700001", ""},
			{time.Second, 2, "102032700002", "102032700003"},
			{3 * time.Second, 1, "102033700000", ""},
		}},
		{"second used up", base, []step{
			{0, perSecond, "102030700000", "102030799999"},
			{0, 1, "102031700000", ""},
			{time.Second, 1, "102031700001", ""}, // continues, does not restart the second
			{-time.Second, 1, "102031700002", ""},
			{2 * time.Second, 1, "102032700000", ""},
		}},
		{"several seconds used up", base, []step{
			{0, 3*perSecond + 5, "102030700000", "102033700004"},
			{time.Second, 1, "102033700005", ""},
			{4 * time.Second, 1, "102034700000", ""},
		}},
		{"second used up at midnight", time.Date(2026, 3, 14, 23, 59, 59, 0, loc), []step{
			{0, perSecond + 1, "235959700000", "000000700000"},
		}},
		{"wall clock steps back", base, []step{
			{time.Hour, 1, "112030700000", ""},
			{0, 1, "112030700001", ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, tx := rrnProcessor(t, loc), newTxn()
			seen := make(map[[12]byte]bool)
			for i, st := range tc.steps {
				for j := 0; j < st.n; j++ {
					rrn := draw(p, tx, tc.base.Add(st.at))
					checkRRN(t, rrn[:])
					if seen[rrn] {
						t.Fatalf("step %d draw %d: duplicate RRN %s", i, j, rrn)
					}
					seen[rrn] = true
					if j == 0 && string(rrn[:]) != st.first {
						t.Errorf("step %d: first RRN got %s, want %s", i, rrn, st.first)
					}
					if j == st.n-1 && st.last != "" && string(rrn[:]) != st.last {
						t.Errorf("step %d: last RRN got %s, want %s", i, rrn, st.last)
					}
				}
			}
		})
	}
}

// The repeated hour at the end of summer time shows the same hhmmss twice in one local day.
func TestRRNSummerTimeEnds(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	p, tx := rrnProcessor(t, loc), newTxn()
	first := time.Date(2026, 11, 1, 1, 30, 0, 0, loc) // 01:30 EDT
	if _, off := first.Zone(); off != -4*3600 {
		t.Fatalf("%v: want summer time", first)
	}
	for i, want := range []string{"013000700000", "013000700001"} {
		rrn := draw(p, tx, first.Add(time.Duration(i)*time.Hour)) // then 01:30 EST
		if string(rrn[:]) != want {
			t.Errorf("draw %d: got %s, want %s", i, rrn, want)
		}
	}
}

// TestRRNConcurrent draws RRNs from many goroutines whose requests started out of order: newer
// then older, in the same and in different seconds, with the clock primed near a second's
// 100 000 limit so that draws overflow into the following seconds while older and newer ones race.
func TestRRNConcurrent(t *testing.T) {
	loc := shanghai(t)
	base := time.Date(2026, 3, 14, 10, 20, 30, 0, loc)
	p := rrnProcessor(t, loc)

	var all [][12]byte
	tx := newTxn()
	for i := 0; i < perSecond-1000; i++ { // prime: 1 000 numbers left in base's second
		all = append(all, draw(p, tx, base.Add(time.Duration(i)*time.Microsecond)))
	}

	// Offsets in ms from base: newer then older, same second and across seconds.
	pattern := []int{900, 100, 1500, 0, 999, 2100, -1000, 1000, 3000, 1999, 50, 2999, -1, 4000}
	const goroutines, perG = 16, 20000
	out := make([][][12]byte, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx := newTxn()
			got := make([][12]byte, 0, perG)
			for i := 0; i < perG; i++ {
				ms := pattern[(g+i)%len(pattern)] + i/4000*1000 // drift forward a second every 4 000
				got = append(got, draw(p, tx, base.Add(time.Duration(ms)*time.Millisecond)))
			}
			out[g] = got
		}()
	}
	wg.Wait()
	for _, got := range out {
		all = append(all, got...)
	}

	seen := make(map[[12]byte]bool, len(all))
	dups := 0
	for _, rrn := range all {
		checkRRN(t, rrn[:])
		if seen[rrn] {
			if dups++; dups <= 5 {
				t.Errorf("duplicate RRN %s", rrn)
			}
		}
		seen[rrn] = true
	}
	if dups > 0 {
		t.Fatalf("%d duplicate RRNs in %d", dups, len(all))
	}
}

func TestRRNAllocs(t *testing.T) {
	loc := shanghai(t)
	p, tx := rrnProcessor(t, loc), newTxn()
	start := time.Date(2026, 3, 14, 10, 20, 30, 0, loc)
	if n := testing.AllocsPerRun(1000, func() {
		start = start.Add(time.Millisecond)
		tx.start = start
		p.newRRN(tx)
	}); n != 0 {
		t.Errorf("newRRN: got %v allocations, want 0", n)
	}
}
