package app_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
)

// Named tokens with roles and the audit trail, on a whole node: a viewer reads but cannot
// block, an operator blocks and reads the trail, only an admin manages tokens; every change
// and every refused change is in the trail with who, what, target, where from and result; a
// revoked token stops working at once.
func TestAdminRolesAndAudit(t *testing.T) {
	bootstrap := admin.NewToken()
	e := startNode(t, "", func(c *app.Config) { c.AdminListen, c.AdminToken = "127.0.0.1:0", bootstrap })
	ctx := e.ctx
	base := "http://" + e.node.AdminAddr().String()
	as := func(tok string) *adminapi.Client {
		return &adminapi.Client{BaseURL: base, Token: tok, HTTP: &http.Client{Timeout: 10 * time.Second}}
	}
	root := as(bootstrap)
	if w, err := root.WhoAmI(ctx); err != nil || w.Name != admin.BootstrapToken || w.Role != adminapi.RoleAdmin {
		t.Fatalf("whoami (bootstrap): %+v %v", w, err)
	}
	mint := func(name, role string) *adminapi.Client {
		tok, err := root.CreateToken(ctx, adminapi.CreateTokenRequest{Name: name, Role: role})
		if err != nil || tok.Token == "" || tok.Role != role || tok.CreatedBy != admin.BootstrapToken {
			t.Fatalf("create token %s: %+v %v", name, tok, err)
		}
		return as(tok.Token)
	}
	viewer, operator := mint("alice-view", adminapi.RoleViewer), mint("bob-ops", adminapi.RoleOperator)
	e.provision(testTID, testSN)

	forbidden := func(what string, err error) {
		t.Helper()
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !errors.Is(err, adminapi.ErrForbidden) {
			t.Errorf("%s: %v, want 403 forbidden", what, err)
		}
	}
	if _, err := viewer.GetTerminal(ctx, testTID); err != nil {
		t.Errorf("viewer reads a terminal: %v", err)
	}
	_, err := viewer.Block(ctx, testTID, adminapi.ReasonLost)
	forbidden("viewer blocks", err)
	_, err = viewer.Audit(ctx, 0, 0)
	forbidden("viewer reads the audit trail", err)
	_, err = operator.CreateToken(ctx, adminapi.CreateTokenRequest{Name: "mallory", Role: adminapi.RoleAdmin})
	forbidden("operator creates a token", err)
	_, err = operator.ListTokens(ctx)
	forbidden("operator lists tokens", err)
	if term, err := e.node.Registry.GetTerminal(ctx, testTID); err != nil || term.Status.String() == "blocked" {
		t.Fatalf("after the viewer's attempt: %v %v", term.Status, err)
	}
	if _, err := operator.Block(ctx, testTID, adminapi.ReasonStolen); err != nil {
		t.Fatalf("operator blocks: %v", err)
	}
	if _, err := operator.Block(ctx, "NOSUCH01", adminapi.ReasonLost); err == nil {
		t.Fatalf("block of an unknown terminal succeeded")
	}

	page, err := operator.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatalf("operator reads the audit trail: %v", err)
	}
	var lines []string
	for _, a := range page.Entries {
		if a.Seq == 0 || a.Time.IsZero() || !strings.HasPrefix(a.Remote, "127.0.0.1:") || a.Node != "node0" {
			t.Errorf("entry without sequence, time, remote address or node: %+v", a)
		}
		lines = append(lines, strings.Join([]string{a.Actor, a.Role, a.Action, a.Target, a.Outcome, a.Code}, "|"))
	}
	want := []string{
		"bootstrap|admin|POST /v1/tokens||requested|", "bootstrap|admin|POST /v1/tokens|name=alice-view role=viewer|ok|",
		"bootstrap|admin|POST /v1/tokens||requested|", "bootstrap|admin|POST /v1/tokens|name=bob-ops role=operator|ok|",
		"alice-view|viewer|POST /v1/terminals/{tid}/block|tid=" + testTID + "|forbidden|forbidden",
		"bob-ops|operator|POST /v1/tokens||forbidden|forbidden",
		"bob-ops|operator|POST /v1/terminals/{tid}/block|tid=" + testTID + "|requested|",
		"bob-ops|operator|POST /v1/terminals/{tid}/block|tid=" + testTID + " reason=stolen|ok|",
		"bob-ops|operator|POST /v1/terminals/{tid}/block|tid=NOSUCH01|requested|",
		"bob-ops|operator|POST /v1/terminals/{tid}/block|tid=NOSUCH01 reason=lost|failed|not_found",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// A "requested" record comes before its outcome, which names it.
	for i, a := range page.Entries {
		if a.Outcome == adminapi.OutcomeOK || a.Outcome == adminapi.OutcomeFailed {
			if a.Request != page.Entries[i-1].Seq {
				t.Errorf("entry %d names request %d, want %d", a.Seq, a.Request, page.Entries[i-1].Seq)
			}
		}
	}

	// Revocation works at once; the list shows what is left, never a token.
	if err := root.RevokeToken(ctx, "bob-ops"); err != nil {
		t.Fatal(err)
	}
	var ae *adminapi.Error
	if _, err := operator.GetTerminal(ctx, testTID); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("revoked token: %v, want 401", err)
	}
	l, err := root.ListTokens(ctx)
	if err != nil || len(l) != 1 || l[0].Name != "alice-view" {
		t.Errorf("tokens after revoking bob-ops: %+v %v", l, err)
	}
	if err := root.RevokeToken(ctx, "bob-ops"); !errors.Is(err, adminapi.ErrNotFound) {
		t.Errorf("second revocation: %v, want not found", err)
	}
	for _, bad := range []adminapi.CreateTokenRequest{{Name: "bootstrap", Role: "admin"}, {Name: "Bad Name", Role: "viewer"},
		{Name: "x", Role: "root"}, {Name: "alice-view", Role: "viewer"}} {
		if _, err := root.CreateToken(ctx, bad); err == nil {
			t.Errorf("create token %+v succeeded", bad)
		}
	}
}
