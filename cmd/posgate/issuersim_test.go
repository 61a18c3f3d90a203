package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/hsm/termcrypto"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/routing"
)

// syncBuffer is a bytes.Buffer safe for the simulator's logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestIssuerSimBadFlags(t *testing.T) {
	dir := t.TempDir()
	badZPK := filepath.Join(dir, "zpk")
	if err := os.WriteFile(badZPK, []byte("0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown flag", []string{"--frobnicate"}, nil},
		{"drop above 1", []string{"--drop", "1.5"}, nil},
		{"negative latency", []string{"--latency", "-1s"}, nil},
		{"latency with bounds", []string{"--latency", "5ms", "--latency-max", "10ms"}, nil},
		{"bad route", []string{"--routes", "cup,VISA"}, nil},
		{"missing ZPK file", []string{"--zpk-file", filepath.Join(dir, "nope")}, nil},
		{"short ZPK file", []string{"--zpk-file", badZPK}, nil},
		{"ZPK env not hex", nil, map[string]string{envSimZPK: "zz"}},
		{"PIN env not digits", nil, map[string]string{envSimPIN: "abcd"}},
		{"stray argument", []string{"extra"}, nil},
		{"bad log level", []string{"--log-level", "loud"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			status := issuerSim(context.Background(), tt.args, getenv, &stderr)
			if status != exitUsage {
				t.Fatalf("status %d, want %d; stderr %q", status, exitUsage, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if tt.name != "unknown flag" && (out == "" || strings.Contains(out, "\n")) {
				t.Errorf("stderr is not one line: %q", out)
			}
			if strings.Contains(out, "zz") && tt.env != nil {
				t.Errorf("stderr echoes the secret: %q", out)
			}
		})
	}
}

func TestIssuerSimServesUntilCanceled(t *testing.T) {
	ns := natstest.Start(t)
	zpk := []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x00}
	zpkFile := filepath.Join(t.TempDir(), "zpk.hex")
	if err := os.WriteFile(zpkFile, []byte("112233445566778899AABBCCDDEEFF00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- issuerSim(ctx, []string{"--nats", ns.ClientURL(), "--routes", "cup", "--latency", "1ms", "--zpk-file", zpkFile},
			func(k string) string {
				if k == envSimPIN {
					return "2468"
				}
				return ""
			}, &stderr)
	}()
	c, err := routing.New(natstest.Connect(t, ns), routing.Config{Table: routing.DefaultTable()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const pan = "6212345678901234"
	block, err := termcrypto.EncryptPINBlock(zpk, "2468", []byte(pan))
	if err != nil {
		t.Fatal(err)
	}
	var res routing.Result
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err = c.Authorize(context.Background(), "cup", &routing.Request{Type: routing.TxnPurchase, Txn: "cli-1",
			PAN: []byte(pan), Amount: 100, TID: []byte("10400067"), PINBlock: block[:]})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the simulator is still starting
	}
	if err != nil || res.ResponseCode != "00" {
		t.Fatalf("Authorize through issuer-sim: %+v, %v\n%s", res, err, stderr.String())
	}
	cancel()
	select {
	case status := <-done:
		if status != exitOK {
			t.Fatalf("status %d; stderr %s", status, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("issuer-sim did not stop after cancel")
	}
	if strings.Contains(stderr.String(), "112233445566778899") || strings.Contains(stderr.String(), pan) {
		t.Error("log holds the ZPK or the PAN")
	}
}
