package natsstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/admin/natsstore"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/natsembed/natstest"
	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/memstore"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Two nodes share the bucket: a token created on one is known to the other, and a revocation
// on one is seen by the other's cache.
func TestTokensAcrossNodes(t *testing.T) {
	ctx := ctxT(t)
	srv := natstest.Start(t)
	a, err := natsstore.OpenTokens(ctx, natstest.Connect(t, srv), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := natsstore.OpenTokens(ctx, natstest.Connect(t, srv), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := sha256.Sum256([]byte(admin.NewToken()))
	rec := admin.TokenRecord{Name: "carol", Role: adminapi.RoleOperator, Hash: h, CreatedAt: time.Now().UTC().Truncate(time.Second), CreatedBy: "bootstrap"}
	if err := a.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, ok := a.Lookup(h); !ok || got != rec {
		t.Fatalf("creating node: %+v %v", got, ok)
	}
	eventually(t, "the other node knows the token", func() bool { _, ok := b.Lookup(h); return ok })
	if err := b.Create(ctx, rec); !errors.Is(err, admin.ErrTokenExists) {
		t.Errorf("second create: %v", err)
	}
	if err := b.Revoke(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Lookup(h); ok {
		t.Errorf("the revoking node still knows the token")
	}
	eventually(t, "the other node forgets the token", func() bool { _, ok := a.Lookup(h); return !ok })
	if err := a.Revoke(ctx, "carol"); !errors.Is(err, admin.ErrTokenNotFound) {
		t.Errorf("second revoke: %v", err)
	}
	// A node opened later loads the bucket.
	if err := a.Create(ctx, admin.TokenRecord{Name: "dave", Role: adminapi.RoleViewer, Hash: sha256.Sum256([]byte("d")), CreatedAt: rec.CreatedAt}); err != nil {
		t.Fatal(err)
	}
	c, err := natsstore.OpenTokens(ctx, natstest.Connect(t, srv), "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l, _ := c.List(ctx); len(l) != 1 || l[0].Name != "dave" {
		t.Errorf("late node's list: %+v", l)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 5 s: %s", what)
}

// The audit trail pages oldest first; when it cannot store, a state-changing request is
// refused before anything changes.
func TestAuditRefusesWhenUnavailable(t *testing.T) {
	ctx := ctxT(t)
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	audit, err := natsstore.OpenAudit(ctx, nc, "", 1, "n1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if seq, err := audit.Append(ctx, adminapi.AuditEntry{Actor: "x", Action: "POST /v1/x", Outcome: "ok", Status: 200 + i}); err != nil || seq != uint64(i+1) {
			t.Fatalf("append %d: %d %v", i, seq, err)
		}
	}
	page, err := audit.List(ctx, 2, 2)
	if err != nil || len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 || page[1].Status != 203 {
		t.Fatalf("List(2, 2): %+v %v", page, err)
	}
	if rest, err := audit.List(ctx, 5, 10); err != nil || len(rest) != 0 {
		t.Fatalf("List past the end: %+v %v", rest, err)
	}

	reg, err := memstore.Open(memstore.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.CreateMerchant(ctx, terminal.Merchant{MID: "898310048160001", Name: "Shop", MCC: "5812", SettlementAccount: "6222000000000001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateTerminal(ctx, terminal.Terminal{TID: "T0000001", MID: "898310048160001"}); err != nil {
		t.Fatal(err)
	}
	module, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		t.Fatal(err)
	}
	tok := admin.NewToken()
	s, err := admin.New(admin.Config{Token: tok, Audit: audit, RequestTimeout: 2 * time.Second}, reg, module, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Shutdown(context.Background()) }()
	c := &adminapi.Client{BaseURL: "http://" + s.Addr().String(), Token: tok, HTTP: &http.Client{Timeout: 10 * time.Second}}
	if _, err := c.Block(ctx, "T0000001", adminapi.ReasonLost); err != nil {
		t.Fatalf("block with the trail up: %v", err)
	}
	if _, err := c.Unblock(ctx, "T0000001"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Block(ctx, "T0000001", adminapi.ReasonStolen)
	var ae *adminapi.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("block with the trail down: %v, want 503", err)
	}
	if term, _ := reg.GetTerminal(ctx, "T0000001"); term.Status == terminal.StatusBlocked {
		t.Errorf("the terminal was blocked without an audit record")
	}
	if _, err := c.GetTerminal(ctx, "T0000001"); err != nil {
		t.Errorf("reads need no audit record: %v", err)
	}
}
