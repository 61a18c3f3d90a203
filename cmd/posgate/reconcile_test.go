package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/loadtest"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/reconcile"
)

func reconcileCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	st := reconcileCmd(context.Background(), args, &out, &errb)
	return st, out.String(), errb.String()
}

// posgate reconcile against a real journal and a clearing file: clean books exit 0, a request
// the issuer lacks exits 1 and is listed.
func TestReconcileCommand(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	j, err := journal.New(context.Background(), nc, journal.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	d := journal.NewDate(2031, time.March, 14)
	at := journal.Calendar{}.CutOffTime(d).Add(-time.Hour).UTC()
	for i, amount := range []int64{10000, 2550} {
		stan := uint32(i + 1)
		err := j.Append(context.Background(), journal.Record{TxnID: "p" + string(rune('1'+i)), Type: journal.TypePurchase, MTI: "0200",
			ProcessingCode: "000000", Amount: amount, Currency: "156", MaskedPAN: "622588******1234", CardKind: journal.CardDebit,
			TID: "10000001", MID: "898310000000001", Batch: "000001", STAN: "00000" + string(rune('1'+i)), ResponseCode: "00",
			Route: "cup", Upstream: journal.Upstream{MTI: "0200", STAN: stan, Transmission: at.Format("0102150405")},
			RequestTime: at, BusinessDate: d})
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	header := "route,stan,transmission,amount_fen,mti,type,response_code,auth_code,rrn,tid,mid,original_stan,original_transmission,booked_at\n"
	line := func(stan string, amount string) string {
		return "cup," + stan + "," + at.Format("0102150405") + "," + amount + ",0200,purchase,00,123456,,10000001,,,," + at.Format(time.RFC3339) + "\n"
	}
	both := filepath.Join(dir, "both.csv")
	one := filepath.Join(dir, "one.csv")
	if err := os.WriteFile(both, []byte(header+line("000001", "10000")+line("000002", "2550")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(one, []byte(header+line("000001", "10000")), 0o600); err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	st, out, errs := reconcileCLI(t, "--date", "2031-03-14", "--nats", url, "--issuer", both)
	if st != exitOK || !strings.Contains(out, "OK: no difference") || !strings.Contains(out, "125.50") {
		t.Fatalf("clean books: exit %d\n%s%s", st, out, errs)
	}
	st, out, errs = reconcileCLI(t, "--date", "2031-03-14", "--nats", url, "--issuer", one, "--json")
	if st != exitDifferences || !strings.Contains(out, `"kind": "missing_at_issuer"`) || !strings.Contains(out, `"clean": false`) {
		t.Fatalf("issuer lacks one: exit %d\n%s%s", st, out, errs)
	}
}

func TestReconcileBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("route,stan\ncup,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "reconcile: --date is required"},
		{[]string{"--date", "14/03/2031"}, `reconcile: --date "14/03/2031": want YYYY-MM-DD`},
		{[]string{"--date", "2031-03-14", "--slack", "-1s"}, "reconcile: --slack must not be negative"},
		{[]string{"--date", "2031-03-14", "--issuer", filepath.Join(dir, "none.csv")}, "reconcile: --issuer: open"},
		{[]string{"--date", "2031-03-14", "--issuer", bad}, "reconcile: --issuer: " + bad + ": reconcile: header is not"},
		{[]string{"--date", "2031-03-14", "extra"}, `reconcile: unexpected argument "extra"`},
	} {
		st, _, errs := reconcileCLI(t, tt.args...)
		if st != exitUsage || !strings.HasPrefix(errs, tt.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, st, errs, tt.want)
		}
	}
}

func TestRegistryBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "registry: want export or import"},
		{[]string{"dump"}, "registry: want export or import"},
		{[]string{"export"}, "registry: --redis is required"},
		{[]string{"import", "--redis", "redis://127.0.0.1:1/0"}, "registry: import: --in is required"},
		{[]string{"export", "--redis", "redis://127.0.0.1:1/0", "--replace"}, "registry: export: --in and --replace are for import"},
		{[]string{"export", "--redis", "redis://127.0.0.1:1/0", "extra"}, `registry: unexpected argument "extra"`},
		{[]string{"export", "--redis", "http://x"}, "registry: --redis:"},
	} {
		var out, errb bytes.Buffer
		st := registryCmd(context.Background(), tt.args, &out, &errb)
		if st != exitUsage || !strings.HasPrefix(errb.String(), tt.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, st, errb.String(), tt.want)
		}
	}
}

// The load generator writes the books format and posgate reconcile reads it; they live in
// packages that may not import each other, so the contract is checked here.
func TestBooksFormat(t *testing.T) {
	if strings.Join(loadtest.BooksHeader, ",") != strings.Join(reconcile.BooksHeader, ",") {
		t.Fatalf("books headers differ:\n%v\n%v", loadtest.BooksHeader, reconcile.BooksHeader)
	}
	at := time.Date(2031, 3, 14, 5, 6, 7, 890, time.UTC)
	in := []loadtest.BookEntry{
		{TID: "10000001", Batch: "000001", STAN: "000007", Type: "purchase", Amount: 1234, ResponseCode: "00",
			RRN: "123456789012", AuthCode: "654321", Time: at},
		{TID: "10000001", Batch: "000001", STAN: "000008", Type: "refund", Amount: 99, ReversalOwed: true,
			ReversedLater: true, Time: at},
	}
	var b bytes.Buffer
	if err := loadtest.WriteBooks(&b, in); err != nil {
		t.Fatal(err)
	}
	out, err := reconcile.ReadBooks(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d entries read, %d written", len(out), len(in))
	}
	for i, e := range in {
		o := out[i]
		if o.TID != e.TID || o.Batch != e.Batch || o.STAN != e.STAN || o.Type != e.Type || o.Amount != e.Amount ||
			o.ResponseCode != e.ResponseCode || o.RRN != e.RRN || o.AuthCode != e.AuthCode || o.ReversalOwed != e.ReversalOwed ||
			o.ReversedLater != e.ReversedLater || !o.Time.Equal(e.Time) {
			t.Errorf("entry %d: wrote %+v, read %+v", i, e, o)
		}
	}
}
