package app_test

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/loadtest/termsim"
	"github.com/posgate/posgate/terminal"
)

// The embedded default seeds demo terminals once; a simulated terminal activates with a code
// from the file and transacts.
func TestDemoTerminals(t *testing.T) {
	checkNoLeak(t)
	dir := t.TempDir()
	e := startNode(t, "", func(c *app.Config) { c.DataDir = dir; c.DemoTerminals = 3 })
	path := filepath.Join(dir, "demo-terminals.csv")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("demo file: %v %v", fi, err)
	}
	f, _ := os.Open(path)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != "tid,mid,sn,activation_code" {
		t.Fatalf("demo file rows %v %v", rows, err)
	}
	tid, sn, code := rows[1][0], rows[1][2], rows[1][3]
	term := e.terminal(sn, nil)
	if res, err := term.Activate(e.ctx, code, nil); err != nil || res.Code != "00" || term.TID() != tid {
		t.Fatalf("activate %s: %+v %v", tid, res, err)
	}
	if res, err := term.SignOn(e.ctx); err != nil || res.Code != "00" {
		t.Fatalf("sign on: %+v %v", res, err)
	}
	res, err := term.Purchase(e.ctx, card(), 888)
	expect(t, "demo purchase", res, err, "00")
	page, err := e.node.Registry.ListTerminals(e.ctx, terminal.TerminalQuery{MID: app.DemoMID})
	if err != nil || len(page.Terminals) != 3 {
		t.Fatalf("demo terminals in the registry: %d %v", len(page.Terminals), err)
	}
	_ = termsim.DefaultAppVersion
}
