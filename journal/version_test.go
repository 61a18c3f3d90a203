package journal

import (
	"encoding/hex"
	"errors"
	"testing"
)

// Records written before version 3 (write-ahead intents) must still be read: these are the
// bytes the version-1 and version-2 encoders wrote for testRecord(5, testDate) and
// testBatchRecord(testDate).
const (
	goldenV1 = "010101d20180adfcdee5a9c99c3180e5b4d1e6a9c99c31dacbd40900125432303236303331342d303030303030303504303230300630303030303003313536103632323538382a2a2a2a2a2a313233340e746f6b5f336639613163306237650831323334353637380f31323334353637383930313233343506303030303031063030303030350c303030303030303030303035064131423243330230300363757000000000"
	goldenV2 = "0209000080a4c1b4eca9c99c3180dcf9a6eda9c99c31dacbd40900274232303236303331342d31323334353637382d3030303030312d3030303930302d736574746c650430353030000000000831323334353637380f31323334353637383930313233343506303030303031063030303930300000023030000000000006e0d40302e80706e0d40302e70700"
)

func TestOlderVersionsStillRead(t *testing.T) {
	for _, c := range []struct {
		name string
		hex  string
		want Record
	}{
		{"v1 purchase", goldenV1, testRecord(5, testDate)},
		{"v2 batch", goldenV2, testBatchRecord(testDate)},
	} {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !recordsEqual(got, c.want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
		if id, err := recordTxnID(b); err != nil || string(id) != c.want.TxnID {
			t.Fatalf("%s: recordTxnID = %q, %v", c.name, id, err)
		}
	}
}

// testIntent returns the write-ahead intent of testRecord(i, d).
func testIntent(i int, d Date) Record {
	r := testRecord(i, d)
	r.Original = OriginalRef{TxnID: r.TxnID}
	r.TxnID += "-I"
	r.Type, r.Of, r.AuthCode, r.ResponseCode = TypeIntent, TypePurchase, "", ""
	r.Upstream = Upstream{MTI: "0200", STAN: 4711, Transmission: "0314020000"}
	r.Node = 3
	return r
}

func TestVersion3RoundTrip(t *testing.T) {
	intent := testIntent(7, testDate)
	capture := testRecord(7, testDate)
	capture.Upstream = intent.Upstream
	capture.Node = 3
	capture.RequestHash = "00112233445566778899aabbccddeeff"
	capture.Answer = "\x00\x3f\x60\x00\x00\x00\x01binary answer\xff"
	declined := intent
	declined.TxnID = capture.TxnID + "-D"
	declined.Type, declined.ResponseCode, declined.Answer = TypeDeclined, "51", "\x02\x10answer"
	for _, rec := range []Record{intent, capture, declined} {
		if err := rec.Validate(); err != nil {
			t.Fatalf("%s: Validate: %v", rec.Type, err)
		}
		b, _ := rec.AppendBinary(nil)
		var got Record
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", rec.Type, err)
		}
		if !recordsEqual(got, rec) {
			t.Fatalf("%s:\n got %+v\nwant %+v", rec.Type, got, rec)
		}
		for cut := 1; cut < len(b); cut++ {
			if err := got.UnmarshalBinary(b[:cut]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s truncated at %d: err = %v, want ErrCorrupt", rec.Type, cut, err)
			}
		}
	}
}

func TestVersion3Validate(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(*Record)
		field string
	}{
		{"intent without upstream", func(r *Record) { r.Upstream = Upstream{} }, "Upstream"},
		{"intent of a reversal", func(r *Record) { r.Of = TypeReversal }, "Of"},
		{"intent of nothing", func(r *Record) { r.Of = 0 }, "Of"},
		{"node 10", func(r *Record) { r.Node = 10 }, "Node"},
		{"short transmission", func(r *Record) { r.Upstream.Transmission = "0314" }, "Upstream.Transmission"},
		{"upstream MTI letters", func(r *Record) { r.Upstream.MTI = "02A0" }, "Upstream.MTI"},
		{"answer too long", func(r *Record) { r.Answer = string(make([]byte, MaxAnswerLen+1)) }, "Answer"},
	} {
		r := testIntent(1, testDate)
		c.edit(&r)
		var re *RecordError
		if err := r.Validate(); !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: err = %v, want a RecordError on %s", c.name, err, c.field)
		}
	}
	p := testRecord(1, testDate)
	p.Of = TypePurchase
	if err := p.Validate(); err == nil {
		t.Errorf("a purchase with Of set validated")
	}
}
