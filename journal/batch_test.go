package journal

import (
	"context"
	"errors"
	"testing"

	"github.com/posgate/posgate/natsembed/natstest"
)

// testBatchRecord returns a valid 0500 result record for batch 000001.
func testBatchRecord(d Date) Record {
	r := testRecord(900, d)
	r.TxnID = "B" + d.String() + "-12345678-000001-000900-settle"
	r.Type, r.MTI, r.ProcessingCode, r.Currency = TypeBatchSettlement, "0500", "", ""
	r.MaskedPAN, r.PANToken, r.CardKind, r.Amount = "", "", 0, 0
	r.RRN, r.AuthCode, r.Route = "", "", ""
	r.BatchResult = BatchResult{
		Terminal: Totals{DebitCount: 3, DebitAmount: 30000, CreditCount: 1, CreditAmount: 500},
		Posgate:  Totals{DebitCount: 3, DebitAmount: 30000, CreditCount: 1, CreditAmount: -500},
	}
	return r
}

func TestBatchRecordRoundTrip(t *testing.T) {
	settle := testBatchRecord(testDate)
	diff := settle
	diff.TxnID += "-diff-000123"
	diff.Type, diff.MTI, diff.STAN, diff.Amount = TypeBatchDifference, "0320", "000123", 4200
	diff.BatchResult = BatchResult{Difference: DiffAmount}
	for _, rec := range []Record{settle, diff} {
		t.Run(rec.Type.String(), func(t *testing.T) {
			if err := rec.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			b, _ := rec.AppendBinary(nil)
			if b[0] != extVersion {
				t.Fatalf("version byte = %d, want %d", b[0], extVersion)
			}
			var got Record
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !recordsEqual(got, rec) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, rec)
			}
			if id, err := recordTxnID(b); err != nil || string(id) != rec.TxnID {
				t.Fatalf("recordTxnID = %q, %v", id, err)
			}
			for cut := 1; cut < len(b); cut++ {
				if err := got.UnmarshalBinary(b[:cut]); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated at %d: err = %v, want ErrCorrupt", cut, err)
				}
			}
		})
	}
	if settle.BatchResult.Balanced() {
		t.Errorf("Balanced() = true for different credit totals")
	}
}

func TestBatchVersionMustMatchType(t *testing.T) {
	fin := testRecord(1, testDate)
	b, _ := fin.AppendBinary(nil)
	b[0] = batchVersion // a financial type in a batch-version record
	var r Record
	if err := r.UnmarshalBinary(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("financial record as version 2: err = %v, want ErrCorrupt", err)
	}
	bb := testBatchRecord(testDate)
	enc, _ := bb.AppendBinary(nil)
	enc[0] = recordVersion
	if err := r.UnmarshalBinary(enc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("batch record as version 1: err = %v, want ErrCorrupt", err)
	}
}

func TestBatchRecordValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Record)
		field string
		want  error
	}{
		{"valid", func(*Record) {}, "", nil},
		{"with currency", func(r *Record) { r.Currency = "156" }, "", nil},
		{"short currency", func(r *Record) { r.Currency = "15" }, "Currency", ErrFormat},
		{"short processing code", func(r *Record) { r.ProcessingCode = "00" }, "ProcessingCode", ErrFormat},
		{"no batch", func(r *Record) { r.Batch = "" }, "Batch", ErrRequired},
		{"difference without reason", func(r *Record) { r.Type = TypeBatchDifference }, "BatchResult.Difference", ErrRequired},
		{"long difference", func(r *Record) {
			r.Type, r.BatchResult.Difference = TypeBatchDifference, "0123456789012345678901234567890123"
		}, "BatchResult.Difference", ErrFormat},
		{"batch result on a purchase", func(r *Record) {
			r.Type, r.CardKind = TypePurchase, CardDebit
			r.ProcessingCode, r.Currency = "000000", "156"
		}, "BatchResult", ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testBatchRecord(testDate)
			tt.mod(&r)
			err := r.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var re *RecordError
			if !errors.As(err, &re) || re.Field != tt.field || !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want RecordError{%s, %v}", err, tt.field, tt.want)
			}
		})
	}
}

// ReadRaw returns every stored record, duplicates included, in the order Read
// would see them; Read keeps the first of each TxnID.
func TestReadRawKeepsDuplicates(t *testing.T) {
	j1, srv, _ := startJournal(t, Config{})
	j2 := openJournal(t, natstest.Connect(t, srv), Config{})
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := j1.Append(ctx, testRecord(i, testDate)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j1.Append(ctx, testBatchRecord(testDate)); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 12; i++ { // 5..9 duplicate j1's
		if err := j2.Append(ctx, testRecord(i, testDate)); err != nil {
			t.Fatal(err)
		}
	}
	var raw []Record
	if err := j1.ReadRaw(ctx, testDate, func(r Record) error { raw = append(raw, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 18 {
		t.Fatalf("ReadRaw: %d records, want 18 (5 duplicates kept)", len(raw))
	}
	dedup := readAll(t, j1, testDate)
	if len(dedup) != 13 {
		t.Fatalf("Read: %d records, want 13", len(dedup))
	}
	seen := map[string]bool{}
	k := 0
	for _, r := range raw {
		if seen[r.TxnID] {
			continue
		}
		seen[r.TxnID] = true
		if !recordsEqual(r, dedup[k]) {
			t.Fatalf("first occurrence %d differs from Read's record", k)
		}
		k++
	}
	if dedup[10].Type != TypeBatchSettlement || dedup[10].BatchResult.Terminal.DebitAmount != 30000 {
		t.Fatalf("batch record not read back: %+v", dedup[10])
	}
}
