package journal

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/natsembed/natstest"
)

const benchWriters = 64

// runWriters splits b.N appends over benchWriters goroutines and reports
// appends/s (every append durable: the embedded server fsyncs before acking).
func runWriters(b *testing.B, appendOne func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < benchWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := appendOne(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
}

// BenchmarkAppendDurable64 measures Journal.Append (group commit) with 64
// concurrent writers.
func BenchmarkAppendDurable64(b *testing.B) {
	j, _, _ := startJournal(b, Config{})
	run := fmt.Sprintf("b%d-", time.Now().UnixNano())
	ctx := context.Background()
	runWriters(b, func(i int) error {
		rec := testRecord(i, testDate)
		rec.TxnID = fmt.Sprintf("%s%d", run, i)
		return j.Append(ctx, rec)
	})
	st := j.Stats()
	if st.Segments > 0 {
		b.ReportMetric(float64(st.Appended)/float64(st.Segments), "records/fsync")
	}
}

// BenchmarkAppendSyncBaseline64 is the baseline: one synchronous JetStream
// publish per record (Nats-Msg-Id = TxnID), fsync on, 64 concurrent writers.
func BenchmarkAppendSyncBaseline64(b *testing.B) {
	srv := natstest.Start(b)
	nc := natstest.Connect(b, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "BASELINE", Subjects: []string{"baseline.>"}, Storage: jetstream.FileStorage,
		Duplicates: DefaultDuplicateWindow,
	}); err != nil {
		b.Fatal(err)
	}
	runWriters(b, func(i int) error {
		rec := testRecord(i, testDate)
		payload, _ := rec.AppendBinary(nil)
		msg := &nats.Msg{Subject: "baseline." + testDate.String(), Data: payload, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, rec.TxnID)
		_, err := js.PublishMsg(ctx, msg)
		return err
	})
}

// BenchmarkRead measures decoding throughput of Read over 50k records.
func BenchmarkRead(b *testing.B) {
	j, _, _ := startJournal(b, Config{})
	const n = 50_000
	var wg sync.WaitGroup
	for w := 0; w < benchWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += benchWriters {
				if err := j.Append(context.Background(), testRecord(i, testDate)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		got := 0
		if err := j.Read(context.Background(), testDate, func(Record) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
