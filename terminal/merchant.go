package terminal

import "time"

// Merchant is an acquired merchant: the owner of terminals and the party settled T+1.
type Merchant struct {
	MID               string // field 42, 15 ans characters; the key
	Name              string // display name, UTF-8 (GBK on the wire is the codec's concern)
	MCC               string // merchant category code, 4 digits
	City              string // optional
	FeePlan           string // name of the settlement fee plan; "" means the settlement default
	SettlementAccount string // account credited at settlement, printable ASCII; optional until the first settlement pays the merchant

	CreatedAt time.Time // set by the store
	UpdatedAt time.Time // set by the store
	// Revision counts the merchant's changes. UpdateMerchant succeeds only when it equals the
	// stored revision (optimistic concurrency for the admin API).
	Revision uint64
}

// Validate checks the merchant's fields. Errors are *FieldError and never hold the value.
func (m *Merchant) Validate() error {
	if err := ValidMID(m.MID); err != nil {
		return err
	}
	if err := text("Name", m.Name, MaxNameLen, true); err != nil {
		return err
	}
	if err := ValidMCC(m.MCC); err != nil {
		return err
	}
	if err := text("City", m.City, MaxCityLen, false); err != nil {
		return err
	}
	if err := ascii("FeePlan", m.FeePlan, MaxPlanLen, false); err != nil {
		return err
	}
	return ascii("SettlementAccount", m.SettlementAccount, MaxAcctLen, false)
}
