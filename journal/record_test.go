package journal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckMaskedPAN(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", nil},
		{"622588******1234", nil},
		{"622588*********1234", nil},
		{"622588XXXXXX1234", nil},
		{"******######1234", nil},
		{"4111111111111111", ErrNotMasked},
		{"4111111*****1111", ErrNotMasked}, // 7 leading digits
		{"411111*****11111", ErrNotMasked}, // 5 trailing digits
		{"411111**1***1111", ErrNotMasked}, // digit in the middle
		{"41111111", ErrNotMasked},         // short clear fragment
		{"411111-*****1111", ErrFormat},
		{"411111******111 ", ErrFormat},
		{"41111*", ErrFormat},
	}
	for _, tt := range tests {
		if got := CheckMaskedPAN(tt.in); !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
			t.Errorf("CheckMaskedPAN(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRecordValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Record)
		field string
		want  error
	}{
		{"valid", func(*Record) {}, "", nil},
		{"no txn id", func(r *Record) { r.TxnID = "" }, "TxnID", ErrRequired},
		{"txn id with space", func(r *Record) { r.TxnID = "a b" }, "TxnID", ErrFormat},
		{"txn id too long", func(r *Record) { r.TxnID = strings.Repeat("a", 65) }, "TxnID", ErrFormat},
		{"bad type", func(r *Record) { r.Type = 0 }, "Type", ErrOutOfRange},
		{"bad MTI", func(r *Record) { r.MTI = "02a0" }, "MTI", ErrFormat},
		{"no processing code", func(r *Record) { r.ProcessingCode = "" }, "ProcessingCode", ErrRequired},
		{"negative amount", func(r *Record) { r.Amount = -1 }, "Amount", ErrOutOfRange},
		{"bad currency", func(r *Record) { r.Currency = "CNY" }, "Currency", ErrFormat},
		{"clear PAN", func(r *Record) { r.MaskedPAN = "6225880000001234" }, "MaskedPAN", ErrNotMasked},
		{"PAN as token", func(r *Record) { r.PANToken = "6225880000001234" }, "PANToken", ErrNotMasked},
		{"token with control char", func(r *Record) { r.PANToken = "a\x00b" }, "PANToken", ErrFormat},
		{"bad card kind", func(r *Record) { r.CardKind = 9 }, "CardKind", ErrOutOfRange},
		{"TID too long", func(r *Record) { r.TID = "123456789" }, "TID", ErrFormat},
		{"no MID", func(r *Record) { r.MID = "" }, "MID", ErrRequired},
		{"STAN not numeric", func(r *Record) { r.STAN = "00001x" }, "STAN", ErrFormat},
		{"void without original", func(r *Record) { r.Type = TypeVoid }, "Original", ErrRequired},
		{"void with original RRN", func(r *Record) { r.Type = TypeVoid; r.Original.RRN = "000000000001" }, "", nil},
		{"reversal with original txn", func(r *Record) { r.Type = TypeReversal; r.Original.TxnID = "x-1" }, "", nil},
		{"no request time", func(r *Record) { r.RequestTime = time.Time{} }, "RequestTime", ErrRequired},
		{"no business date", func(r *Record) { r.BusinessDate = Date{} }, "BusinessDate", ErrRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRecord(1, testDate)
			tt.mod(&r)
			err := r.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || re.Field != tt.field || !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Validate = %v, want RecordError{%s, %v}", err, tt.field, tt.want)
			}
		})
	}
}

func TestTypeAndKindNames(t *testing.T) {
	for ty := TypePurchase; ty < typeEnd; ty++ {
		got, ok := ParseTxnType(ty.String())
		if !ok || got != ty {
			t.Errorf("ParseTxnType(%q) = %v, %v", ty.String(), got, ok)
		}
	}
	for k := CardDebit; k < cardEnd; k++ {
		got, ok := ParseCardKind(k.String())
		if !ok || got != k {
			t.Errorf("ParseCardKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if TxnType(0).String() != "unknown" || CardKind(99).String() != "unknown" {
		t.Error("invalid values should print unknown")
	}
	if _, ok := ParseTxnType("sale"); ok {
		t.Error("ParseTxnType accepted an unknown name")
	}
}
