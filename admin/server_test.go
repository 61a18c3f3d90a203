package admin_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, memStore(t), nil)
	tests := []struct {
		name, method, path, auth string
		status                   int
		code                     string
	}{
		{"no header", "GET", adminapi.PathTerminals, "", 401, adminapi.CodeUnauthorized},
		{"wrong token", "GET", adminapi.PathTerminals, "Bearer " + admin.NewToken(), 401, adminapi.CodeUnauthorized},
		{"token prefix", "GET", adminapi.PathTerminals, "Bearer " + e.token[:20], 401, adminapi.CodeUnauthorized},
		{"token with suffix", "GET", adminapi.PathTerminals, "Bearer " + e.token + "x", 401, adminapi.CodeUnauthorized},
		{"basic scheme", "GET", adminapi.PathTerminals, "Basic " + e.token, 401, adminapi.CodeUnauthorized},
		{"bare token", "GET", adminapi.PathTerminals, e.token, 401, adminapi.CodeUnauthorized},
		{"metrics without token", "GET", adminapi.PathMetrics, "", 401, adminapi.CodeUnauthorized},
		{"unknown path without token", "GET", "/v1/secret", "", 401, adminapi.CodeUnauthorized},
		{"write without token", "POST", adminapi.PathTerminals + "/T0000001/block", "", 401, adminapi.CodeUnauthorized},
		{"lower-case scheme", "GET", adminapi.PathTerminals, "bearer " + e.token, 200, ""},
		{"healthz without token", "GET", adminapi.PathHealth, "", 200, ""},
		{"readyz without token", "GET", adminapi.PathReady, "", 200, ""},
		{"unknown path with token", "GET", "/v1/secret", "Bearer " + e.token, 404, adminapi.CodeNotFound},
		{"wrong method", "DELETE", adminapi.PathTerminals + "/T0000001", "Bearer " + e.token, 405, adminapi.CodeMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.raw(t, tc.method, tc.path, "", "", tc.auth)
			if status != tc.status || h.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d (%s) %s, want %d", status, h.Get("Content-Type"), body, tc.status)
			}
			if tc.code != "" && !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Errorf("body %s, want code %s", body, tc.code)
			}
			if status == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge")
			}
			if status == 405 && h.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
	bad := &adminapi.Client{BaseURL: e.http.URL, Token: "wrong-token-0123456789", HTTP: e.http.Client()}
	_, err := bad.GetTerminal(ctxT(t), "T0000001")
	wantAPIError(t, err, http.StatusUnauthorized, adminapi.ErrUnauthorized)
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error holds the token: %v", err)
	}
	if strings.Contains(e.logText(), e.token[:20]) {
		t.Errorf("a log line holds the token")
	}
}

func TestProbesAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "posgate_test_total", Help: "test counter"})
	reg.MustRegister(c)
	c.Add(3)
	var notReady error = errors.New("journal not connected")
	e := newEnv(t, memStore(t), func(cfg *admin.Config) {
		cfg.Gatherer = reg
		cfg.Ready = func(context.Context) error { return notReady }
	})
	ctx := ctxT(t)
	if err := e.c.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
	err := e.c.Ready(ctx)
	if ae := wantAPIError(t, err, http.StatusServiceUnavailable, adminapi.ErrUnavailable); ae.Message != "journal not connected" {
		t.Errorf("not-ready reason %q", ae.Message)
	}
	notReady = nil
	if err := e.c.Ready(ctx); err != nil {
		t.Errorf("Ready when ready: %v", err)
	}
	status, h, body := e.raw(t, "GET", adminapi.PathMetrics, "", "")
	if status != 200 || !strings.Contains(string(body), "posgate_test_total 3") || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Errorf("metrics: %d %s\n%s", status, h.Get("Content-Type"), body)
	}

	noMetrics := newEnv(t, memStore(t), nil)
	if status, _, _ := noMetrics.raw(t, "GET", adminapi.PathMetrics, "", ""); status != http.StatusNotFound {
		t.Errorf("metrics without a Gatherer: %d, want 404", status)
	}
}

func TestLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	store := memStore(t)
	srv, err := admin.New(admin.Config{Addr: "127.0.0.1:0", Token: admin.NewToken()}, store, newModule(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != nil {
		t.Errorf("Addr before Start = %v", srv.Addr())
	}
	ctx := ctxT(t)
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := srv.Start(ctx); !errors.Is(err, admin.ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, admin.ErrStarted) {
		t.Errorf("Serve after Start: %v, want ErrStarted", err)
	}
	c := &adminapi.Client{BaseURL: "http://" + srv.Addr().String(), Token: "unused-but-valid-token"}
	if err := c.Health(ctx); err != nil {
		t.Fatalf("Health over the real listener: %v", err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := c.Health(ctx); err == nil {
		t.Errorf("server still answers after Shutdown")
	}
	if err := srv.Start(ctx); !errors.Is(err, admin.ErrClosed) {
		t.Errorf("Start after Shutdown: %v, want ErrClosed", err)
	}
	// Shutdown before Start is fine too.
	other, _ := admin.New(admin.Config{Token: admin.NewToken()}, store, newModule(t), nil)
	if err := other.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Shutdown, %d before", n, before)
	}
}

func TestConfigValidate(t *testing.T) {
	tok := admin.NewToken()
	tests := []struct {
		name  string
		cfg   admin.Config
		field string // "" = valid
	}{
		{"minimal", admin.Config{Token: tok}, ""},
		{"full", admin.Config{Addr: "127.0.0.1:9090", Token: tok, RequestTimeout: time.Second, MaxBodyBytes: 1024, CodeTTL: time.Hour}, ""},
		{"no token", admin.Config{}, "Token"},
		{"short token", admin.Config{Token: "short"}, "Token"},
		{"token with space", admin.Config{Token: "abcdefgh ijklmnopqrs"}, "Token"},
		{"bad addr", admin.Config{Token: tok, Addr: "8080"}, "Addr"},
		{"negative timeout", admin.Config{Token: tok, ReadTimeout: -1}, "Timeouts"},
		{"negative body", admin.Config{Token: tok, MaxBodyBytes: -1}, "MaxBodyBytes"},
		{"code TTL", admin.Config{Token: tok, CodeTTL: 100 * 24 * time.Hour}, "CodeTTL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ce *admin.ConfigError
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field || !errors.Is(err, admin.ErrConfig)):
				t.Errorf("Validate = %v, want a ConfigError on %s", err, tc.field)
			}
			if err != nil && tc.cfg.Token != "" && strings.Contains(err.Error(), tc.cfg.Token) {
				t.Errorf("error holds the token")
			}
		})
	}
	if _, err := admin.New(admin.Config{Token: tok}, nil, newModule(t), nil); !errors.Is(err, admin.ErrConfig) {
		t.Errorf("New without a registry: %v", err)
	}
}

// failingCodes is a security module that cannot draw codes.
type failingCodes struct{}

func (failingCodes) NewActivationCode(context.Context) (hsm.ActivationCode, error) {
	return hsm.ActivationCode{}, errors.New("module offline")
}

// A failure after the terminal was written says so, and 5xx bodies hide the cause.
func TestPartialFailure(t *testing.T) {
	store := memStore(t)
	tok := admin.NewToken()
	srv, err := admin.New(admin.Config{Token: tok}, store, failingCodes{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, token: tok}
	e.http = httptestServer(t, srv.Handler())
	e.c = &adminapi.Client{BaseURL: e.http.URL, Token: tok}
	_, err = e.c.CreateTerminal(ctxT(t), adminapi.CreateTerminalRequest{TID: tid(1), MID: mid(1), SN: "SN1", Merchant: merchantFields("P")})
	ae := wantAPIError(t, err, http.StatusInternalServerError, adminapi.ErrInternal)
	if !strings.Contains(ae.Message, "created without an activation code") || strings.Contains(ae.Message, "offline") {
		t.Errorf("message %q", ae.Message)
	}
	if _, err := store.GetTerminal(ctxT(t), tid(1)); err != nil {
		t.Errorf("terminal not created: %v", err)
	}
}

// The profiler is served behind the token only.
func TestPprofNeedsToken(t *testing.T) {
	e := newEnv(t, memStore(t), nil)
	if status, _, _ := e.raw(t, http.MethodGet, admin.PathPprof+"heap", "", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("pprof without a token: %d", status)
	}
	status, _, body := e.raw(t, http.MethodGet, admin.PathPprof+"heap?debug=1", "", "")
	if status != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("pprof with the token: %d", status)
	}
}
