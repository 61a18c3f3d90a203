package settlement

import (
	"errors"
	"fmt"
	"testing"

	"github.com/posgate/posgate/journal"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestDefaultPlanFees(t *testing.T) {
	p := DefaultPlan()
	tests := []struct {
		kind   journal.CardKind
		amount int64
		want   int64
	}{
		{journal.CardDebit, 500000, 2500}, // exactly 5,000.00 CNY: 25.00, the cap itself
		{journal.CardDebit, 500001, 2500}, // 25.00005 → 25.00 (rounding, not the cap)
		{journal.CardDebit, 500100, 2500}, // 25.005 → 25.01 → capped 25.00
		{journal.CardDebit, 499900, 2500}, // 24.995 → half-up 25.00
		{journal.CardDebit, 499899, 2499}, // 24.99495 → 24.99
		{journal.CardDebit, 100, 1},       // 0.5 fen → 1
		{journal.CardDebit, 99, 0},        // 0.495 fen → 0
		{journal.CardDebit, 0, 0},
		{journal.CardCredit, 10000000, 60000}, // uncapped
		{journal.CardCredit, 250, 2},          // 1.5 → 2
		{journal.CardCredit, 83, 0},           // 0.498 → 0
		{journal.CardQR, 2500, 10},            // 9.5 → 10
		{journal.CardQR, 1000, 4},             // 3.8 → 4
		{journal.CardQR, 1300, 5},             // 4.94 → 5
		{journal.CardQR, 1, 0},
	}
	for _, tt := range tests {
		if got := p.Rate(tt.kind).Fee(tt.amount); got != tt.want {
			t.Errorf("%s %d fen: fee %d, want %d", tt.kind, tt.amount, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := DefaultPlan()
	bad.Debit.BasisPoints = 10001
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"partitions not a power of two", Config{Partitions: 3}, false},
		{"too many partitions", Config{Partitions: 1 << 17}, false},
		{"one partition", Config{Partitions: 1}, true},
		{"bad rate", Config{Plans: []FeePlan{bad}}, false},
		{"duplicate plan", Config{Plans: []FeePlan{DefaultPlan(), DefaultPlan()}}, false},
		{"unnamed plan", Config{Plans: []FeePlan{{}}}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v does not wrap ErrInvalidConfig", tt.name, err)
		}
	}
}

// Consecutive TIDs must spread over the partitions (the high bits of tidHash).
func TestTIDHashSpreads(t *testing.T) {
	const parts = 256
	counts := make([]int, parts)
	for i := 0; i < 20000; i++ {
		counts[tidHash(fmt.Sprintf("%08d", 10000000+i))>>56]++
	}
	for p, n := range counts {
		if n < 40 || n > 120 { // mean 78
			t.Fatalf("partition %d holds %d of 20000 TIDs", p, n)
		}
	}
}
