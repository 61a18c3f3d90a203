package proctest_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posgate/posgate/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m) }

func readyz(t *testing.T, n *proctest.Node) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + n.AdminAddr + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %d, want 200", resp.StatusCode)
	}
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A node killed with SIGKILL is gone at once, ports and all, and restarts on its data directory
// and its ports with the same secrets.
func TestKillRestart(t *testing.T) {
	start := time.Now()
	proctest.Build(t) // before the goroutine baseline
	t.Logf("build (once per test process): %v", time.Since(start))
	goroutines := runtime.NumGoroutine()
	start = time.Now()
	n := proctest.StartNode(t, proctest.NodeConfig{})
	t.Logf("first start: %v", time.Since(start))
	readyz(t, n)
	for _, addr := range []string{n.GatewayAddr, strings.TrimPrefix(n.NATSURL, "nats://")} {
		if !listening(addr) {
			t.Errorf("%s: not listening", addr)
		}
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(n.DataDir, "nats.url"))); got != n.NATSURL {
		t.Errorf("nats.url = %q, want %q", got, n.NATSURL)
	}
	token := readFile(t, filepath.Join(n.DataDir, "admin.token"))
	pid := n.PID()

	n.Kill()
	if n.Running() {
		t.Fatal("Running after Kill")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("kill(%d, 0) = %v after Kill, want ESRCH (process gone)", pid, err)
	}
	for _, addr := range []string{n.GatewayAddr, n.AdminAddr, strings.TrimPrefix(n.NATSURL, "nats://")} {
		if listening(addr) {
			t.Errorf("%s: still listening after SIGKILL", addr)
		}
	}
	if !strings.Contains(n.LogTail(), `"msg":"posgate serving"`) {
		t.Errorf("log tail lacks the serving line:\n%s", n.LogTail())
	}

	gateway, admin, natsURL := n.GatewayAddr, n.AdminAddr, n.NATSURL
	start = time.Now()
	n.Restart(t)
	t.Logf("restart after SIGKILL: %v", time.Since(start))
	if n.GatewayAddr != gateway || n.AdminAddr != admin || n.NATSURL != natsURL {
		t.Errorf("addresses changed across the restart: %s %s %s → %s %s %s", gateway, admin, natsURL,
			n.GatewayAddr, n.AdminAddr, n.NATSURL)
	}
	if n.PID() == pid {
		t.Errorf("same pid %d after the restart", pid)
	}
	readyz(t, n)
	if got := readFile(t, filepath.Join(n.DataDir, "admin.token")); got != token {
		t.Error("DATA/admin.token changed across the restart")
	}
	if !listening(strings.TrimPrefix(n.NATSURL, "nats://")) {
		t.Error("embedded NATS not on its port after the restart")
	}

	start = time.Now()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop (SIGTERM): %v", time.Since(start))
	if !strings.Contains(n.LogTail(), `"msg":"stopped"`) {
		t.Errorf("log tail lacks the clean stop:\n%s", n.LogTail())
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Stop, %d before the start", runtime.NumGoroutine(), goroutines)
		}
	}
}

// Stop and Restart work in sequence, every start appends to the one log, and NodeConfig reaches
// the command line.
func TestLogAcrossStarts(t *testing.T) {
	n := proctest.StartNode(t, proctest.NodeConfig{DemoTerminals: 2, Simulator: true})
	if _, err := os.Stat(filepath.Join(n.DataDir, "demo-terminals.csv")); err != nil {
		t.Errorf("--demo-terminals 2: %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	n.Restart(t)
	n.Kill()
	log := readFile(t, n.LogPath)
	if got := strings.Count(log, "=== proctest: start "); got != 2 {
		t.Errorf("%d start markers in the log, want 2", got)
	}
	if strings.Contains(log, "--no-simulator") {
		t.Error("Simulator: true still passed --no-simulator")
	}
}
