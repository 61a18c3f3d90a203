package admin_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/internal/tlstest"
)

// The admin API over HTTPS: a client trusting the CA gets through with its token; plain HTTP
// to the TLS port gets nothing; a client trusting another CA is refused.
func TestAdminTLS(t *testing.T) {
	certs := tlstest.Write(t)
	tok := admin.NewToken()
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Token: tok, TLSCertFile: certs.ServerCert, TLSKeyFile: certs.ServerKey},
		memStore(t), newModule(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()
	addr := srv.Addr().String()
	trusting := func(caFile string) *http.Client {
		b, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	c := &adminapi.Client{BaseURL: "https://" + addr, Token: tok, HTTP: trusting(certs.CA)}
	if _, err := c.ListTerminals(ctx, adminapi.ListTerminalsRequest{}); err != nil {
		t.Fatalf("list over HTTPS: %v", err)
	}
	plain := &adminapi.Client{BaseURL: "http://" + addr, Token: tok, HTTP: &http.Client{Timeout: 5 * time.Second}}
	if _, err := plain.ListTerminals(ctx, adminapi.ListTerminalsRequest{}); err == nil {
		t.Errorf("plain HTTP to the TLS listener was answered")
	}
	other := &adminapi.Client{BaseURL: "https://" + addr, Token: tok, HTTP: trusting(certs.OtherCA)}
	if _, err := other.ListTerminals(ctx, adminapi.ListTerminalsRequest{}); err == nil {
		t.Errorf("a client trusting another CA connected")
	}
}

// Plain HTTP only on loopback unless allowed; TLS needs a loadable certificate and key.
func TestAdminListenerPolicy(t *testing.T) {
	certs := tlstest.Write(t)
	tok := admin.NewToken()
	for _, c := range []struct {
		name string
		cfg  admin.Config
		ok   bool
	}{
		{"default (loopback)", admin.Config{}, true},
		{"loopback", admin.Config{Addr: "127.0.0.1:8080"}, true},
		{"localhost", admin.Config{Addr: "localhost:8080"}, true},
		{"every interface, plain", admin.Config{Addr: ":8080"}, false},
		{"public address, plain", admin.Config{Addr: "192.0.2.1:8080"}, false},
		{"every interface, plain allowed", admin.Config{Addr: ":8080", Plaintext: true}, true},
		{"every interface, TLS", admin.Config{Addr: ":8080", TLSCertFile: certs.ServerCert, TLSKeyFile: certs.ServerKey}, true},
		{"certificate without key", admin.Config{Addr: ":8080", TLSCertFile: certs.ServerCert}, false},
		{"key of another certificate", admin.Config{Addr: ":8080", TLSCertFile: certs.ServerCert, TLSKeyFile: certs.ClientKey}, false},
		{"missing file", admin.Config{Addr: ":8080", TLSCertFile: certs.ServerCert + ".nope", TLSKeyFile: certs.ServerKey}, false},
	} {
		c.cfg.Token = tok
		err := c.cfg.Validate()
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, admin.ErrConfig)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
