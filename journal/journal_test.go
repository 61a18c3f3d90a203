package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
)

func TestAppendReadInOrder(t *testing.T) {
	j, _, _ := startJournal(t, Config{})
	ctx := context.Background()
	other := testDate.AddDays(1)
	types := []TxnType{TypePurchase, TypePreAuth, TypeRefund, TypeVoid, TypeReversal, TypeCompletion, TypePreAuthVoid, TypeCompletionVoid}
	var want []Record
	for i := 0; i < 300; i++ {
		d := testDate
		if i%3 == 2 {
			d = other
		}
		rec := testRecord(i, d)
		rec.Type = types[i%len(types)]
		if rec.Type.NeedsOriginal() {
			rec.MTI, rec.ProcessingCode = "0200", "200000"
			rec.Original = OriginalRef{TxnID: fmt.Sprintf("orig-%d", i), RRN: "000000000001", Batch: "000001", STAN: "000007", Date: testDate}
		}
		rec.CardKind = CardKind(1 + i%3)
		if err := j.Append(ctx, rec); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if d == testDate {
			want = append(want, rec)
		}
	}
	got := readAll(t, j, testDate)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !recordsEqual(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if n := len(readAll(t, j, other)); n != 100 {
		t.Errorf("other date: read %d records, want 100", n)
	}
	if n := len(readAll(t, j, other.AddDays(1))); n != 0 {
		t.Errorf("empty date: read %d records, want 0", n)
	}
}

// recordsEqual compares records, times by instant.
func recordsEqual(a, b Record) bool {
	if !a.RequestTime.Equal(b.RequestTime) || !a.ResponseTime.Equal(b.ResponseTime) {
		return false
	}
	a.RequestTime, b.RequestTime, a.ResponseTime, b.ResponseTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestConcurrentWritersKeepPerWriterOrder(t *testing.T) {
	j, _, _ := startJournal(t, Config{MaxBatch: 16})
	const writers, each = 16, 100
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				rec := testRecord(w*each+i, testDate)
				rec.TID = fmt.Sprintf("W%07d", w)
				if err := j.Append(context.Background(), rec); err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := readAll(t, j, testDate)
	if len(got) != writers*each {
		t.Fatalf("read %d records, want %d", len(got), writers*each)
	}
	last := map[string]int64{}
	for _, r := range got {
		if prev, ok := last[r.TID]; ok && r.Amount <= prev {
			t.Fatalf("writer %s: amount %d read after %d, want append order", r.TID, r.Amount, prev)
		}
		last[r.TID] = r.Amount
	}
	if st := j.Stats(); st.Appended != writers*each || st.Segments == 0 || st.Segments > st.Appended {
		t.Errorf("stats = %+v", st)
	}
}

func TestDuplicateAppendsStoreOneRecord(t *testing.T) {
	tests := []struct {
		name       string
		concurrent int // appends of the same TxnID at once
		sequential int // further appends after the first is acknowledged
	}{
		{"sequential", 1, 4},
		{"concurrent", 50, 0},
		{"concurrent then sequential", 20, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, _, _ := startJournal(t, Config{})
			rec := testRecord(7, testDate)
			var wg sync.WaitGroup
			errs := make(chan error, tt.concurrent)
			for i := 0; i < tt.concurrent; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- j.Append(context.Background(), rec)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("concurrent Append: %v", err)
				}
			}
			for i := 0; i < tt.sequential; i++ {
				if err := j.Append(context.Background(), rec); err != nil {
					t.Fatalf("repeat Append %d: %v", i, err)
				}
			}
			total := tt.concurrent + tt.sequential
			st := j.Stats()
			if st.Appended != 1 || st.Duplicates != uint64(total-1) {
				t.Errorf("stats = %+v, want 1 appended and %d duplicates", st, total-1)
			}
			got := readAll(t, j, testDate)
			if len(got) != 1 || got[0].TxnID != rec.TxnID {
				t.Fatalf("read %d records, want exactly the one appended", len(got))
			}
		})
	}
}

// Two Journals (two gateway nodes) cannot see each other's in-process state, so
// the same TxnID lands in two segments; Read must return it once, keeping the
// first.
func TestReadDeduplicatesAcrossWriters(t *testing.T) {
	srv := natstest.Start(t)
	nc1 := natstest.Connect(t, srv)
	nc2 := natstest.Connect(t, srv)
	j1 := openJournal(t, nc1, Config{})
	j2 := openJournal(t, nc2, Config{})
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if err := j1.Append(ctx, testRecord(i, testDate)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 25; i < 75; i++ { // 25..49 are duplicates
		rec := testRecord(i, testDate)
		rec.Route = "node2"
		if err := j2.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, j2, testDate)
	if len(got) != 75 {
		t.Fatalf("read %d records, want 75 distinct", len(got))
	}
	seen := map[string]bool{}
	for i, r := range got {
		if seen[r.TxnID] {
			t.Fatalf("TxnID at %d returned twice", i)
		}
		seen[r.TxnID] = true
		if i < 50 && r.Route != "cup" {
			t.Fatalf("record %d comes from the second writer, want the first occurrence kept", i)
		}
	}
}

func TestAppendContext(t *testing.T) {
	j, _, _ := startJournal(t, Config{})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	rec := testRecord(1, testDate)
	if err := j.Append(cancelled, rec); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with cancelled ctx = %v, want context.Canceled", err)
	}
	if got := readAll(t, j, testDate); len(got) != 0 {
		t.Fatalf("cancelled Append stored %d records, want 0", len(got))
	}
	if st := j.Stats(); st.Appended != 0 {
		t.Fatalf("stats after cancelled append = %+v", st)
	}
	// The same TxnID can be appended afterwards.
	if err := j.Append(context.Background(), rec); err != nil {
		t.Fatalf("Append after cancelled attempt: %v", err)
	}
	if got := readAll(t, j, testDate); len(got) != 1 {
		t.Fatalf("read %d records, want 1", len(got))
	}
}

func TestCloseFlushesPendingAppends(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	// A long linger keeps records queued until Close forces the commit.
	j, err := New(context.Background(), nc, Config{MaxDelay: time.Second, MaxBatch: 1000}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- j.Append(context.Background(), testRecord(i, testDate))
		}()
	}
	// Wait until every append is accepted, then close while they are pending.
	deadline := time.Now().Add(10 * time.Second)
	for {
		j.mu.Lock()
		accepted := len(j.inflight)
		j.mu.Unlock()
		if accepted == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("pending Append returned %v, want nil after Close flushed it", err)
		}
	}
	if err := j.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := j.Append(ctx, testRecord(n, testDate)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	reader := openJournal(t, nc, Config{})
	if got := readAll(t, reader, testDate); len(got) != n {
		t.Fatalf("read %d records after Close, want %d", len(got), n)
	}
}

func TestRestartKeepsAcknowledgedRecords(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.StartWithConfig(t, natsembed.Config{DataDir: dir})
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	j, err := New(context.Background(), nc, Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var wg sync.WaitGroup
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 10 {
				if err := j.Append(context.Background(), testRecord(i, testDate)); err != nil {
					t.Errorf("Append %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	// Stop the server under the journal: no Close, no flush beyond what each
	// acknowledgement already guaranteed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if err := j.Close(ctx); err != nil {
		t.Fatal(err)
	}

	srv2 := natstest.StartWithConfig(t, natsembed.Config{DataDir: dir})
	j2 := openJournal(t, natstest.Connect(t, srv2), Config{})
	got := readAll(t, j2, testDate)
	if len(got) != n {
		t.Fatalf("after restart read %d records, want %d", len(got), n)
	}
	seen := make(map[string]bool, n)
	for _, r := range got {
		seen[r.TxnID] = true
	}
	for i := 0; i < n; i++ {
		if id := testRecord(i, testDate).TxnID; !seen[id] {
			t.Fatalf("record %d missing after restart", i)
		}
	}
}

const (
	canaryPAN = "6225887301946285517"
	// canaryMiddle is the part of the canary that masking hides.
	canaryMiddle = "730194628"
)

// TestNoClearPANStored pushes a canary PAN at the journal: as MaskedPAN and as
// PANToken it is rejected without echoing it; properly masked and tokenized it
// is stored, and then no byte on disk, no log line and no error holds it.
func TestNoClearPANStored(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	dir := t.TempDir()
	srv := natstest.StartWithConfig(t, natsembed.Config{DataDir: dir})
	nc := natstest.Connect(t, srv)
	j, err := New(context.Background(), nc, Config{}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	bad := []struct {
		name string
		mod  func(*Record)
	}{
		{"clear PAN as MaskedPAN", func(r *Record) { r.MaskedPAN = canaryPAN }},
		{"partly masked PAN", func(r *Record) { r.MaskedPAN = canaryPAN[:8] + "*******" + canaryPAN[15:] }},
		{"clear PAN as token", func(r *Record) { r.PANToken = canaryPAN }},
	}
	for _, tt := range bad {
		rec := testRecord(1, testDate)
		tt.mod(&rec)
		err := j.Append(ctx, rec)
		if !errors.Is(err, ErrNotMasked) {
			t.Errorf("%s: Append = %v, want ErrNotMasked", tt.name, err)
			continue
		}
		if strings.Contains(err.Error(), canaryMiddle) {
			t.Errorf("%s: error text holds card digits", tt.name)
		}
	}

	rec := testRecord(2, testDate)
	rec.MaskedPAN = canaryPAN[:6] + "*********" + canaryPAN[15:]
	rec.PANToken = "hmac-7d1f0c22a9b4e5"
	if err := j.Append(ctx, rec); err != nil {
		t.Fatalf("Append masked canary: %v", err)
	}
	got := readAll(t, j, testDate)
	if len(got) != 1 || got[0].MaskedPAN != rec.MaskedPAN {
		t.Fatalf("read back %d records", len(got))
	}
	if err := j.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte(canaryMiddle)) {
			t.Errorf("%s holds the canary's hidden digits", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no JetStream files written")
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, canaryMiddle) {
			t.Errorf("log line holds card digits: %q", e.Message)
		}
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	j, _, _ := startJournal(t, Config{})
	for i := 0; i < 20; i++ {
		if err := j.Append(context.Background(), testRecord(i, testDate)); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop here")
	calls := 0
	err := j.Read(context.Background(), testDate, func(Record) error {
		calls++
		if calls == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 5 {
		t.Fatalf("Read = %v after %d calls, want the callback's error after 5", err, calls)
	}
	if err := j.Read(context.Background(), Date{}, func(Record) error { return nil }); !errors.Is(err, ErrInvalidDate) {
		t.Fatalf("Read(zero date) = %v, want ErrInvalidDate", err)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	_, err := New(context.Background(), nc, Config{MaxBatch: -1}, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "MaxBatch" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New = %v, want ConfigError on MaxBatch", err)
	}
}

func TestReadLeavesNoConsumers(t *testing.T) {
	j, _, _ := startJournal(t, Config{})
	if err := j.Append(context.Background(), testRecord(1, testDate)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if n := len(readAll(t, j, testDate)); n != 1 {
			t.Fatalf("read %d records, want 1", n)
		}
	}
	info, err := j.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d consumers left after reads, want 0", info.State.Consumers)
	}
}

// TestReadRangeBetweenPositions: a range read returns exactly the records of its date appended
// between two positions, in order — what a checkpoint lacks.
func TestReadRangeBetweenPositions(t *testing.T) {
	j, _, _ := startJournal(t, Config{})
	ctx := context.Background()
	other := testDate.AddDays(1)
	var recs []Record
	appendN := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			d := testDate
			if i%4 == 3 {
				d = other
			}
			rec := testRecord(i, d)
			if err := j.Append(ctx, rec); err != nil {
				t.Fatalf("Append %d: %v", i, err)
			}
			if d == testDate {
				recs = append(recs, rec)
			}
		}
	}
	position := func() Position {
		t.Helper()
		p, err := j.Position(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	readRange := func(r Range) []Record {
		t.Helper()
		var out []Record
		if err := j.ReadRange(ctx, testDate, r, func(rec Record) error {
			out = append(out, rec)
			return nil
		}); err != nil {
			t.Fatalf("ReadRange(%+v): %v", r, err)
		}
		return out
	}
	appendN(0, 40)
	p1, n1 := position(), len(recs)
	appendN(40, 40)
	p2, n2 := position(), len(recs)
	appendN(80, 12)
	if p1.Stream != DefaultStream || p1.Created.IsZero() || p2.Created != p1.Created || p2.Last <= p1.Last {
		t.Fatalf("positions %+v then %+v", p1, p2)
	}
	for _, c := range []struct {
		r    Range
		want []Record
	}{
		{Range{}, recs},
		{Range{UpTo: p1.Last}, recs[:n1]},
		{Range{After: p1.Last, UpTo: p2.Last}, recs[n1:n2]},
		{Range{After: p2.Last}, recs[n2:]},
		{Range{After: p2.Last, UpTo: p1.Last}, nil},
		{Range{After: position().Last}, nil},
	} {
		got := readRange(c.r)
		if len(got) != len(c.want) {
			t.Fatalf("ReadRange(%+v): %d records, want %d", c.r, len(got), len(c.want))
		}
		for i := range got {
			if !recordsEqual(got[i], c.want[i]) {
				t.Fatalf("ReadRange(%+v) record %d: got %s, want %s", c.r, i, got[i].TxnID, c.want[i].TxnID)
			}
		}
	}
}

// TestReadRangeSince: a range that starts at a time returns the records of its date stored
// from then on — what a node adopting a dead node's intents reads — and no earlier ones.
func TestReadRangeSince(t *testing.T) {
	j, _, _ := startJournal(t, Config{})
	ctx := context.Background()
	var recs []Record
	var since time.Time
	for i := range 30 {
		if i == 20 {
			p, err := j.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			m, err := j.stream.GetMsg(ctx, p.Last)
			if err != nil {
				t.Fatal(err)
			}
			since = m.Time.Add(time.Nanosecond)
			// The server stamps segments with its own clock: let it move past the first 20.
			time.Sleep(5 * time.Millisecond)
		}
		rec := testRecord(i, testDate)
		if err := j.Append(ctx, rec); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		recs = append(recs, rec)
	}
	var got []Record
	if err := j.ReadRange(ctx, testDate, Range{Since: since}, func(rec Record) error {
		got = append(got, rec)
		return nil
	}); err != nil {
		t.Fatalf("ReadRange(Since): %v", err)
	}
	if len(got) != 10 {
		t.Fatalf("ReadRange(Since): %d records, want the last 10", len(got))
	}
	for k := range got {
		if !recordsEqual(got[k], recs[20+k]) {
			t.Fatalf("record %d: got %s, want %s", k, got[k].TxnID, recs[20+k].TxnID)
		}
	}
	if err := j.ReadRange(ctx, testDate, Range{After: 1, Since: since}, func(Record) error { return nil }); err == nil {
		t.Fatal("a range after a sequence and since a time was accepted")
	}
}
