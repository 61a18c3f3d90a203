package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/terminal"
)

func testMerchantCreateGet(t *testing.T, e *env) {
	want := merchant(mid1)
	got, err := e.CreateMerchant(e.ctx, want)
	if err != nil {
		t.Fatalf("CreateMerchant: %v", err)
	}
	if got.Revision != 1 || !got.CreatedAt.Equal(e.clock.Now()) || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("CreateMerchant: revision %d created %v updated %v, want 1 and %v", got.Revision, got.CreatedAt, got.UpdatedAt, e.clock.Now())
	}
	read, err := e.GetMerchant(e.ctx, mid1)
	if err != nil {
		t.Fatalf("GetMerchant: %v", err)
	}
	want.CreatedAt, want.UpdatedAt, want.Revision = got.CreatedAt, got.UpdatedAt, 1
	if !equalMerchant(read, want) {
		t.Errorf("GetMerchant:\n got %+v\nwant %+v", read, want)
	}
	_, err = e.CreateMerchant(e.ctx, merchant(mid1))
	wantErr(t, "CreateMerchant duplicate", err, terminal.ErrExists)
	_, err = e.GetMerchant(e.ctx, mid2)
	wantErr(t, "GetMerchant missing", err, terminal.ErrNotFound)
	var re *terminal.RecordError
	if !errors.As(err, &re) || re.Kind != terminal.KindMerchant || re.ID != mid2 {
		t.Errorf("GetMerchant missing: got %#v, want RecordError for merchant %s", err, mid2)
	}
}

func equalMerchant(a, b terminal.Merchant) bool {
	return a.MID == b.MID && a.Name == b.Name && a.MCC == b.MCC && a.City == b.City && a.FeePlan == b.FeePlan &&
		a.SettlementAccount == b.SettlementAccount && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.Revision == b.Revision
}

func testMerchantValidation(t *testing.T, e *env) {
	tests := []struct {
		name  string
		edit  func(m *terminal.Merchant)
		field string
	}{
		{"short MID", func(m *terminal.Merchant) { m.MID = "89831004816" }, "MID"},
		{"long MID", func(m *terminal.Merchant) { m.MID = mid1 + "0" }, "MID"},
		{"brace in MID", func(m *terminal.Merchant) { m.MID = "89831004816{12}" }, "MID"},
		{"no name", func(m *terminal.Merchant) { m.Name = "" }, "Name"},
		{"control char in name", func(m *terminal.Merchant) { m.Name = "shop\n" }, "Name"},
		{"MCC letters", func(m *terminal.Merchant) { m.MCC = "54A1" }, "MCC"},
		{"MCC 3 digits", func(m *terminal.Merchant) { m.MCC = "541" }, "MCC"},
		{"account with a control char", func(m *terminal.Merchant) { m.SettlementAccount = "6222\n" }, "SettlementAccount"},
		{"account too long", func(m *terminal.Merchant) { m.SettlementAccount = "62220202001122334455667788990011223344" }, "SettlementAccount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := merchant(mid1)
			tc.edit(&m)
			_, err := e.CreateMerchant(e.ctx, m)
			var fe *terminal.FieldError
			if !errors.Is(err, terminal.ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("CreateMerchant: got %v, want FieldError for %s", err, tc.field)
			}
			if m.SettlementAccount != "" && strings.Contains(err.Error(), m.SettlementAccount) {
				t.Errorf("error text %q echoes the account number", err)
			}
		})
	}
	if _, err := e.GetMerchant(e.ctx, mid1); !errors.Is(err, terminal.ErrNotFound) {
		t.Errorf("GetMerchant after invalid creates: got %v, want ErrNotFound", err)
	}
}

func testMerchantUpdateRevision(t *testing.T, e *env) {
	m := e.mustMerchant(t, mid1)
	e.clock.Advance(time.Minute)
	m.Name, m.FeePlan = "Renamed", "premium"
	upd, err := e.UpdateMerchant(e.ctx, m)
	if err != nil {
		t.Fatalf("UpdateMerchant: %v", err)
	}
	if upd.Revision != 2 || upd.Name != "Renamed" || !upd.UpdatedAt.Equal(e.clock.Now()) || !upd.CreatedAt.Equal(m.CreatedAt) {
		t.Errorf("UpdateMerchant: got %+v, want revision 2, new name, updated now, created unchanged", upd)
	}
	// A writer holding the old revision loses.
	m.Name = "Stale"
	_, err = e.UpdateMerchant(e.ctx, m)
	wantErr(t, "UpdateMerchant stale", err, terminal.ErrConflict)
	got, _ := e.GetMerchant(e.ctx, mid1)
	if got.Name != "Renamed" || got.Revision != 2 {
		t.Errorf("after stale update: got name %q revision %d, want Renamed 2", got.Name, got.Revision)
	}
	missing := merchant(mid2)
	_, err = e.UpdateMerchant(e.ctx, missing)
	wantErr(t, "UpdateMerchant missing", err, terminal.ErrNotFound)
}

func testMerchantList(t *testing.T, e *env) {
	var want []string
	for i := 7; i >= 1; i-- { // created out of order; listed in MID order
		mid := fmt.Sprintf("89831004816%04d", i)
		e.mustMerchant(t, mid)
	}
	for i := 1; i <= 7; i++ {
		want = append(want, fmt.Sprintf("89831004816%04d", i))
	}
	var got []string
	q := terminal.Page{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListMerchants: pagination does not end")
		}
		p, err := e.ListMerchants(e.ctx, q)
		if err != nil {
			t.Fatalf("ListMerchants: %v", err)
		}
		if len(p.Merchants) > 3 {
			t.Fatalf("ListMerchants: page of %d, limit 3", len(p.Merchants))
		}
		for _, m := range p.Merchants {
			got = append(got, m.MID)
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListMerchants: got %v, want %v", got, want)
	}
	_, err := e.ListMerchants(e.ctx, terminal.Page{Limit: -1})
	wantErr(t, "ListMerchants negative limit", err, terminal.ErrInvalid)
	p, err := e.ListMerchants(e.ctx, terminal.Page{After: want[6]})
	if err != nil || len(p.Merchants) != 0 || p.Next != "" {
		t.Errorf("ListMerchants after last: got %d merchants next %q err %v, want none", len(p.Merchants), p.Next, err)
	}
}
