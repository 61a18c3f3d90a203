package settlement

import (
	"fmt"

	"github.com/posgate/posgate/journal"
)

// DefaultPlanName is the plan of merchants that name none.
const DefaultPlanName = "default"

// Rate is a percentage fee in basis points (1 bp = 0.01 %), optionally capped.
type Rate struct {
	// BasisPoints is the rate: 50 is 0.50 %. At most 10000 (100 %).
	BasisPoints int64 `json:"basis_points"`
	// CapFen caps the fee of one transaction; 0 means uncapped.
	CapFen int64 `json:"cap_fen,omitempty"`
}

// Fee returns the fee for amount fen: amount × BasisPoints / 10000 rounded half-up to the
// fen (integer arithmetic only), then capped. amount must not be negative.
func (r Rate) Fee(amount int64) int64 {
	fee := (amount*r.BasisPoints + 5000) / 10000
	if r.CapFen > 0 && fee > r.CapFen {
		fee = r.CapFen
	}
	return fee
}

// maxAmount keeps amount × BasisPoints inside int64 (9.2e18 / 1e4): about 9.2e14 fen,
// far above any single card transaction.
const maxAmount = 1 << 49

// FeePlan is a named fee schedule: a rate per card kind and whether a refund gives the fee
// back.
type FeePlan struct {
	Name string `json:"name"`
	// Debit, Credit and QR are the rates by card kind (journal.CardKind).
	Debit  Rate `json:"debit"`
	Credit Rate `json:"credit"`
	QR     Rate `json:"qr"`
	// RefundReturnsFee: a refund gives back its proportional share of the fee charged on its
	// sale, never more in total over all the sale's refunds than that fee (refundFee; on a
	// capped rate only when the sale is of the refund's own date); a void after its sale was
	// settled gives back the sale's whole fee. Default false: the fee charged on the sale is
	// kept.
	RefundReturnsFee bool `json:"refund_returns_fee,omitempty"`
}

// DefaultPlan is the plan quoted for posgate's terminals: debit cards 0.50 % capped at
// 25.00 CNY per transaction, credit cards 0.60 % uncapped, scanned codes 0.38 %; refunds do
// not return the fee.
func DefaultPlan() FeePlan {
	return FeePlan{
		Name:   DefaultPlanName,
		Debit:  Rate{BasisPoints: 50, CapFen: 2500},
		Credit: Rate{BasisPoints: 60},
		QR:     Rate{BasisPoints: 38},
	}
}

// Rate returns the plan's rate for card kind k (debit for an unknown kind).
func (p *FeePlan) Rate(k journal.CardKind) Rate {
	switch k {
	case journal.CardCredit:
		return p.Credit
	case journal.CardQR:
		return p.QR
	}
	return p.Debit
}

// Validate checks the plan's name and rates.
func (p *FeePlan) Validate() error {
	if p.Name == "" {
		return &ConfigError{Field: "FeePlan.Name", Err: errRequired}
	}
	for _, r := range []struct {
		kind string
		r    Rate
	}{{"debit", p.Debit}, {"credit", p.Credit}, {"qr", p.QR}} {
		if r.r.BasisPoints < 0 || r.r.BasisPoints > 10000 || r.r.CapFen < 0 {
			return &ConfigError{Field: fmt.Sprintf("FeePlan %s %s", p.Name, r.kind), Err: errOutOfRange}
		}
	}
	return nil
}
