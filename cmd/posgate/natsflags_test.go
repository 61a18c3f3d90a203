package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/internal/natsconn"
	"github.com/posgate/posgate/internal/natssecure"
)

// settle runs as the "ops" user of the shipped deploy/nats.conf — TLS with a client
// certificate, a password from a file — which may read the journal and record runs but not
// append to the journal.
func TestSettleOnSecureNATS(t *testing.T) {
	s := natssecure.Start(t, "../../deploy/nats.conf")
	nc, err := natsconn.Connect(s.URL, s.Client("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	dir := t.TempDir()
	mfile := settleFixture(t, nc, dir)
	pw := filepath.Join(dir, "ops.password")
	if err := os.WriteFile(pw, []byte(s.Passwords["ops"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secure := []string{"--nats", s.URL, "--nats-ca", s.Certs.CA, "--nats-cert", s.Certs.ClientCert,
		"--nats-key", s.Certs.ClientKey, "--nats-user", "ops", "--nats-password-file", pw}
	args := append([]string{"--date", "2026-03-14", "--out", filepath.Join(dir, "out"), "--merchants", mfile, "--tmp", dir}, secure...)
	after := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	if st, _, stderr := settleCLI(t, after, args...); st != exitOK {
		t.Fatalf("settle as ops: status %d, %s", st, stderr)
	}
	// Without the client certificate the server refuses the connection: exit 1, one line.
	noCert := []string{"--date", "2026-03-14", "--out", filepath.Join(dir, "out2"), "--merchants", mfile, "--tmp", dir,
		"--nats", s.URL, "--nats-ca", s.Certs.CA, "--nats-user", "ops", "--nats-password-file", pw}
	if st, _, stderr := settleCLI(t, after, noCert...); st != exitFail || strings.Count(stderr, "\n") != 1 ||
		strings.Contains(stderr, s.Passwords["ops"]) {
		t.Errorf("settle without a client certificate: status %d, %q", st, stderr)
	}
}

// Bad NATS client settings: exit 2 and one line naming the setting, never a secret.
func TestNATSFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--date", "2026-03-14", "--merchants", pw}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats-ca", pw}, "need --nats"},
		{[]string{"--nats", "tls://127.0.0.1:1", "--nats-cert", pw}, "--nats-key"},
		{[]string{"--nats", "tls://127.0.0.1:1", "--nats-user", "ops"}, "--nats-password-file"},
		{[]string{"--nats", "tls://127.0.0.1:1", "--nats-password-file", pw}, "needs --nats-user"},
		{[]string{"--nats", "tls://127.0.0.1:1", "--nats-user", "ops", "--nats-password-file", pw, "--nats-creds", pw}, "one NATS credential"},
		{[]string{"--nats", "tls://127.0.0.1:1", "--nats-ca", filepath.Join(dir, "missing.pem")}, "--nats-ca"},
	} {
		st, _, stderr := settleCLI(t, time.Now(), append(append([]string{}, base...), c.args...)...)
		if st != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "s3cret") {
			t.Errorf("%v: status %d, %q (want %q)", c.args, st, stderr, c.want)
		}
	}
}
