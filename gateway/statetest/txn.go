package statetest

import (
	"errors"
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// record returns a transaction with every field set to a value other than its zero value.
func record(tid string, batch, stan uint32) gateway.TxnRecord {
	return gateway.TxnRecord{
		ID:                   "20250301.n1.000000123",
		Type:                 journal.TypeRefund,
		TID:                  tid,
		MID:                  mid1,
		Batch:                batch,
		STAN:                 stan,
		LocalDate:            "0301",
		Amount:               123456789,
		Currency:             "156",
		MaskedPAN:            "622202******3456",
		PANToken:             "tok_5f2b9c0e7d41a8",
		Kind:                 journal.CardCredit,
		RRN:                  "506012345678",
		AuthCode:             "A1B2C3",
		Response:             "00",
		Route:                "cup",
		UpstreamMTI:          "0220",
		UpstreamSTAN:         987654,
		UpstreamTransmission: "0301081530",
		BusinessDate:         journal.NewDate(2025, time.March, 1),
		Status:               gateway.TxnReversed,
		Refunded:             1000,
		Completed:            2000,
		Original:             gateway.TxnKey{TID: tid, Batch: batch - 1, STAN: 999999},
		CreatedAt:            time.Date(2025, 3, 1, 8, 15, 30, 123456789, time.FixedZone("CST", 8*3600)),
	}
}

// sameRecord fails unless got equals want field by field (CreatedAt as an instant).
func sameRecord(t *testing.T, what string, got, want gateway.TxnRecord) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("%s: CreatedAt = %v, want %v", what, got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func (e *env) mustPut(t *testing.T, rec gateway.TxnRecord) {
	t.Helper()
	if err := e.PutTxn(e.ctx, rec); err != nil {
		t.Fatalf("PutTxn(%+v): %v", rec.Key(), err)
	}
}

func (e *env) mustGet(t *testing.T, key gateway.TxnKey) gateway.TxnRecord {
	t.Helper()
	got, err := e.GetTxn(e.ctx, key)
	if err != nil {
		t.Fatalf("GetTxn(%+v): %v", key, err)
	}
	return got
}

// testTxnRoundTrip: every field survives PutTxn and GetTxn, for full and minimal records.
func testTxnRoundTrip(t *testing.T, e *env) {
	tests := []struct {
		name string
		rec  gateway.TxnRecord
	}{
		{"AllFields", record(tid1, 2, 11)},
		{"Minimal", gateway.TxnRecord{TID: tid1, Batch: 2, STAN: 12}},
		{"Extremes", func() gateway.TxnRecord {
			r := record(tid2, 999999, 999999)
			r.Amount, r.Refunded, r.Completed = 1<<62, -1, -(1 << 62)
			r.Version = 41
			r.CreatedAt = time.Date(1999, 12, 31, 23, 59, 59, 1, time.UTC)
			r.UpstreamSTAN = 1<<32 - 1
			r.MID = `商户 "quoted" \ `
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.mustPut(t, tt.rec)
			sameRecord(t, "GetTxn", e.mustGet(t, tt.rec.Key()), tt.rec)
		})
	}
}

// testTxnExists: a second PutTxn under a taken key fails and leaves the first record.
func testTxnExists(t *testing.T, e *env) {
	first := record(tid1, 3, 21)
	e.mustPut(t, first)
	second := first
	second.Amount, second.ID = 1, "other"
	wantErr(t, "second PutTxn", e.PutTxn(e.ctx, second), gateway.ErrExists)
	sameRecord(t, "GetTxn after a refused PutTxn", e.mustGet(t, first.Key()), first)
	// The same STAN in another batch or terminal is another transaction.
	for _, k := range []gateway.TxnKey{{TID: tid1, Batch: 4, STAN: 21}, {TID: tid2, Batch: 3, STAN: 21}} {
		e.mustPut(t, record(k.TID, k.Batch, k.STAN))
	}
}

// testTxnNotFound: GetTxn and UpdateTxn of an unknown key are ErrNotFound.
func testTxnNotFound(t *testing.T, e *env) {
	e.mustPut(t, record(tid1, 5, 31))
	for _, k := range []gateway.TxnKey{{TID: tid1, Batch: 5, STAN: 32}, {TID: tid1, Batch: 6, STAN: 31}, {TID: tid2, Batch: 5, STAN: 31}} {
		_, err := e.GetTxn(e.ctx, k)
		wantErr(t, "GetTxn", err, gateway.ErrNotFound)
		_, err = e.UpdateTxn(e.ctx, record(k.TID, k.Batch, k.STAN))
		wantErr(t, "UpdateTxn", err, gateway.ErrNotFound)
	}
}

// testTxnUpdate: UpdateTxn is a compare-and-set on Version that replaces every field and
// increments Version; a stale Version is ErrConflict and changes nothing.
func testTxnUpdate(t *testing.T, e *env) {
	rec := record(tid1, 7, 41)
	rec.Status = gateway.TxnApproved
	rec.Refunded = 0
	e.mustPut(t, rec)

	v1 := rec
	v1.Status, v1.Refunded, v1.Response, v1.CreatedAt = gateway.TxnVoided, 500, "22", rec.CreatedAt.Add(time.Second)
	got, err := e.UpdateTxn(e.ctx, v1)
	if err != nil {
		t.Fatalf("UpdateTxn: %v", err)
	}
	want := v1
	want.Version = 1
	sameRecord(t, "UpdateTxn result", got, want)
	sameRecord(t, "GetTxn after UpdateTxn", e.mustGet(t, rec.Key()), want)

	stale := v1 // still Version 0
	stale.Refunded = 9999
	_, err = e.UpdateTxn(e.ctx, stale)
	wantErr(t, "UpdateTxn from a stale version", err, gateway.ErrConflict)
	ahead := got
	ahead.Version = 5
	_, err = e.UpdateTxn(e.ctx, ahead)
	wantErr(t, "UpdateTxn from a future version", err, gateway.ErrConflict)
	sameRecord(t, "GetTxn after refused updates", e.mustGet(t, rec.Key()), want)

	got.Completed = 42
	got2, err := e.UpdateTxn(e.ctx, got)
	if err != nil {
		t.Fatalf("second UpdateTxn: %v", err)
	}
	if got2.Version != 2 || got2.Completed != 42 {
		t.Errorf("second UpdateTxn = version %d, completed %d; want 2, 42", got2.Version, got2.Completed)
	}
	if err := e.PutTxn(e.ctx, rec); !errors.Is(err, gateway.ErrExists) {
		t.Errorf("PutTxn over an updated record: %v, want ErrExists", err)
	}
}
