package app_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
)

// chromium finds the browser for the dashboard test: on CI it must be there (.ci/run installs
// it); elsewhere the test is skipped with the reason.
func chromium(t *testing.T) string {
	return requireTool(t, "chromium", "chromium", "chromium-browser", "google-chrome")
}

// requireTool returns the first of names on PATH. Without one the test fails on CI (.ci/run
// installs the Debian package pkg) and is skipped elsewhere.
func requireTool(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no %s on PATH: .ci/run installs it (apt-get install %s)", names[0], pkg)
	}
	t.Skipf("no %s on PATH (apt-get install %s)", names[0], pkg)
	return ""
}

// The dashboard as an operator sees it: a real headless browser enters the token, and the page
// shows live traffic and the security event of a stolen terminal.
func TestDashboardInBrowser(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	e := startNode(t, "", func(c *app.Config) { c.AdminListen = "127.0.0.1:0"; c.DataDir = dir })
	term := e.ready(testTID, testSN, nil)
	for i := 0; i < 5; i++ {
		res, err := term.Purchase(e.ctx, card(), 500+int64(i))
		expect(t, "purchase", res, err, "00")
	}
	if _, err := e.node.Registry.Block(e.ctx, testTID, terminal.ReasonStolen); err != nil {
		t.Fatal(err)
	}
	res, err := term.Purchase(e.ctx, card(), 777)
	expect(t, "purchase on a stolen terminal", res, err, "58")
	ctx := openDashboard(t, browser, e, dir)
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("notReady").hidden`)); err != nil || !hidden {
		t.Errorf("a ready node shows the not-ready card (hidden %v, %v)", hidden, err)
	}
	text := func(id string) string {
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(id)))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return v
	}
	approval, security, recent, conns := text("#approval"), text("#security"), text("#recent"), text("#conns")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !strings.Contains(approval, "%") || !strings.Contains(security, "blocked") ||
		!strings.Contains(recent, testTID) || conns == "0" || conns == "" {
		t.Fatalf("dashboard shows approval %q, security %q, recent %q, connections %q", approval, security, recent, conns)
	}
	if out := os.Getenv("POSGATE_DASHBOARD_SHOT"); out != "" {
		_ = os.WriteFile(out, shot, 0o644)
	}
	if who := text("#who"); who != "bootstrap (admin)" {
		t.Errorf("signed-in principal shown as %q", who)
	}
	// A wrong token is told so, and the dashboard stays closed.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`sessionStorage.clear(); location.reload(); true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token-of-this-node"),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS("#loginError")),
	); err != nil {
		t.Fatalf("wrong token: %v", err)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("dash").hidden`)); err != nil || !hidden {
		t.Errorf("the dashboard opened with a wrong token (hidden %v, %v)", hidden, err)
	}
}

// openDashboard starts a headless browser, enters the node's admin token and waits until the
// dashboard is live.
func openDashboard(t *testing.T, browser string, e *env, dir string) context.Context {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	ctx, cancelC := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelC)
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+e.node.AdminAddr().String()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), strings.TrimSpace(string(tok))),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS("#dash")),
	); err != nil {
		t.Fatalf("browser: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("status").textContent.startsWith("live")`)); err != nil {
		t.Fatalf("dashboard never went live: %v", err)
	}
	return ctx
}

// A Redis that loses its data (FLUSHALL: what a restart without persistence leaves) shows on
// the dashboard as a red "Node not ready" card with the reason, and /readyz answers 503.
func TestDashboardShowsRegistryLost(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	rs := redistest.Start(t)
	e := startNode(t, rs.URL(), func(c *app.Config) {
		c.AdminListen, c.DataDir, c.RedisCheckInterval = "127.0.0.1:0", dir, 100*time.Millisecond
	})
	ctx := openDashboard(t, browser, e, dir)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	if err := rdb.FlushAll(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("notReady").hidden`)); err != nil {
		t.Fatalf("the not-ready card never showed: %v", err)
	}
	reason, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#notReadyReason")))
	if err != nil || !strings.Contains(reason, "Redis lost the registry") {
		t.Fatalf("not-ready reason %q, %v", reason, err)
	}
	if err := (&adminapi.Client{BaseURL: "http://" + e.node.AdminAddr().String()}).Ready(e.ctx); err == nil {
		t.Error("/readyz ready after the registry was lost")
	}
}
