// Package natssecure runs, for tests, a nats-server from a posgate deployment config that
// requires TLS with client certificates and credentials (deploy/nats.conf).
package natssecure

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/posgate/posgate/internal/natsconn"
	"github.com/posgate/posgate/internal/tlstest"
)

// Secure is a nats-server run from a posgate deployment config (deploy/nats.conf: TLS with
// client certificates, the GATEWAY and ISSUER accounts and their permissions) on a random
// loopback port, with fresh certificates and passwords.
type Secure struct {
	URL       string
	Certs     tlstest.Files
	Passwords map[string]string // user → password
}

// Start starts the server of confFile, providing through the environment what the file
// reads from it (NATS_TLS_*, POSGATE_NATS_*_PASSWORD). It fails the test unless the file keeps
// sync_interval: always. The test may not run in parallel (it sets the environment).
func Start(t *testing.T, confFile string) *Secure {
	t.Helper()
	s := &Secure{Certs: tlstest.Write(t), Passwords: map[string]string{}}
	t.Setenv("NATS_TLS_CERT", s.Certs.ServerCert)
	t.Setenv("NATS_TLS_KEY", s.Certs.ServerKey)
	t.Setenv("NATS_TLS_CA", s.Certs.CA)
	for _, u := range []struct{ user, env string }{
		{"gateway", "POSGATE_NATS_GATEWAY_PASSWORD"}, {"ops", "POSGATE_NATS_OPS_PASSWORD"}, {"issuer", "POSGATE_NATS_ISSUER_PASSWORD"},
	} {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		s.Passwords[u.user] = hex.EncodeToString(b[:])
		t.Setenv(u.env, s.Passwords[u.user])
	}
	opts, err := server.ProcessConfigFile(confFile)
	if err != nil {
		t.Fatalf("%s: %v", confFile, err)
	}
	if !opts.SyncAlways {
		t.Fatalf("%s must keep sync_interval: always", confFile)
	}
	opts.Host, opts.Port, opts.StoreDir = "127.0.0.1", -1, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	s.URL = srv.ClientURL()
	return s
}

// Client returns user's settings: the test CA, the client certificate and the password.
func (s *Secure) Client(user string) natsconn.Config {
	return natsconn.Config{CAFile: s.Certs.CA, CertFile: s.Certs.ClientCert, KeyFile: s.Certs.ClientKey,
		User: user, Password: s.Passwords[user]}
}
