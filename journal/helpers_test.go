package journal

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
)

// testDate is the business date most tests write to.
var testDate = NewDate(2026, time.March, 14)

// testRecord returns a valid purchase record numbered i on business date d.
func testRecord(i int, d Date) Record {
	req := time.Date(d.Year(), d.Month(), d.Day(), 2, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return Record{
		TxnID:          fmt.Sprintf("T%s-%08d", d, i),
		Type:           TypePurchase,
		MTI:            "0200",
		ProcessingCode: "000000",
		Amount:         int64(100 + i),
		Currency:       "156",
		MaskedPAN:      "622588******1234",
		PANToken:       "tok_3f9a1c0b7e",
		CardKind:       CardDebit,
		TID:            "12345678",
		MID:            "123456789012345",
		Batch:          "000001",
		STAN:           fmt.Sprintf("%06d", i%1000000),
		RRN:            fmt.Sprintf("%012d", i),
		AuthCode:       "A1B2C3",
		ResponseCode:   "00",
		Route:          "cup",
		RequestTime:    req,
		ResponseTime:   req.Add(120 * time.Millisecond),
		BusinessDate:   d,
	}
}

// startJournal starts an embedded server and a Journal on it, closed in Cleanup.
func startJournal(tb testing.TB, cfg Config) (*Journal, *natsembed.Server, *nats.Conn) {
	tb.Helper()
	srv := natstest.Start(tb)
	nc := natstest.Connect(tb, srv)
	return openJournal(tb, nc, cfg), srv, nc
}

// openJournal opens a Journal on nc and closes it in Cleanup.
func openJournal(tb testing.TB, nc *nats.Conn, cfg Config) *Journal {
	tb.Helper()
	var log *zap.Logger
	if t, ok := tb.(*testing.T); ok {
		log = zaptest.NewLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := New(ctx, nc, cfg, log)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := j.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return j
}

// readAll reads date d into a slice.
func readAll(tb testing.TB, j *Journal, d Date) []Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Record
	if err := j.Read(ctx, d, func(r Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		tb.Fatalf("Read(%s): %v", d, err)
	}
	return out
}
