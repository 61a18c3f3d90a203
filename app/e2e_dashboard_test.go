package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/terminal"
)

// The dashboard page loads without a token; its live data needs one and reflects traffic and
// security events.
func TestDashboardStats(t *testing.T) {
	checkNoLeak(t)
	dir := t.TempDir()
	e := startNode(t, "", func(c *app.Config) { c.AdminListen = "127.0.0.1:0"; c.DataDir = dir })
	base := "http://" + e.node.AdminAddr().String()

	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<title>posgate") {
		t.Fatalf("dashboard page: %d", resp.StatusCode)
	}
	resp, err = http.Get(base + adminapi.PathStats)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stats without a token: %d", resp.StatusCode)
	}

	term := e.ready(testTID, testSN, nil)
	for i := 0; i < 3; i++ {
		res, err := term.Purchase(e.ctx, card(), 1000+int64(i))
		expect(t, "purchase", res, err, "00")
	}
	if _, err := e.node.Registry.Block(e.ctx, testTID, terminal.ReasonStolen); err != nil {
		t.Fatal(err)
	}
	res, err := term.Purchase(e.ctx, card(), 1234)
	expect(t, "purchase on a stolen terminal", res, err, "58")

	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	c := adminapi.Client{BaseURL: base, Token: strings.TrimSpace(string(tok))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != "embedded" || st.Connections < 1 || st.Approved < 3 || st.ResponseCodes["58"] != 1 ||
		st.Kinds["purchase"] < 4 || st.Security["blocked"] != 1 || st.Journal.Appended < 3 || st.LatencyP99Ms <= 0 {
		t.Fatalf("stats: %+v", st)
	}
	if len(st.Recent) == 0 || st.Recent[0].Terminal != testTID || st.Recent[0].Reason != "blocked" {
		t.Fatalf("recent security events: %+v", st.Recent)
	}
	var ae *adminapi.Error
	bad := adminapi.Client{BaseURL: base, Token: "wrong-token-wrong-token-wrong"}
	if _, err := bad.Stats(ctx); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("stats with a wrong token: %v", err)
	}
}
