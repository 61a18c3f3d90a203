package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/natsconn"
	"github.com/posgate/posgate/internal/natssecure"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/routing/issuersim"
)

// The whole path runs on a NATS that requires TLS and credentials: the gateway node connects
// as "gateway", the issuer simulator as "issuer" in its own account, and a purchase is
// approved through the service import. A client with the issuer's credentials can neither
// append to the journal nor read it; clients without TLS, without a certificate or without
// credentials are refused.
func TestSecureNATS(t *testing.T) {
	s := natssecure.Start(t, "../deploy/nats.conf")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	issuerNC, err := natsconn.Connect(s.URL, s.Client("issuer"), nats.Name("test-issuer"))
	if err != nil {
		t.Fatalf("issuer connect: %v", err)
	}
	defer issuerNC.Close()
	sim, err := issuersim.New(issuerNC, issuersim.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, sim.Start())
	defer func() { _ = sim.Shutdown(context.Background()) }()

	e := startNode(t, "", func(c *app.Config) {
		c.NATS, c.NATSClient, c.NoSimulator = s.URL, s.Client("gateway"), true
	})
	term := e.ready(testTID, testSN, nil)
	res, err := term.Purchase(ctx, termsim.Card{PAN: testPAN}, 1234)
	if err != nil || res.Code != "00" {
		t.Fatalf("purchase over secured NATS: %s, %v", res.Code, err)
	}

	// The issuer's credentials: publishing to the journal is refused and nothing is stored.
	errs := make(chan error, 4)
	spy, err := natsconn.Connect(s.URL, s.Client("issuer"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		errs <- err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	js, err := jetstream.New(spy)
	must(t, err)
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		t.Cleanup(cancel)
		return c
	}
	if _, err := js.Publish(short(), "posgate.journal.20991231", []byte(`{"forged":true}`)); err == nil {
		t.Errorf("the issuer appended to the journal")
	}
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("issuer publish to the journal: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no permissions violation reported for the issuer's journal publish")
	}
	if _, err := js.Stream(short(), "POSGATE_JOURNAL"); err == nil {
		t.Errorf("the issuer's account sees the journal stream")
	}
	if _, err := spy.Subscribe("posgate.journal.>", func(*nats.Msg) {}); err == nil {
		_ = spy.Flush()
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "Permissions Violation") {
				t.Errorf("issuer subscribe to the journal: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the issuer may subscribe to the journal subjects")
		}
	}
	// The journal holds the purchase and nothing forged.
	gw, err := natsconn.Connect(s.URL, s.Client("ops"))
	if err != nil {
		t.Fatalf("ops connect: %v", err)
	}
	defer gw.Close()
	gjs, err := jetstream.New(gw)
	must(t, err)
	st, err := gjs.Stream(ctx, "POSGATE_JOURNAL")
	if err != nil {
		t.Fatalf("ops reads the journal stream: %v", err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, "posgate.journal.20991231"); err == nil {
		t.Errorf("a forged journal record was stored")
	}
	if _, err := gjs.Publish(short(), "posgate.journal.20991231", []byte(`{"forged":true}`)); err == nil {
		t.Errorf("the ops user appended to the journal")
	}
	// Nor may ops forge a claim on a node's lease (which would make a node reverse another's
	// open requests): the bucket exists, the gateway user writes it, ops cannot.
	gwc, err := natsconn.Connect(s.URL, s.Client("gateway"))
	must(t, err)
	defer gwc.Close()
	gwjs, err := jetstream.New(gwc)
	must(t, err)
	leases, err := gwjs.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: app.NodesBucket})
	must(t, err)
	if _, err := leases.Put(ctx, "node.1", []byte(`{"node":1,"state":"serving"}`)); err != nil {
		t.Fatalf("the gateway user writes its lease: %v", err)
	}
	if _, err := gjs.Publish(short(), "$KV."+app.NodesBucket+".node.1", []byte(`{"node":1,"state":"adopting","by":2}`)); err == nil {
		t.Errorf("the ops user wrote a node lease")
	}

	// Refused: plain TCP, TLS without a client certificate, a certificate without credentials,
	// and a server certificate checked against an unrelated CA.
	plain := s.URL
	for _, c := range []struct {
		name string
		cfg  natsconn.Config
	}{
		{"no TLS, no credentials", natsconn.Config{}},
		{"TLS without a client certificate", natsconn.Config{CAFile: s.Certs.CA, User: "gateway", Password: s.Passwords["gateway"]}},
		{"certificate without credentials", natsconn.Config{CAFile: s.Certs.CA, CertFile: s.Certs.ClientCert, KeyFile: s.Certs.ClientKey}},
		{"wrong password", natsconn.Config{CAFile: s.Certs.CA, CertFile: s.Certs.ClientCert, KeyFile: s.Certs.ClientKey, User: "gateway", Password: "guess"}},
		{"unrelated CA", natsconn.Config{CAFile: s.Certs.OtherCA, CertFile: s.Certs.ClientCert, KeyFile: s.Certs.ClientKey, User: "gateway", Password: s.Passwords["gateway"]}},
	} {
		nc, err := natsconn.Connect(plain, c.cfg, nats.NoReconnect(), nats.Timeout(3*time.Second))
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", c.name)
		}
	}
}
