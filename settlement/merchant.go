package settlement

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Merchant is the master data settlement needs about a merchant.
type Merchant struct {
	MID string `json:"mid"`
	// Name and Account (the settlement account credited) are copied into merchants.csv.
	Name    string `json:"name"`
	Account string `json:"account"`
	// FeePlan names the merchant's plan; "" means DefaultPlanName.
	FeePlan string `json:"fee_plan"`
}

// Merchants looks merchants up by MID. It returns an error wrapping ErrUnknownMerchant for
// an MID it does not know; settlement then settles the merchant on the default plan with an
// empty name and account, and counts it in Summary.UnknownMerchants. Any other error fails
// the run. Settlement calls it once per MID and run.
//
// posgate serve implements it over the terminal registry; posgate settle over a CSV file
// (ReadMerchantsCSV) or the registry snapshot.
type Merchants interface {
	Merchant(ctx context.Context, mid string) (Merchant, error)
}

// MerchantTable is an in-memory Merchants keyed by MID.
type MerchantTable map[string]Merchant

// Merchant implements Merchants.
func (t MerchantTable) Merchant(_ context.Context, mid string) (Merchant, error) {
	m, ok := t[mid]
	if !ok {
		return Merchant{}, fmt.Errorf("%w: %s", ErrUnknownMerchant, mid)
	}
	return m, nil
}

// ReadMerchantsCSV reads a merchants file: a header line naming the columns mid, name,
// account and fee_plan (any order; name, account and fee_plan optional), then one merchant
// per line. Lines starting with '#' are comments.
func ReadMerchantsCSV(r io.Reader) (MerchantTable, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("settlement: merchants file header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["mid"]; !ok {
		return nil, errors.New("settlement: merchants file: no mid column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	out := MerchantTable{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("settlement: merchants file: %w", err)
		}
		m := Merchant{MID: get(rec, "mid"), Name: get(rec, "name"), Account: get(rec, "account"), FeePlan: get(rec, "fee_plan")}
		if m.MID == "" {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("settlement: merchants file line %d: empty mid", line)
		}
		out[m.MID] = m
	}
}
