package memstate

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// filledTxn returns a TxnRecord whose every field holds a distinct non-zero value (found by
// reflection, so a field added later is covered without editing this test).
func filledTxn(tb testing.TB, now time.Time, tid string, stan uint32) gateway.TxnRecord {
	tb.Helper()
	var r gateway.TxnRecord
	n := 0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			n++
			switch {
			case f.Type() == reflect.TypeOf(time.Time{}):
				f.Set(reflect.ValueOf(now.Add(-time.Duration(n) * time.Second)))
			case f.Type() == reflect.TypeOf(journal.Date{}):
				f.Set(reflect.ValueOf(journal.DateOf(now)))
			case f.Kind() == reflect.String:
				f.SetString(string(rune('a'+n%26)) + "-field")
			case f.Kind() == reflect.Uint8 || f.Kind() == reflect.Uint32:
				f.SetUint(uint64(n))
			case f.Kind() == reflect.Int64:
				f.SetInt(int64(n) * 1000)
			case f.Kind() == reflect.Struct:
				fill(f)
			default:
				tb.Fatalf("filledTxn: field %s of kind %s", v.Type().Field(i).Name, f.Kind())
			}
		}
	}
	fill(reflect.ValueOf(&r).Elem())
	r.TID, r.STAN = tid, stan
	return r
}

// TestSnapshotRoundTrip: a State loaded from another's snapshot answers as that one did — the
// same answers, transactions (every field), totals that still refuse an entry added before, the
// daily counters — while reservations in progress and expired entries are left behind.
func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_900_000_000, 0).UTC()
	clock := func() time.Time { return now }
	src, err := New(Config{SweepInterval: -1, Now: clock, TotalsTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	date := journal.DateOf(now)
	var txns []gateway.TxnRecord
	for i := range 50 {
		tid := string(rune('A'+i%7)) + "0000001"
		key := gateway.RetransmitKey{TID: tid, Batch: 3, STAN: uint32(i + 1), MTI: "0200"}
		h := gateway.ContentHash{byte(i), 1}
		if _, _, err := src.Reserve(ctx, key, h, time.Hour); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			if err := src.Complete(ctx, key, []byte{byte(i), 2, 3}, time.Hour); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := src.Restore(ctx, key, h, []byte{byte(i), 9}, time.Duration(i+1)*time.Minute); err != nil {
				t.Fatal(err)
			}
		} // case 2: a reservation in progress
		tr := filledTxn(t, now, tid, uint32(i+1))
		txns = append(txns, tr)
		if err := src.PutTxn(ctx, tr); err != nil {
			t.Fatal(err)
		}
		if _, err := src.AddTotals(ctx, tid, 3, tr.ID+string(rune(i)), gateway.Totals{DebitAmount: int64(i), DebitCount: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := src.CountDaily(ctx, tid, date); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := src.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}

	now = now.Add(10 * time.Minute) // answers restored with ttl ≤ 10 min have expired
	dst, err := New(Config{SweepInterval: -1, Now: clock, TotalsTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if ds, n := dst.Digest(); n == 0 || ds != first(src.Digest()) {
		t.Fatalf("digest of the loaded State (%d entries) differs from the original's", n)
	}
	for i, tr := range txns {
		got, err := dst.GetTxn(ctx, tr.Key())
		if err != nil || !reflect.DeepEqual(got, tr) {
			t.Fatalf("txn %d: got %+v, %v\nwant %+v", i, got, err, tr)
		}
		key := gateway.RetransmitKey{TID: tr.TID, Batch: 3, STAN: uint32(i + 1), MTI: "0200"}
		r, resp, err := dst.Reserve(ctx, key, gateway.ContentHash{byte(i), 1}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i%3 == 0 && (r != gateway.ReserveDone || !bytes.Equal(resp, []byte{byte(i), 2, 3})),
			i%3 == 1 && i+1 > 10 && (r != gateway.ReserveDone || !bytes.Equal(resp, []byte{byte(i), 9})),
			i%3 == 1 && i+1 <= 10 && r != gateway.ReserveNew, // expired
			i%3 == 2 && r != gateway.ReserveNew:              // the reservation stayed behind
			t.Errorf("answer %d: reservation %d, response %v", i, r, resp)
		}
	}
	for i := range 7 {
		tid := string(rune('A'+i)) + "0000001"
		want, _ := src.GetTotals(ctx, tid, 3)
		if got, _ := dst.GetTotals(ctx, tid, 3); got != want || want.DebitCount == 0 {
			t.Errorf("totals of %s: %+v, want %+v", tid, got, want)
		}
		first := txns[i]
		again, err := dst.AddTotals(ctx, tid, 3, first.ID+string(rune(i)), gateway.Totals{DebitAmount: 1, DebitCount: 1})
		if err != nil || again != want {
			t.Errorf("totals of %s after re-adding an entry: %+v, %v; want %+v unchanged", tid, again, err, want)
		}
		wantN, _ := src.CountDaily(ctx, tid, date)
		if n, _ := dst.CountDaily(ctx, tid, date); n != wantN {
			t.Errorf("daily count of %s: %d, want %d", tid, n, wantN)
		}
	}
	if err := dst.ReadSnapshot(bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrSnapshot) {
		t.Errorf("ReadSnapshot into a State that is not empty: %v, want ErrSnapshot", err)
	}
	// The digest sees a changed field.
	tr := txns[0]
	tr.Refunded++
	before, _ := dst.Digest()
	if _, err := dst.UpdateTxn(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if after, _ := dst.Digest(); after == before {
		t.Error("digest unchanged by an update")
	}
}

func first[A, B any](a A, _ B) A { return a }

// TestSnapshotDamaged: a truncated or altered snapshot is refused with ErrSnapshot, never a panic.
func TestSnapshotDamaged(t *testing.T) {
	ctx := context.Background()
	src, err := New(Config{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range 20 {
		if err := src.PutTxn(ctx, filledTxn(t, time.Now(), "T0000001", uint32(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := src.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header only", good[:len(snapshotMagic)+8]},
		{"truncated", good[:len(good)/2]},
		{"no end tag", good[:len(good)-1]},
		{"bad tag", append(append([]byte{}, good[:len(snapshotMagic)+8]...), 99, 0)},
		{"length beyond the data", append(append([]byte{}, good[:len(snapshotMagic)+8]...), tagTxn, 200, 1)},
		{"short entry", append(append([]byte{}, good[:len(snapshotMagic)+8]...), tagTxn, 1, 5, tagEnd)},
	} {
		dst, err := New(Config{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.ReadSnapshot(bytes.NewReader(c.b)); !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: %v, want ErrSnapshot", c.name, err)
		}
		dst.Close()
	}
}

// FuzzReadSnapshot: any byte string is loaded or refused with ErrSnapshot, never a panic, and
// what loads writes out again as a snapshot that loads to the same digest.
func FuzzReadSnapshot(f *testing.F) {
	ctx := context.Background()
	src, err := New(Config{SweepInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer src.Close()
	now := time.Now()
	for i := range 3 {
		tr := filledTxn(f, now, "T0000001", uint32(i+1))
		if err := src.PutTxn(ctx, tr); err != nil {
			f.Fatal(err)
		}
		if _, err := src.AddTotals(ctx, tr.TID, 1, tr.ID, gateway.Totals{DebitAmount: 5, DebitCount: 1}); err != nil {
			f.Fatal(err)
		}
		key := gateway.RetransmitKey{TID: tr.TID, Batch: 1, STAN: tr.STAN, MTI: "0200"}
		if err := src.Restore(ctx, key, gateway.ContentHash{1}, []byte("answer"), time.Hour); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := src.CountDaily(ctx, "T0000001", journal.DateOf(now)); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(snapshotMagic + "12345678\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		small := Config{SweepInterval: -1, Shards: 2, MaxTxns: 16, MaxResponses: 16} // New is cheap
		st, err := New(small)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.ReadSnapshot(bytes.NewReader(b)); err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("error %v is not ErrSnapshot", err)
			}
			return
		}
		var out bytes.Buffer
		if err := st.WriteSnapshot(&out); err != nil {
			t.Fatal(err)
		}
		again, err := New(small)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if err := again.ReadSnapshot(&out); err != nil {
			t.Fatalf("a snapshot written from a loaded one does not load: %v", err)
		}
		if a, _ := st.Digest(); a != first(again.Digest()) {
			t.Fatal("digest changed across a write and a load")
		}
	})
}
