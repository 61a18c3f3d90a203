package main

import (
	"bytes"
	"context"
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
		{"config file missing", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "serve: --config:"},
		{"config file malformed", []string{"--config", bad}, nil, "serve: --config"},
		{"config file unknown key", []string{"--config", unknown}, nil, "field lisen not found"},
		{"redis without shared secrets", []string{"--redis", "redis://127.0.0.1:1"}, nil, "every node must share the LMK"},
		{"bad LMK", []string{"--data", dir}, map[string]string{envLMK: "abc"}, "serve: LMK:"},
		{"bad token key", []string{"--data", dir}, map[string]string{envTokenKey: "abcd"}, "PAN token key: want 64 hex"},
		{"bad log level", []string{"--log-level", "loud", "--data", dir}, nil, `--log-level "loud"`},
		{"bad listen address", []string{"--data", dir, "--listen", "256.0.0.1:1"}, nil, "serve: terminal listener"},
		{"port in use", []string{"--data", dir, "--listen", busy}, nil, "address already in use"},
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
