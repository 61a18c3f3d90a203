package journal

import (
	"errors"
	"testing"
	"time"
)

func TestRecordBinaryRoundTrip(t *testing.T) {
	full := testRecord(42, testDate)
	full.Type = TypeRefund
	full.Original = OriginalRef{TxnID: "orig:1", RRN: "123456789012", Batch: "000009", STAN: "000123", Date: testDate.AddDays(-3)}
	noResp := testRecord(1, testDate)
	noResp.ResponseTime = time.Time{}
	noResp.MaskedPAN, noResp.PANToken, noResp.CardKind = "", "", CardQR
	big := testRecord(2, testDate)
	big.Amount = 1<<62 + 12345
	tests := []struct {
		name string
		rec  Record
	}{
		{"purchase", testRecord(0, testDate)},
		{"refund with original", full},
		{"qr without response", noResp},
		{"large amount", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.rec.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			var got Record
			if err := got.UnmarshalBinary(b[len("prefix"):]); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !recordsEqual(got, tt.rec) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.rec)
			}
			if got.RequestTime.Location() != time.UTC {
				t.Errorf("RequestTime location = %v, want UTC", got.RequestTime.Location())
			}
			id, err := recordTxnID(b[len("prefix"):])
			if err != nil || string(id) != tt.rec.TxnID {
				t.Errorf("recordTxnID = %q, %v", id, err)
			}
		})
	}
}

func TestRecordUnmarshalRejectsCorrupt(t *testing.T) {
	rec := testRecord(3, testDate)
	valid, _ := rec.AppendBinary(nil)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", valid[:2]},
		{"bad version", append([]byte{9}, valid[1:]...)},
		{"bad type", append([]byte{1, 0}, valid[2:]...)},
		{"truncated strings", valid[:len(valid)-3]},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"huge string length", append(append([]byte{}, valid[:len(valid)-60]...), 0xff, 0xff, 0xff, 0x0f)},
		{"too long", make([]byte, maxRecordLen+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if err := r.UnmarshalBinary(tt.in); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("UnmarshalBinary = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestSegmentRoundTripAndCorruption(t *testing.T) {
	var recs []*pending
	var want []string
	for i := 0; i < 5; i++ {
		r := testRecord(i, testDate)
		b, _ := r.AppendBinary(nil)
		recs = append(recs, &pending{enc: b})
		want = append(want, r.TxnID)
	}
	seg := appendSegment(nil, recs)
	var got []string
	if err := forEachRecord(7, seg, func(i int, b []byte) error {
		var r Record
		if err := r.UnmarshalBinary(b); err != nil {
			return err
		}
		got = append(got, r.TxnID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d = %s, want %s", i, got[i], want[i])
		}
	}
	corrupt := []struct {
		name string
		in   []byte
	}{
		{"not a segment", []byte("hello world")},
		{"bad version", append([]byte{'P', 'J', 9}, seg[3:]...)},
		{"truncated", seg[:len(seg)-1]},
		{"trailing", append(append([]byte{}, seg...), 1)},
		{"count too high", append([]byte{'P', 'J', 1, 6}, seg[4:]...)},
	}
	for _, tt := range corrupt {
		err := forEachRecord(7, tt.in, func(int, []byte) error { return nil })
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Seq != 7 {
			t.Errorf("%s: forEachRecord = %v, want CorruptError at seq 7", tt.name, err)
		}
	}
}

func FuzzRecordUnmarshal(f *testing.F) {
	for i := 0; i < 3; i++ {
		r := testRecord(i, testDate)
		b, _ := r.AppendBinary(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		again, _ := r.AppendBinary(nil)
		var r2 Record
		if err := r2.UnmarshalBinary(again); err != nil || !recordsEqual(r, r2) {
			t.Fatalf("re-decode mismatch: %v", err)
		}
	})
}

func FuzzSegment(f *testing.F) {
	r := testRecord(1, testDate)
	b, _ := r.AppendBinary(nil)
	f.Add(appendSegment(nil, []*pending{{enc: b}}))
	f.Fuzz(func(t *testing.T, seg []byte) {
		_ = forEachRecord(1, seg, func(i int, b []byte) error {
			var r Record
			_ = r.UnmarshalBinary(b)
			_, _ = recordTxnID(b)
			return nil
		})
	})
}
