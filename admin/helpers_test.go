package admin_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/hsmtest"
	"github.com/posgate/posgate/hsm/termcrypto"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/memstore"
	"github.com/posgate/posgate/terminal/redisstore"
)

// env is one admin server over HTTP on loopback, with the registry and security module behind it.
type env struct {
	store  terminal.Store
	hsm    *hsm.Software
	server *admin.Server
	http   *httptest.Server
	c      *adminapi.Client
	token  string
	logs   *observer.ObservedLogs
}

// storeFactory returns a fresh, empty registry for one test.
type storeFactory func(t *testing.T) terminal.Store

func memStore(t *testing.T) terminal.Store {
	t.Helper()
	s, err := memstore.Open(memstore.Config{}, nil)
	if err != nil {
		t.Fatalf("memstore.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var redisPrefixes atomic.Int64

// redisStores returns a factory of redisstore registries, each in its own key space on one
// real redis-server started for the test.
func redisStores(t *testing.T) storeFactory {
	srv := redistest.Start(t)
	return func(t *testing.T) terminal.Store {
		t.Helper()
		s, err := redisstore.New(redisstore.Config{
			URL:    srv.URL(),
			Prefix: "admintest" + strconv.FormatInt(redisPrefixes.Add(1), 10) + ":",
		})
		if err != nil {
			t.Fatalf("redisstore.New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		return s
	}
}

func newModule(t testing.TB) *hsm.Software {
	t.Helper()
	m, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		t.Fatalf("hsm.NewSoftware: %v", err)
	}
	return m
}

// newEnv starts the admin handler on an httptest server (a real loopback listener). configure
// may adjust the config before New.
func newEnv(t *testing.T, store terminal.Store, configure func(*admin.Config)) *env {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	e := &env{store: store, hsm: newModule(t), token: admin.NewToken(), logs: logs}
	cfg := admin.Config{Token: e.token}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := admin.New(cfg, store, e.hsm, zap.New(core))
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	e.server = srv
	e.http = httptest.NewServer(srv.Handler())
	t.Cleanup(e.http.Close)
	e.c = &adminapi.Client{BaseURL: e.http.URL, Token: e.token, HTTP: e.http.Client()}
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// raw sends a request with the env's token (unless auth is given: "" sends none) and returns
// status, headers and body.
func (e *env) raw(t *testing.T, method, path, contentType, body string, auth ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	a := "Bearer " + e.token
	if len(auth) > 0 {
		a = auth[0]
	}
	if a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// wantAPIError checks that err is an *adminapi.Error of status and sentinel.
func wantAPIError(t *testing.T, err error, status int, sentinel error) *adminapi.Error {
	t.Helper()
	var ae *adminapi.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *adminapi.Error", err, err)
	}
	if ae.Status != status || !errors.Is(err, sentinel) {
		t.Fatalf("error = %v, want HTTP %d matching %v", err, status, sentinel)
	}
	return ae
}

// merchantFields is a valid merchant description.
func merchantFields(name string) *adminapi.NewMerchant {
	return &adminapi.NewMerchant{Name: name, MCC: "5812", City: "Shanghai", SettlementAccount: "6222020200112233445"}
}

// mid and tid make valid identifiers from a number.
func mid(n int) string { return fmt.Sprintf("M%014d", n) }
func tid(n int) string { return fmt.Sprintf("T%07d", n) }

// activate plays the terminal: it proves knowledge of code for sn against the verifier the
// registry stores and, if the module accepts the proof, spends the code in the registry.
// It returns the module's error (hsm.ErrProof for a wrong or revoked code).
func (e *env) activate(t *testing.T, sn, code string) (hsm.Activation, error) {
	t.Helper()
	ctx := ctxT(t)
	stored, err := e.store.GetActivationCode(ctx, sn)
	if err != nil {
		t.Fatalf("GetActivationCode(%s): %v", sn, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&hsmtest.RSAKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := termcrypto.ActivationProof(code, []byte(sn), pub)
	if err != nil {
		t.Fatalf("ActivationProof: %v", err)
	}
	act, err := e.hsm.Activate(ctx, stored.Verifier, []byte(sn), pub, proof)
	if err != nil {
		return act, err
	}
	if _, err := e.store.Activate(ctx, sn, stored.Verifier, act.TMK); err != nil {
		t.Fatalf("store.Activate: %v", err)
	}
	return act, nil
}

// logText returns every log line the server wrote, with its fields, as one string.
func (e *env) logText() string {
	var b bytes.Buffer
	for _, l := range e.logs.All() {
		fmt.Fprintf(&b, "%s %v\n", l.Message, l.ContextMap())
	}
	return b.String()
}

func httptestServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}
