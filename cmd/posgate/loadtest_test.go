package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/loadtest/report"
)

func TestLoadtestCLIErrors(t *testing.T) {
	t.Setenv(envAdminToken, "0123456789abcdef0123456789abcdef")
	tests := []struct {
		name string
		args []string
		want string // in the one line on stderr
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"argument", []string{"extra"}, "unexpected argument"},
		{"mix", []string{"--mix", "purchase=80,sale=20"}, "unknown operation"},
		{"remote target", []string{"--target", "192.0.2.1:8583"}, "not on loopback"},
		{"remote admin", []string{"--admin", "http://192.0.2.1:8080"}, "not on loopback"},
		{"target without port", []string{"--target", "127.0.0.1"}, "host:port"},
		{"admin not a URL", []string{"--admin", "127.0.0.1:8080"}, "http://"},
		{"rate", []string{"--rate", "-1"}, "Rate"},
		{"terminals", []string{"--terminals", "-3"}, "Terminals"},
		{"sweep shape", []string{"--sweep", "1000:2000"}, "FROM:TO:STEP"},
		{"sweep order", []string{"--sweep", "3000:2000:100"}, "FROM is above TO"},
		{"sweep rate", []string{"--sweep", "0:2000:100"}, "is not a rate"},
		{"sweep steps", []string{"--sweep", "1:1000:1"}, "at most 100"},
		{"sweep objective", []string{"--sweep", "100:200:100", "--objective-p99", "0s"}, "--objective-p99: must be positive"},
		{"sweep with books", []string{"--sweep", "100:200:100", "--books", "b.csv"}, "not with --sweep"},
		{"cpuprofile", []string{"--cpuprofile", "/nonexistent/dir/cpu.prof"}, "--cpuprofile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := runCLI(t, "", append([]string{"loadtest"}, tc.args...)...)
			if status != exitUsage || stdout != "" {
				t.Errorf("status %d stdout %q, want %d and nothing", status, stdout, exitUsage)
			}
			oneLineErr(t, stderr)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q lacks %q", stderr, tc.want)
			}
		})
	}
	t.Run("no token", func(t *testing.T) {
		t.Setenv(envAdminToken, "")
		t.Chdir(t.TempDir())
		status, _, stderr := runCLI(t, "", "loadtest")
		if status != exitUsage || !strings.Contains(stderr, "no admin token") {
			t.Errorf("status %d stderr %q", status, stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		status, _, stderr := runCLI(t, "", "loadtest", "-h")
		if status != exitOK || !strings.Contains(stderr, "--idle-connections") || !strings.Contains(stderr, "usage: posgate loadtest") {
			t.Errorf("status %d stderr %q", status, stderr)
		}
	})
}

// loadtestNode starts an embedded node with an admin listener for the CLI's runs, and returns
// it and its data directory (admin.token).
func loadtestNode(t *testing.T) (*app.Node, string) {
	t.Helper()
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	n, err := app.Start(ctx, app.Config{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", DataDir: data},
		zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		_ = n.Shutdown(sctx)
	})
	t.Setenv(envAdminToken, "")
	return n, data
}

// `posgate loadtest --sweep` against an in-process node: rising rates until one misses the
// objective; the table on stdout, a report per step. An objective nothing meets stops at the
// first step and exits 1.
func TestLoadtestCLISweep(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n, data := loadtestNode(t)
	profile := filepath.Join(t.TempDir(), "loadgen.prof")
	sweep := func(objective string) (int, string, string, string) {
		dir := filepath.Join(t.TempDir(), "rep")
		status, stdout, stderr := runCLI(t, "", "loadtest", "--target", n.GatewayAddr().String(),
			"--admin", "http://"+n.AdminAddr().String(), "--token-file", filepath.Join(data, "admin.token"),
			"--terminals", "4", "--duration", "1s", "--mix", "purchase=1", "--report", dir,
			"--sweep", "10:30:10", "--objective-p99", objective, "--cpuprofile", profile)
		return status, stdout, stderr, dir
	}
	status, stdout, stderr, dir := sweep("5s")
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("--cpuprofile wrote no profile: %v", err)
	}
	if status != exitOK {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	for _, want := range []string{"| 10/s |", "| 20/s |", "| 30/s |", "highest rate meeting p99 ≤ 5s with no error: 30/s"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, rate := range []string{"10", "20", "30"} {
		if _, err := os.Stat(filepath.Join(dir, rate, report.JSONFile)); err != nil {
			t.Error(err)
		}
	}
	status, stdout, _, _ = sweep("1us")
	if status != exitFail || strings.Contains(stdout, "| 20/s |") || !strings.Contains(stdout, "missed: p99") ||
		!strings.Contains(stdout, "no rate met p99 ≤ 1µs") {
		t.Errorf("sweep nothing can meet: status %d, stdout:\n%s", status, stdout)
	}
}

// `posgate loadtest` against an in-process node: a short run to balanced batches, the table on
// stdout, both reports in --report.
func TestLoadtestCLIRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	n, data := loadtestNode(t)
	dir := filepath.Join(t.TempDir(), "rep")
	status, stdout, stderr := runCLI(t, "", "loadtest", "--target", n.GatewayAddr().String(),
		"--admin", "http://"+n.AdminAddr().String(), "--token-file", filepath.Join(data, "admin.token"),
		"--terminals", "4", "--rate", "20", "--duration", "2s", "--mix", "purchase=3,void=1", "--report", dir)
	if status != exitOK {
		t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	for _, want := range []string{"batches settled / balanced / unbalanced / failed  4 / 4 / 0 / 0", "scheduled / sent / completed", "purchase"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "settled 4 batches") || !strings.Contains(stderr, "reports written") {
		t.Errorf("stderr:\n%s", stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, report.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil || rep.Sent != 40 || rep.Completed != 40 || rep.Mix["void"] != 1 {
		t.Errorf("report.json: %v sent %d completed %d mix %v", err, rep.Sent, rep.Completed, rep.Mix)
	}
	if _, err := os.Stat(filepath.Join(dir, report.HTMLFile)); err != nil {
		t.Error(err)
	}
}
