package routing

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/natsembed/natstest"
)

// TestRecordOnceAfterDuplicateWindow: a record of a reversal whose subject already holds one
// (as after a redelivery later than the duplicate window, which Nats-Msg-Id no longer covers)
// is refused by the server and record reports success; the first record stays alone.
func TestRecordOnceAfterDuplicateWindow(t *testing.T) {
	ns := natstest.Start(t)
	nc := natstest.Connect(t, ns)
	c, err := New(nc, Config{Table: DefaultTable()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := NewForwarder(ctx, c, ForwarderConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rev := Reversal{ID: "txn-1-r000001", Route: "cup", TID: "T.1 *>", RRN: "000000000001"}
	// The first record, under another message id so that de-duplication does not apply.
	first, _ := json.Marshal(DeliveredReversal{Reversal: rev, MTI: "0410", ResponseCode: "00", Attempts: 1})
	if _, err := f.js.Publish(ctx, f.logSubject(&rev), first, jetstream.WithMsgID("earlier")); err != nil {
		t.Fatal(err)
	}
	d := DeliveredReversal{Reversal: rev, MTI: "0430", ResponseCode: "12", Attempts: 3, DeliveredAt: time.Now()}
	if err := f.record(&d); err != nil {
		t.Fatalf("record of an already recorded reversal: %v", err)
	}
	info, err := f.dlog.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("log holds %d records, want 1", info.State.Msgs)
	}
	if !f.delivered(&rev) {
		t.Error("delivered does not find the record")
	}
	other := rev
	other.ID = "txn-2-r000001"
	if f.delivered(&other) {
		t.Error("delivered finds a record of a reversal never delivered")
	}
	got, err := f.Delivered(ctx, DeliveredQuery{TID: "T.1 *>"})
	if err != nil || len(got) != 1 || got[0].ResponseCode != "00" {
		t.Errorf("Delivered by a TID with subject characters = %+v, %v", got, err)
	}
}
