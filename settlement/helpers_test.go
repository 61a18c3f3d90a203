package settlement

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed/natstest"
)

// day0 is the first business date tests use; cases take one date each.
var day0 = journal.NewDate(2026, time.March, 1)

const (
	testMID = "898310000000001"
	testTID = "10000001"
)

// testJournal is a real JetStream journal on an in-process server.
type testJournal struct {
	j  *journal.Journal
	nc *nats.Conn
}

func startJournal(t testing.TB) *testJournal {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	return &testJournal{j: openJournal(t, nc), nc: nc}
}

func openJournal(t testing.TB, nc *nats.Conn) *journal.Journal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := journal.New(ctx, nc, journal.Config{}, nil)
	if err != nil {
		t.Fatalf("journal.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Close(ctx)
	})
	return j
}

func appendAll(t testing.TB, j *journal.Journal, recs ...journal.Record) {
	t.Helper()
	for _, r := range recs {
		if err := j.Append(context.Background(), r); err != nil {
			t.Fatalf("Append %s: %v", r.TxnID, err)
		}
	}
}

// txn builds an approved financial record of business date d.
func txn(d journal.Date, id string, typ journal.TxnType, kind journal.CardKind, amount int64, mods ...func(*journal.Record)) journal.Record {
	cal := journal.Calendar{}
	at := cal.CutOffTime(d.AddDays(-1)).Add(11 * time.Hour) // 10:00 local on d
	r := journal.Record{
		TxnID: d.String() + "-" + id, Type: typ, MTI: "0200", ProcessingCode: "000000", Amount: amount, Currency: "156",
		MaskedPAN: "622588******1234", PANToken: "tok1", CardKind: kind, TID: testTID, MID: testMID,
		Batch: "000001", STAN: fmt.Sprintf("%06d", len(id)), RRN: "000000000001", AuthCode: "123456",
		ResponseCode: "00", Route: "cup", RequestTime: at, ResponseTime: at.Add(time.Second), BusinessDate: d,
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func of(orig string, date journal.Date) func(*journal.Record) {
	return func(r *journal.Record) {
		r.Original = journal.OriginalRef{TxnID: date.String() + "-" + orig, Date: date}
	}
}

func reversal(d journal.Date, orig journal.Record) journal.Record {
	return txn(d, "", journal.TypeReversal, orig.CardKind, orig.Amount, func(r *journal.Record) {
		r.TxnID, r.Original = orig.TxnID+"-R", journal.OriginalRef{TxnID: orig.TxnID, Date: orig.BusinessDate}
		r.ResponseCode, r.MTI, r.STAN, r.Batch, r.TID, r.MID = "06", "0400", orig.STAN, orig.Batch, orig.TID, orig.MID
	})
}

func withMID(mid string) func(*journal.Record) { return func(r *journal.Record) { r.MID = mid } }

func newSettler(t testing.TB, src Source, cfg Config, m Merchants, runs RunStore) *Settler {
	t.Helper()
	if cfg.TempDir == "" {
		cfg.TempDir = t.TempDir()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }
	}
	if cfg.Node == "" {
		cfg.Node = "test"
	}
	if m == nil {
		m = MerchantTable{testMID: {MID: testMID, Name: "Test, \"Shop\"", Account: "6222000011112222"}}
	}
	if runs == nil {
		runs = &MemRuns{}
	}
	var log = zaptest.NewLogger(t.(*testing.T))
	s, err := New(cfg, src, m, runs, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func readSummary(t testing.TB, dir string) Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// readCSV returns the rows of a CSV file as maps by header name.
func readCSV(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func atoi(t testing.TB, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return v
}

// checkFiles verifies the files against each other: rows sum to the merchants' totals, the
// merchants to the summary, every net = gross − refunds − fees, hashes match.
func checkFiles(t testing.TB, dir string) Summary {
	t.Helper()
	sum := readSummary(t, dir)
	if sum.NetFen != sum.GrossFen-sum.RefundsFen-sum.FeesFen {
		t.Errorf("summary: net %d != gross %d - refunds %d - fees %d", sum.NetFen, sum.GrossFen, sum.RefundsFen, sum.FeesFen)
	}
	var g, r, f, n int64
	for _, m := range readCSV(t, filepath.Join(dir, FileMerchants)) {
		mg, mr, mf, mn := atoi(t, m["gross_fen"]), atoi(t, m["refunds_fen"]), atoi(t, m["fees_fen"]), atoi(t, m["net_fen"])
		if mn != mg-mr-mf {
			t.Errorf("merchant %s: net %d != %d - %d - %d", m["mid"], mn, mg, mr, mf)
		}
		g, r, f, n = g+mg, r+mr, f+mf, n+mn
	}
	if g != sum.GrossFen || r != sum.RefundsFen || f != sum.FeesFen || n != sum.NetFen {
		t.Errorf("merchants.csv sums %d/%d/%d/%d, summary %d/%d/%d/%d", g, r, f, n, sum.GrossFen, sum.RefundsFen, sum.FeesFen, sum.NetFen)
	}
	var rn, rf int64
	rows := readCSV(t, filepath.Join(dir, FileTransactions))
	for _, row := range rows {
		rn += atoi(t, row["net_fen"])
		rf += atoi(t, row["fee_fen"])
	}
	if rn != sum.NetFen || rf != sum.FeesFen || int64(len(rows)) != sum.Transactions {
		t.Errorf("transactions.csv: %d rows net %d fees %d; summary %d rows net %d fees %d", len(rows), rn, rf, sum.Transactions, sum.NetFen, sum.FeesFen)
	}
	for _, fi := range sum.Files {
		b, err := os.ReadFile(filepath.Join(dir, fi.Name))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256hex(b); got != fi.SHA256 || int64(len(b)) != fi.Bytes {
			t.Errorf("%s: sha256 %s (%d bytes), summary says %s (%d)", fi.Name, got, len(b), fi.SHA256, fi.Bytes)
		}
	}
	return sum
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
