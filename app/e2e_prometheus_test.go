package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/loadtest/termsim"
)

// A real Prometheus scrapes a running node (the admin API's /metrics, with a token) and
// evaluates the repo's alert rules; every query of the shipped Grafana dashboard
// (deploy/grafana/dashboards/posgate.json) must return data.
func TestDashboardQueriesReturnData(t *testing.T) {
	prom := requireTool(t, "prometheus", "prometheus")
	tok := admin.NewToken()
	e := startNode(t, "", func(c *app.Config) { c.AdminListen, c.AdminToken = "127.0.0.1:0", tok })
	// Traffic for every panel: approvals and a decline, upstream requests, a security event.
	term := e.ready(testTID, testSN, nil)
	for i := range 5 {
		res, err := term.Purchase(e.ctx, termsim.Card{PAN: testPAN}, 1000+int64(i))
		expect(t, "purchase", res, err, "00")
	}
	res, err := term.Purchase(e.ctx, termsim.Card{PAN: lostPAN}, 1500)
	declined(t, "lost card", res, err, "41")
	d := e.device("TERMP002", "000002021000300002")
	if rc := d.code(d.signOnMsg("09 ", d.sn, nil, false)); rc != "05" {
		t.Fatalf("wrong operator: %s", rc)
	}

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: posgate
    authorization: {credentials_file: %q}
    static_configs: [{targets: [%q]}]
`, rules, tokenFile, e.node.AdminAddr().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); log.Close() })
	logTail := func() string { b, _ := os.ReadFile(log.Name()); return string(b) }

	query := func(expr string) (int, error) {
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var body struct {
			Status string
			Error  string
			Data   struct{ Result []json.RawMessage }
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return 0, err
		}
		if body.Status != "success" {
			return 0, fmt.Errorf("%s", body.Error)
		}
		return len(body.Data.Result), nil
	}
	// The dashboard's queries, with its variables as Grafana would fill them.
	raw, err := os.ReadFile("../deploy/grafana/dashboards/posgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("$instance", ".*", "$__rate_interval", "1m")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			expr := fill.Replace(tg.Expr)
			var got int
			var err error
			for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
				if got, err = query(expr); err == nil && got > 0 {
					break
				}
			}
			if err != nil || got == 0 {
				t.Errorf("panel %q: %s: %d series, %v\nprometheus log:\n%s", p.Title, expr, got, err, logTail())
			}
		}
	}
	if n < 10 {
		t.Errorf("the dashboard has %d queries", n)
	}
	// The alert rules loaded and evaluate.
	resp, err := http.Get("http://" + addr + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rb struct {
		Data struct {
			Groups []struct {
				Rules []struct{ Name, Health string }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&rb); err != nil {
		t.Fatal(err)
	}
	rulesN := 0
	for _, g := range rb.Data.Groups {
		for _, r := range g.Rules {
			rulesN++
			if r.Health == "err" {
				t.Errorf("rule %s: %s", r.Name, r.Health)
			}
		}
	}
	if rulesN != 8 {
		t.Errorf("%d alert rules loaded, want 8", rulesN)
	}
}
