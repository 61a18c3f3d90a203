package adminapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posgate/posgate/adminapi"
)

// The client's error handling for responses that do not come from the admin server itself
// (a proxy's error page, a newer server's code) and for transport failures. The admin API
// proper is tested end to end in package admin.
func TestClientErrors(t *testing.T) {
	const token = "client-test-token-0123456789"
	tests := []struct {
		name     string
		status   int
		body     string
		sentinel error
		code     string
		msg      string
	}{
		{"error body", 409, `{"error":"terminal \"T0000001\": already exists","code":"exists"}`, adminapi.ErrExists, adminapi.CodeExists, `terminal "T0000001": already exists`},
		{"field", 400, `{"error":"invalid mcc: must be 4 digits","code":"invalid","field":"mcc"}`, adminapi.ErrInvalid, adminapi.CodeInvalid, "invalid mcc: must be 4 digits"},
		{"multi-line message", 404, `{"error":"no\nsuch\tthing","code":"not_found"}`, adminapi.ErrNotFound, adminapi.CodeNotFound, "no such thing"},
		{"proxy page", 502, `<html>Bad Gateway</html>`, adminapi.ErrUnavailable, adminapi.CodeUnavailable, "bad gateway"},
		{"proxy 401", 401, ``, adminapi.ErrUnauthorized, adminapi.CodeUnauthorized, "unauthorized"},
		{"unknown code", 418, `{"error":"teapot","code":"teapot"}`, adminapi.ErrUnexpected, "teapot", "teapot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+token {
					t.Errorf("Authorization header %q", r.Header.Get("Authorization"))
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := &adminapi.Client{BaseURL: srv.URL + "/", Token: token}
			_, err := c.GetTerminal(context.Background(), "T0000001")
			var ae *adminapi.Error
			if !errors.As(err, &ae) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v, want *Error matching %v", err, tc.sentinel)
			}
			if ae.Status != tc.status || ae.Code != tc.code || ae.Message != tc.msg {
				t.Errorf("got %+v, want status %d code %q message %q", ae, tc.status, tc.code, tc.msg)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error holds the token")
			}
		})
	}
}

func TestClientRequests(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get("Content-Type"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := &adminapi.Client{BaseURL: srv.URL + "/prefix", Token: "t"}
	ctx := context.Background()
	_, _ = c.ListTerminals(ctx, adminapi.ListTerminalsRequest{MID: "M 1", Status: "active", Limit: 5})
	_, _ = c.Block(ctx, "T/1?%", adminapi.ReasonLost)
	_, _ = c.GetMerchant(ctx, "M#1")
	want := []string{
		"GET /prefix/v1/terminals?limit=5&mid=M+1&status=active ",
		"POST /prefix/v1/terminals/T%2F1%3F%25/block? application/json",
		"GET /prefix/v1/merchants/M%231? ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	c = &adminapi.Client{BaseURL: "http://127.0.0.1:1", Token: "secret-token-value-1234"}
	err := c.Health(ctx)
	var ae *adminapi.Error
	if err == nil || errors.As(err, &ae) || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("unreachable server: %v", err)
	}
	if err := (&adminapi.Client{}).Health(ctx); err == nil {
		t.Errorf("empty BaseURL accepted")
	}
}
