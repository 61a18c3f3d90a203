package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/settlement"
)

func settleCLI(t *testing.T, now time.Time, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	st := settle(context.Background(), args, &out, &errb, func() time.Time { return now })
	return st, out.String(), errb.String()
}

func appendPurchase(t *testing.T, j *journal.Journal, d journal.Date, id string, amount int64) {
	t.Helper()
	at := journal.Calendar{}.CutOffTime(d).Add(-time.Hour)
	err := j.Append(context.Background(), journal.Record{TxnID: id, Type: journal.TypePurchase, MTI: "0200",
		ProcessingCode: "000000", Amount: amount, Currency: "156", MaskedPAN: "622588******1234", CardKind: journal.CardDebit,
		TID: "10000001", MID: "898310000000001", Batch: "000001", STAN: "000001", ResponseCode: "00",
		RequestTime: at, BusinessDate: d})
	if err != nil {
		t.Fatal(err)
	}
}

// settleFixture journals one purchase of 100.00 on 2026-03-14 through nc and writes a
// merchants file for it into dir.
func settleFixture(t *testing.T, nc *nats.Conn, dir string) (mfile string) {
	t.Helper()
	j, err := journal.New(context.Background(), nc, journal.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close(context.Background()) })
	appendPurchase(t, j, journal.NewDate(2026, time.March, 14), "p1", 10000)
	mfile = filepath.Join(dir, "merchants.csv")
	if err := os.WriteFile(mfile, []byte("mid,name,account,fee_plan\n898310000000001,Shop,622200001,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return mfile
}

func TestSettleCommand(t *testing.T) {
	srv := natstest.Start(t)
	dir := t.TempDir()
	mfile := settleFixture(t, natstest.Connect(t, srv), dir)
	out := filepath.Join(dir, "out")
	after := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	args := []string{"--date", "2026-03-14", "--out", out, "--nats", srv.ClientURL(), "--merchants", mfile, "--tmp", dir}

	st, stdout, stderr := settleCLI(t, after, args...)
	if st != exitOK {
		t.Fatalf("status %d, stderr %s", st, stderr)
	}
	var rec settlement.RunRecord
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec.Summary == nil {
		t.Fatalf("stdout is not a run record: %v\n%s", err, stdout)
	}
	if rec.Summary.GrossFen != 10000 || rec.Summary.FeesFen != 50 || rec.Summary.NetFen != 9950 || rec.Run != 1 {
		t.Fatalf("summary %+v", rec.Summary)
	}
	for _, f := range settlement.Files {
		if _, err := os.Stat(filepath.Join(out, "20260314", f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// Settled already: one line, non-zero.
	st, _, stderr = settleCLI(t, after, args...)
	if st != exitFail || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--rerun") {
		t.Fatalf("second run: status %d, stderr %q", st, stderr)
	}
	st, _, stderr = settleCLI(t, after, append(args, "--rerun")...)
	if st != exitOK || !strings.Contains(stderr, "RE-RUN #2") || !strings.Contains(stderr, "byte-identical") {
		t.Fatalf("re-run: status %d, stderr %q", st, stderr)
	}
	// The cut-off of 2026-03-15 has not passed.
	open := append([]string{}, args...)
	open[1] = "2026-03-15"
	st, _, stderr = settleCLI(t, after, open...)
	if st != exitFail || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--allow-open") {
		t.Fatalf("open date: status %d, stderr %q", st, stderr)
	}
	if st, _, _ = settleCLI(t, after, append(open, "--allow-open")...); st != exitOK {
		t.Fatalf("--allow-open: status %d", st)
	}
	for _, bad := range [][]string{{}, {"--date", "14.03.2026"}, {"--date", "2026-03-14", "--cut-off", "25:00"},
		{"--date", "2026-03-14", "--nats", "nats://127.0.0.1:1"}} {
		if st, _, stderr := settleCLI(t, after, bad...); st != exitUsage || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: status %d, stderr %q", bad, st, stderr)
		}
	}
}

// Without --nats and with no server running, settle starts the embedded server on DATA/nats.
func TestSettleCommandEmbedded(t *testing.T) {
	data := t.TempDir()
	srv := natstest.StartWithConfig(t, natsembed.Config{DataDir: filepath.Join(data, "nats")})
	nc := natstest.Connect(t, srv)
	j, err := journal.New(context.Background(), nc, journal.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := journal.NewDate(2026, time.March, 14)
	appendPurchase(t, j, d, "p1", 2500)
	_ = j.Close(context.Background())
	nc.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A stale nats.url (no server there) is ignored.
	_ = os.WriteFile(filepath.Join(data, "nats.url"), []byte("nats://127.0.0.1:1\n"), 0o600)
	out := filepath.Join(data, "out")
	st, stdout, stderr := settleCLI(t, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC),
		"--date", "2026-03-14", "--data", data, "--out", out)
	if st != exitOK {
		t.Fatalf("status %d, stderr %s", st, stderr)
	}
	var rec settlement.RunRecord
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec.Summary.GrossFen != 2500 || rec.Summary.UnknownMerchants != 1 {
		t.Fatalf("run record %v: %s", err, stdout)
	}
}
