package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/tlstest"
	"github.com/posgate/posgate/loadtest/termsim"
)

// A terminal over TLS: activation, sign-on and a purchase through the TLS listener while the
// plain listener keeps serving older devices; a plain connection to the TLS port gets no
// answer, and a client that does not trust the server's certificate cannot connect.
func TestTerminalTLS(t *testing.T) {
	certs := tlstest.Write(t)
	e := startNode(t, "", func(c *app.Config) {
		c.TLSListen, c.TLSCert, c.TLSKey = "127.0.0.1:0", certs.ServerCert, certs.ServerKey
	})
	addr := e.node.GatewayTLSAddr()
	if addr == nil {
		t.Fatal("no TLS listener")
	}
	pool := func(file string) *x509.CertPool {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(b)
		return p
	}
	overTLS := func(roots *x509.CertPool) func(*termsim.Config) {
		return func(c *termsim.Config) {
			c.Addr = addr.String()
			c.Dial = (&tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
				Config: &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}}).DialContext
		}
	}
	term := e.ready(testTID, testSN, overTLS(pool(certs.CA)))
	res, err := term.Purchase(e.ctx, termsim.Card{PAN: testPAN}, 4321)
	expect(t, "purchase over TLS", res, err, "00")
	old := e.ready(otherTID, otherSN, nil)
	res, err = old.Purchase(e.ctx, termsim.Card{PAN: testPAN}, 1234)
	expect(t, "purchase on the plain listener", res, err, "00")

	// A plain frame to the TLS port is not a handshake: no ISO 8583 answer comes back.
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte{0x00, 0x13, 0x60, 0x00, 0x03, 0x00, 0x00, 0x60, 0x31, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0})
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if n > 7 && buf[2] == 0x60 { // a TPDU: an ISO 8583 answer
		t.Errorf("the TLS port answered a plain frame: % x", buf[:n])
	}
	// A client trusting another CA fails the handshake.
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool(certs.OtherCA), ServerName: "localhost"}}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if conn, err := d.DialContext(ctx, "tcp", addr.String()); err == nil {
		conn.Close()
		t.Errorf("a client trusting another CA connected")
	}
}
