package faults_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posgate/posgate/internal/proctest"
)

// deploy/dev-cluster.sh starts the whole topology with one command — three clustered
// nats-server processes, Redis with AOF, two gateway nodes, two issuer simulators, haproxy and
// Prometheus — a load test runs through haproxy against both nodes without an error, and
// SIGTERM (what Ctrl-C does to the foreground) stops every process it started.
func TestDevCluster(t *testing.T) {
	for _, tool := range []string{"haproxy", "redis-server", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not on PATH: .ci/run installs it", tool)
			}
			t.Skipf("%s not on PATH", tool)
		}
	}
	bin := t.TempDir()
	for name, path := range map[string]string{"posgate": proctest.Build(t), "nats-server": proctest.BuildNATSServer(t)} {
		if err := os.Symlink(path, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	cmd := exec.Command("bash", "../deploy/dev-cluster.sh")
	cmd.Env = append(os.Environ(), "POSGATE_DEV_BIN="+bin, "POSGATE_DEV_DIR="+work, "POSGATE_DEV_BASE=21000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }) // a safety net only
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed []string
	ready := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("dev-cluster ended before it was ready:\n%s", strings.Join(printed, "\n"))
			}
			printed = append(printed, l)
			if l == "dev-cluster: ready" {
				break wait
			}
		case <-ready:
			t.Fatalf("dev-cluster not ready in 3 minutes:\n%s", strings.Join(printed, "\n"))
		}
	}
	go func() { // keep draining what it prints
		for l := range lines {
			printed = append(printed, l)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lt := exec.CommandContext(ctx, filepath.Join(bin, "posgate"), "loadtest", "--target", "127.0.0.1:29583",
		"--admin", "http://127.0.0.1:29080", "--token-file", filepath.Join(work, "secrets", "admin.token"),
		"--terminals", "12", "--rate", "60", "--duration", "5s", "--report", filepath.Join(work, "report"))
	report, err := lt.CombinedOutput()
	if err != nil || !strings.Contains(string(report), "errors                                            none") ||
		!strings.Contains(string(report), "unanswered / abandoned                            0 / 0") {
		t.Fatalf("load test through haproxy: %v\n%s", err, report)
	}
	t.Logf("load test through haproxy on the dev cluster:\n%s", report)
	// Both gateway nodes served terminals (haproxy balanced the fleet over them).
	tok, err := os.ReadFile(filepath.Join(work, "secrets", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, admin := range []string{"127.0.0.1:29081", "127.0.0.1:29082"} {
		if n := requestsServed(t, admin, strings.TrimSpace(string(tok))); n == 0 {
			t.Errorf("node %s served no terminal request", admin)
		} else {
			t.Logf("node %s served %.0f terminal requests", admin, n)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("dev-cluster did not stop within 45 s of SIGTERM")
	}
	if left := processesUnder(work); len(left) > 0 {
		t.Errorf("processes left running after the stop: %v", left)
	}
}

// requestsServed sums posgate_gateway_requests_total on a node's /metrics.
func requestsServed(t *testing.T, admin, token string) float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+admin+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics of %s: %v", admin, err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "posgate_gateway_requests_total{") {
			if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// processesUnder lists the processes whose command line names dir.
func processesUnder(dir string) []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if cl := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cl, dir) {
			left = append(left, cl)
		}
	}
	return left
}
