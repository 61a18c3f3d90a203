package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/internal/proctest"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
)

// A closed business date is settled exactly once by the cluster: three `posgate settle`
// processes started at once on the three-server NATS cluster (R3 journal and run bucket) — one
// settles it, the others are refused — and a later re-run over the same journal writes
// byte-identical files.
func TestSettledOnceByTheCluster(t *testing.T) {
	urls, _ := startNATSCluster(t)
	bin := proctest.Build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	j, err := journal.New(ctx, nc, journal.Config{Replicas: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cal := journal.Calendar{}
	d := cal.BusinessDate(time.Now()).AddDays(-2) // closed: its cut-off is two days back
	at := cal.CutOffTime(d).Add(-3 * time.Hour)
	for i := range 40 {
		if err := j.Append(ctx, journal.Record{TxnID: fmt.Sprintf("once-%03d", i), Type: journal.TypePurchase, MTI: "0200",
			ProcessingCode: "000000", Amount: int64(1000 + 37*i), Currency: "156", MaskedPAN: "622588******1234",
			CardKind: journal.CardDebit, TID: "10000001", MID: "898310000000001", Batch: "000001",
			STAN: fmt.Sprintf("%06d", i+1), ResponseCode: "00", RequestTime: at, BusinessDate: d}); err != nil {
			t.Fatal(err)
		}
	}
	_ = j.Close(ctx)
	merchants := filepath.Join(t.TempDir(), "merchants.csv")
	if err := os.WriteFile(merchants, []byte("mid,name,account,fee_plan\n898310000000001,Shop,622200001,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	date := fmt.Sprintf("%04d-%02d-%02d", d.Year(), d.Month(), d.Day())
	run := func(out string, extra ...string) (int, string, string) {
		cmd := exec.CommandContext(ctx, bin, append([]string{"settle", "--date", date, "--nats", urls, "--merchants", merchants,
			"--out", out, "--tmp", t.TempDir()}, extra...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String(), stderr.String()
	}
	outs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	codes := make([]int, len(outs))
	msgs := make([]string, len(outs))
	var wg sync.WaitGroup
	for i, out := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, msgs[i] = run(out)
		}()
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		t.Logf("settle process %d: exit %d %s", i, c, strings.TrimSpace(msgs[i]))
		switch {
		case c == 0 && winner < 0:
			winner = i
		case c == 0:
			t.Errorf("settle %d and %d both settled %s", winner, i, date)
		case !strings.Contains(msgs[i], "in progress") && !strings.Contains(msgs[i], "settled by run 1"):
			t.Errorf("settle %d: exit %d: %s", i, c, msgs[i])
		}
	}
	if winner < 0 {
		t.Fatalf("no settle process settled %s: %v %v", date, codes, msgs)
	}
	for i, out := range outs {
		_, err := os.Stat(filepath.Join(out, d.String()))
		if (i == winner) != (err == nil) {
			t.Errorf("settle %d: files present %v (winner %d)", i, err == nil, winner)
		}
	}
	// A re-run over the same journal (as a single node would) writes the same bytes.
	again := t.TempDir()
	if code, _, stderr := run(again, "--rerun"); code != 0 || !strings.Contains(stderr, "byte-identical") {
		t.Fatalf("re-run: exit %d: %s", code, stderr)
	}
	for _, f := range settlement.Files {
		a, err1 := os.ReadFile(filepath.Join(outs[winner], d.String(), f))
		b, err2 := os.ReadFile(filepath.Join(again, d.String(), f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the cluster's run and the re-run (%v %v)", f, err1, err2)
		}
	}
}
