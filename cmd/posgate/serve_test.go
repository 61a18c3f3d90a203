package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
)

// serve starts the embedded default, answers /readyz, provisions through the terminal CLI and
// stops cleanly on cancellation.
func TestServeEmbedded(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *app.Node, 1)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--data", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--no-settle"},
			func(string) string { return "" }, &stderr, func(n *app.Node) { ready <- n })
	}()
	var node *app.Node
	select {
	case node = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	base := "http://" + node.AdminAddr().String()
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, f := range []string{"admin.token", "lmk.hex", "token.key", "zpk.hex", "nats.url"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v", f, err, fi)
		}
	}
	var out, errb bytes.Buffer
	code := run([]string{"terminal", "add", "--server", base, "--token-file", filepath.Join(dir, "admin.token"),
		"--sn", "SN-SERVE-1", "--tid", "T0000001", "--mid", "898310048160001", "--merchant-name", "Shop", "--mcc", "5812"},
		strings.NewReader(""), &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "activation code") {
		t.Fatalf("terminal add: %d %s %s", code, out.String(), errb.String())
	}
	// A named operator token, made with the bootstrap token, reads the audit trail of that add.
	out.Reset()
	errb.Reset()
	code = run([]string{"token", "create", "--server", base, "--token-file", filepath.Join(dir, "admin.token"),
		"--name", "ops-1", "--role", "operator", "--json"}, strings.NewReader(""), &out, &errb)
	var created struct{ Token string }
	if code != 0 || json.Unmarshal(out.Bytes(), &created) != nil || created.Token == "" {
		t.Fatalf("token create: %d %s %s", code, out.String(), errb.String())
	}
	opsToken := filepath.Join(t.TempDir(), "ops.token")
	if err := os.WriteFile(opsToken, []byte(created.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = run([]string{"audit", "--server", base, "--token-file", opsToken}, strings.NewReader(""), &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "POST /v1/terminals ") || !strings.Contains(out.String(), "bootstrap") {
		t.Fatalf("audit: %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = run([]string{"token", "list", "--server", base, "--token-file", opsToken}, strings.NewReader(""), &out, &errb)
	if code != exitFail || !strings.Contains(errb.String(), "403") || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("token list as operator: %d %q", code, errb.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"posgate serving"`) || !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("log lacks the listeners or the stop: %s", stderr.String())
	}
}

func TestServeBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: [1, 2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("lisen: :1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"argument", []string{"extra"}, nil, `serve: unexpected argument "extra"`},
		{"node id", []string{"--node-id", "12"}, nil, "serve: --node-id: must be 0-9"},
		{"negative checkpoint interval", []string{"--checkpoint-interval", "-1s"}, nil, "serve: --checkpoint-interval: must not be negative"},
		{"negative checkpoint interval in config", []string{"--config", writeFile(t, dir, "ck.yaml", "checkpoint_interval: -5m\n")}, nil,
			"serve: --checkpoint-interval: must not be negative"},
		{"node lease too short", []string{"--node-lease", "500ms"}, nil, "serve: --node-lease: must be at least 1s"},
		{"node lease too short in config", []string{"--config", writeFile(t, dir, "lease.yaml", "node_lease: 200ms\n")}, nil,
			"serve: --node-lease: must be at least 1s"},
		{"config file missing", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "serve: --config:"},
		{"config file malformed", []string{"--config", bad}, nil, "serve: --config"},
		{"config file unknown key", []string{"--config", unknown}, nil, "field lisen not found"},
		{"redis without shared secrets", []string{"--redis", "redis://127.0.0.1:1"}, nil, "every node must share the LMK"},
		{"bad LMK", []string{"--data", dir}, map[string]string{envLMK: "abc"}, "serve: LMK:"},
		{"bad token key", []string{"--data", dir}, map[string]string{envTokenKey: "abcd"}, "PAN token key: want 64 hex"},
		{"bad log level", []string{"--log-level", "loud", "--data", dir}, nil, `--log-level "loud"`},
		{"bad listen address", []string{"--data", dir, "--listen", "256.0.0.1:1"}, nil, "serve: terminal listener"},
		{"port in use", []string{"--data", dir, "--listen", busy}, nil, "address already in use"},
		{"nats-listen with --nats", []string{"--nats", "nats://127.0.0.1:1", "--nats-listen", "127.0.0.1:4222"}, nil,
			"serve: --nats-listen: only for the embedded NATS server"},
		{"tls-listen without a certificate", []string{"--tls-listen", "127.0.0.1:0"}, nil, "--tls-listen needs --tls-cert and --tls-key"},
		{"tls-cert without tls-listen", []string{"--tls-cert", bad, "--tls-key", bad}, nil, "--tls-listen needs --tls-cert and --tls-key"},
		{"tls certificate unreadable", []string{"--data", dir, "--tls-listen", "127.0.0.1:0", "--tls-cert", bad, "--tls-key", bad}, nil,
			"serve: terminal TLS certificate"},
		{"admin on every interface without TLS", []string{"--data", dir, "--admin-listen", ":0"}, nil, "not loopback"},
		{"NATS credentials without --nats", []string{"--nats-user", "gateway"}, nil, "need --nats"},
		{"nats-listen without port", []string{"--nats-listen", "127.0.0.1"}, nil, "serve: --nats-listen: address 127.0.0.1: missing port"},
		{"nats-listen port not a number", []string{"--nats-listen", "127.0.0.1:nats"}, nil, `serve: --nats-listen: port "nats" is not a number`},
		{"nats-listen port out of range", []string{"--nats-listen", "127.0.0.1:70000"}, nil, "serve: --nats-listen: natsembed: config Port"},
		{"nats-listen not loopback", []string{"--nats-listen", "0.0.0.0:4222"}, nil, "serve: --nats-listen: natsembed: config Host: not a loopback address"},
		{"nats-listen in config not loopback", []string{"--config", writeFile(t, dir, "nats.yaml", "nats_listen: 192.0.2.1:4222\n")}, nil,
			"serve: --nats-listen: natsembed: config Host: not a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := serve(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stderr, nil)
			if code == 0 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want non-zero and %q", code, stderr.String(), tt.want)
			}
			if lines := strings.Count(strings.TrimSpace(lastLine(stderr.String())), "\n"); lines != 0 {
				t.Fatalf("more than one line")
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// --nats-listen, --no-simulator and their YAML keys reach app.Config; flags win over the file.
func TestServeNATSListenAndSimulatorFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name            string
		args            []string
		file            string // YAML for --config
		wantListen      string
		wantSim, wantNo bool
	}{
		{"defaults", nil, "", "127.0.0.1:4222", true, false}, // stable, documented
		{"flags", []string{"--nats-listen", "127.0.0.1:4222", "--no-simulator"}, "", "127.0.0.1:4222", false, true},
		{"empty host", []string{"--nats-listen", ":4222"}, "", ":4222", true, false},
		{"localhost, port 0", []string{"--nats-listen", "localhost:0"}, "", "localhost:0", true, false},
		{"IPv6 loopback", []string{"--nats-listen", "[::1]:4222"}, "", "[::1]:4222", true, false},
		{"config file", nil, "nats_listen: 127.0.0.1:4333\nsimulator: false\n", "127.0.0.1:4333", false, true},
		{"flag wins over file", []string{"--nats-listen", "127.0.0.1:4444"}, "nats_listen: 127.0.0.1:4333\n", "127.0.0.1:4444", true, false},
		{"--no-simulator wins over simulator: true", []string{"--no-simulator"}, "simulator: true\n", "127.0.0.1:4222", false, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--data", dir}, tt.args...)
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, dir, fmt.Sprintf("c%d.yaml", i), tt.file))
			}
			var stderr bytes.Buffer
			_, cfg, status, done := parseServe(args, func(string) string { return "" }, &stderr)
			if done {
				t.Fatalf("parseServe: exit %d: %s", status, stderr.String())
			}
			if cfg.NATSListen != tt.wantListen {
				t.Errorf("NATSListen = %q, want %q", cfg.NATSListen, tt.wantListen)
			}
			if cfg.Simulator != tt.wantSim || cfg.NoSimulator != tt.wantNo {
				t.Errorf("Simulator, NoSimulator = %v, %v; want %v, %v", cfg.Simulator, cfg.NoSimulator, tt.wantSim, tt.wantNo)
			}
		})
	}
}

// A fixed --nats-listen is where the embedded NATS server listens (and what DATA/nats.url says);
// --no-simulator leaves the issuer to another process.
func TestServeNATSListen(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *app.Node, 1)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--data", dir, "--listen", "127.0.0.1:0", "--admin-listen", "", "--no-settle",
			"--nats-listen", addr, "--no-simulator", "--demo-terminals", "0"},
			func(string) string { return "" }, &stderr, func(n *app.Node) { ready <- n })
	}()
	var node *app.Node
	select {
	case node = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
	}
	want := "nats://" + addr
	if got := node.NATSURL(); got != want {
		t.Errorf("NATSURL = %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "nats.url")); err != nil || strings.TrimSpace(string(b)) != want {
		t.Errorf("nats.url = %q, %v; want %q", b, err, want)
	}
	if node.Simulator != nil {
		t.Error("--no-simulator started the in-process simulator")
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exit %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// A taken --nats-listen port fails at once (not after the NATS ready timeout) with one line
// naming the address, exit status 1, and leaves nothing listening.
func TestServeNATSPortTaken(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	terminals := freePort(t)
	var stderr bytes.Buffer
	start := time.Now()
	code := serve(context.Background(), []string{"--data", dir, "--listen", terminals, "--admin-listen", "",
		"--nats-listen", busy}, func(string) string { return "" }, &stderr, nil)
	elapsed := time.Since(start)
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	want := "serve: embedded NATS: listen tcp " + busy + ": bind: address already in use"
	if got := lastLine(stderr.String()); got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %v: the taken port was found by the ready timeout, not at once", elapsed)
	}
	if c, err := net.DialTimeout("tcp", terminals, time.Second); err == nil {
		c.Close()
		t.Errorf("terminal listener %s open after the failed start", terminals)
	}
}
