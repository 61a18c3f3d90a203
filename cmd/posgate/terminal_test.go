package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/hsmtest"
	"github.com/posgate/posgate/hsm/termcrypto"
	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/memstore"
)

// adminFixture is a real admin API (memstore registry, software security module) on loopback.
type adminFixture struct {
	url   string
	token string
	store *memstore.Store
	hsm   *hsm.Software
}

// newAdminFixture starts the server and points the CLI at it through $POSGATE_ADMIN_TOKEN.
func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	store, err := memstore.Open(memstore.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mod, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		t.Fatal(err)
	}
	f := &adminFixture{token: admin.NewToken(), store: store, hsm: mod}
	srv, err := admin.New(admin.Config{Token: f.token}, store, mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	f.url = hs.URL
	t.Setenv(envAdminToken, f.token)
	return f
}

// cli runs `posgate terminal args…` against the fixture.
func (f *adminFixture) cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, stdin, append([]string{"terminal", args[0], "--server", f.url}, args[1:]...)...)
}

// checkActivates proves the code against the verifier the registry stores for sn.
func (f *adminFixture) checkActivates(t *testing.T, sn, code string) {
	t.Helper()
	ctx := context.Background()
	stored, err := f.store.GetActivationCode(ctx, sn)
	if err != nil {
		t.Fatalf("GetActivationCode(%s): %v", sn, err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&hsmtest.RSAKey(t).PublicKey)
	proof, err := termcrypto.ActivationProof(code, []byte(sn), pub)
	if err != nil {
		t.Fatalf("ActivationProof: %v", err)
	}
	if _, err := f.hsm.Activate(ctx, stored.Verifier, []byte(sn), pub, proof); err != nil {
		t.Errorf("the printed code for %s does not match the stored verifier: %v", sn, err)
	}
}

var codeRE = regexp.MustCompile(`\b\d{4}-\d{4}-\d{4}-\d{4}-\d{4}\b`)

func oneLineErr(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one line: %q", stderr)
	}
}

const (
	cliTID = "T0000001"
	cliMID = "M00000000000001"
)

func addArgs(tid, sn string) []string {
	return []string{"add", "--sn", sn, "--tid", tid, "--mid", cliMID, "--merchant-name", "Dumpling House",
		"--mcc", "5812", "--city", "Beijing", "--settlement-account", "6222000011112222", "--device-type", "02"}
}

func TestTerminalCLIAddAndShow(t *testing.T) {
	f := newAdminFixture(t)
	status, out, errOut := f.cli(t, "", addArgs(cliTID, "SN-1")...)
	if status != exitOK || errOut != "" {
		t.Fatalf("add: %d %q", status, errOut)
	}
	code := codeRE.FindString(out)
	if code == "" || !strings.Contains(out, "terminal T0000001 created") || !strings.Contains(out, "merchant "+cliMID+" created") {
		t.Fatalf("add output:\n%s", out)
	}
	f.checkActivates(t, "SN-1", code)

	status, out, _ = f.cli(t, "", append(addArgs("T0000002", "SN-2"), "--json", "--legacy")...)
	var res adminapi.CreateTerminalResponse
	if status != exitOK || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("add --json: %d %s", status, out)
	}
	if res.ActivationCode == "" || res.MerchantCreated || !res.Terminal.Legacy || res.Terminal.DeviceType != "02" || res.ExpiresAt == nil {
		t.Errorf("add --json = %+v", res)
	}
	f.checkActivates(t, "SN-2", res.ActivationCode)

	status, out, _ = f.cli(t, "", "show", "T0000002")
	for _, want := range []string{"T0000002", "SN-2", "pending", "legacy", "yes", "TMK KCV", "batch", "000001"} {
		if status != exitOK || !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	if codeRE.MatchString(out) {
		t.Errorf("show prints an activation code")
	}
	// Flags may follow the TID.
	status, out, _ = f.cli(t, "", "show", "T0000002", "--json")
	var v adminapi.Terminal
	if status != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.TID != "T0000002" || v.SN != "SN-2" {
		t.Errorf("show --json: %d %s", status, out)
	}
}

func TestTerminalCLIActions(t *testing.T) {
	f := newAdminFixture(t)
	if status, _, errOut := f.cli(t, "", addArgs(cliTID, "SN-1")...); status != exitOK {
		t.Fatalf("add: %s", errOut)
	}
	ctx := context.Background()
	tests := []struct {
		args  []string
		out   string
		check func(terminal.Terminal) bool
	}{
		{[]string{"block", cliTID, "--reason", "stolen"}, "terminal T0000001: blocked (stolen)",
			func(t terminal.Terminal) bool {
				return t.Status == terminal.StatusBlocked && t.BlockReason == terminal.ReasonStolen
			}},
		{[]string{"unblock", cliTID}, "terminal T0000001: pending",
			func(t terminal.Terminal) bool { return t.Status == terminal.StatusPending }},
		{[]string{"resign", cliTID}, "terminal T0000001: will be told to sign on again",
			func(t terminal.Terminal) bool { return t.ForceSignOn }},
		{[]string{"software", cliTID, "--target", "V3"}, "terminal T0000001: target software version V3 (reported -), update pending",
			func(t terminal.Terminal) bool { return t.TargetVersion == "V3" }},
		{[]string{"software", "--target", "", cliTID}, "terminal T0000001: no target software version",
			func(t terminal.Terminal) bool { return t.TargetVersion == "" }},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			status, out, errOut := f.cli(t, "", tc.args...)
			if status != exitOK || !strings.HasPrefix(out, tc.out) || errOut != "" {
				t.Fatalf("got %d %q %q, want output %q", status, out, errOut, tc.out)
			}
			stored, err := f.store.GetTerminal(ctx, cliTID)
			if err != nil || !tc.check(stored) {
				t.Errorf("registry after %v: %+v, %v", tc.args, stored, err)
			}
			status, out, _ = f.cli(t, "", append(tc.args, "--json")...)
			var v adminapi.Terminal
			if status != exitOK || json.Unmarshal([]byte(out), &v) != nil || v.TID != cliTID {
				t.Errorf("--json: %d %s", status, out)
			}
		})
	}

	status, out, _ := f.cli(t, "", "code", cliTID, "--ttl", "1h")
	code := codeRE.FindString(out)
	if status != exitOK || code == "" || !strings.Contains(out, "SN SN-1") {
		t.Fatalf("code: %d %s", status, out)
	}
	f.checkActivates(t, "SN-1", code)
	status, out, _ = f.cli(t, "", "code", cliTID, "--json")
	var ac adminapi.ActivationCode
	if status != exitOK || json.Unmarshal([]byte(out), &ac) != nil || ac.ActivationCode == "" || ac.ActivationCode == code {
		t.Fatalf("code --json: %d %s", status, out)
	}
	f.checkActivates(t, "SN-1", ac.ActivationCode)
}

func TestTerminalCLIList(t *testing.T) {
	f := newAdminFixture(t)
	for i, sn := range []string{"SN-A", "SN-B", "SN-C"} {
		tid := "T000000" + string(rune('1'+i))
		if status, _, errOut := f.cli(t, "", addArgs(tid, sn)...); status != exitOK {
			t.Fatalf("add: %s", errOut)
		}
	}
	if status, _, _ := f.cli(t, "", "block", "T0000002", "--reason", "lost"); status != exitOK {
		t.Fatal("block failed")
	}
	status, out, _ := f.cli(t, "", "list")
	if status != exitOK || strings.Count(out, "\n") != 4 || !strings.Contains(out, "blocked (lost)") || !strings.HasPrefix(out, "TID") {
		t.Errorf("list:\n%s", out)
	}
	status, out, _ = f.cli(t, "", "list", "--limit", "2")
	if status != exitOK || !strings.Contains(out, "more terminals follow: add --after T0000002") {
		t.Errorf("list --limit 2:\n%s", out)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--all", "--limit", "1"}, []string{"T0000001", "T0000002", "T0000003"}},
		{[]string{"--status", "blocked"}, []string{"T0000002"}},
		{[]string{"--status", "pending", "--mid", cliMID}, []string{"T0000001", "T0000003"}},
		{[]string{"--sn", "SN-C"}, []string{"T0000003"}},
		{[]string{"--tid", "T0000001"}, []string{"T0000001"}},
		{[]string{"--sn", "SN-NONE"}, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			status, out, errOut := f.cli(t, "", append([]string{"list", "--json"}, tc.args...)...)
			var l adminapi.TerminalList
			if status != exitOK || json.Unmarshal([]byte(out), &l) != nil {
				t.Fatalf("%d %s %s", status, out, errOut)
			}
			var got []string
			for _, v := range l.Terminals {
				got = append(got, v.TID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") || l.Terminals == nil {
				t.Errorf("got %v (terminals %v), want %v", got, l.Terminals, tc.want)
			}
		})
	}
}

func TestTerminalCLIErrors(t *testing.T) {
	f := newAdminFixture(t)
	if status, _, errOut := f.cli(t, "", addArgs(cliTID, "SN-1")...); status != exitOK {
		t.Fatalf("add: %s", errOut)
	}
	tokenFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tokenFile, []byte(f.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    string // "" keeps the fixture's token
		args   []string
		status int
		want   string // in stderr
	}{
		{"unknown command", "", []string{"terminal", "frobnicate"}, exitUsage, "unknown command"},
		{"no command", "", []string{"terminal"}, exitUsage, "usage"},
		{"unknown flag", "", []string{"terminal", "list", "--bogus"}, exitUsage, "bogus"},
		{"missing --sn", "", []string{"terminal", "add", "--tid", "T0000009", "--mid", cliMID, "--server", f.url}, exitUsage, "--sn is required"},
		{"show without TID", "", []string{"terminal", "show", "--server", f.url}, exitUsage, "want 1 argument"},
		{"show two TIDs", "", []string{"terminal", "show", "A", "B", "--server", f.url}, exitUsage, "want 1 argument"},
		{"list with argument", "", []string{"terminal", "list", "x", "--server", f.url}, exitUsage, "unexpected argument"},
		{"bad reason", "", []string{"terminal", "block", cliTID, "--reason", "broken", "--server", f.url}, exitUsage, "--reason"},
		{"software without target", "", []string{"terminal", "software", cliTID, "--server", f.url}, exitUsage, "--target is required"},
		{"bad server URL", "", []string{"terminal", "list", "--server", "127.0.0.1:8080"}, exitUsage, "--server"},
		{"invalid TID (400)", "", []string{"terminal", "show", "short", "--server", f.url}, exitUsage, "invalid tid"},
		{"new merchant with a bad MCC (400)", "", []string{"terminal", "add", "--sn", "SN-9", "--tid", "T0000009", "--mid", "M00000000000009",
			"--merchant-name", "X", "--mcc", "58A2", "--server", f.url}, exitUsage, "invalid mcc"},
		{"unknown terminal (404)", "", []string{"terminal", "show", "T0000009", "--server", f.url}, exitFail, "not found (HTTP 404 not_found)"},
		{"duplicate TID (409)", "", append([]string{"terminal"}, append(addArgs(cliTID, "SN-2"), "--server", f.url)...), exitFail, "HTTP 409 exists"},
		{"duplicate SN (409)", "", append([]string{"terminal"}, append(addArgs("T0000002", "SN-1"), "--server", f.url)...), exitFail, "HTTP 409 sn_bound"},
		{"unreachable server", "", []string{"terminal", "list", "--server", "http://127.0.0.1:1", "--timeout", "2s"}, exitFail, "cannot reach the admin API"},
		{"wrong token (401)", "wrong-token-0123456789", []string{"terminal", "list", "--server", f.url}, exitFail, "HTTP 401"},
		{"malformed env token", "short", []string{"terminal", "list", "--server", f.url}, exitUsage, envAdminToken},
		{"missing token file", "", []string{"terminal", "list", "--server", f.url, "--token-file", filepath.Join(t.TempDir(), "none")}, exitUsage, "read token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(envAdminToken, tc.env)
			}
			status, out, errOut := runCLI(t, "", tc.args...)
			if status != tc.status || !strings.Contains(errOut, tc.want) {
				t.Errorf("got %d %q, want %d with %q", status, errOut, tc.status, tc.want)
			}
			if tc.name != "no command" {
				oneLineErr(t, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
			if strings.Contains(errOut, f.token) || (tc.env != "" && strings.Contains(errOut, tc.env) && len(tc.env) > 5) {
				t.Errorf("stderr holds a token")
			}
		})
	}

	t.Run("token file", func(t *testing.T) {
		t.Setenv(envAdminToken, "")
		status, _, errOut := runCLI(t, "", "terminal", "show", cliTID, "--server", f.url, "--token-file", tokenFile)
		if status != exitOK {
			t.Errorf("with --token-file: %d %s", status, errOut)
		}
	})
	t.Run("no token", func(t *testing.T) {
		t.Setenv(envAdminToken, "")
		t.Chdir(t.TempDir()) // no ./data/admin.token either
		status, _, errOut := runCLI(t, "", "terminal", "list", "--server", f.url)
		if status != exitUsage || !strings.Contains(errOut, "no admin token") {
			t.Errorf("got %d %q", status, errOut)
		}
		oneLineErr(t, errOut)
	})
	t.Run("embedded default token file", func(t *testing.T) {
		t.Setenv(envAdminToken, "")
		dir := t.TempDir()
		t.Chdir(dir)
		if err := os.Mkdir("data", 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("data", admin.DefaultTokenFile), []byte(f.token), 0o600); err != nil {
			t.Fatal(err)
		}
		if status, _, errOut := runCLI(t, "", "terminal", "show", cliTID, "--server", f.url); status != exitOK {
			t.Errorf("with ./data/admin.token: %d %s", status, errOut)
		}
	})
}

const importHeader = "sn,tid,mid,merchant_name,mcc,city,settlement_account\n"

func TestTerminalCLIImport(t *testing.T) {
	f := newAdminFixture(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.csv", "\ufeff"+importHeader+
		"SN-I1,T0000101,M00000000000101,Tea Shop,5812,Hangzhou,6222000011110001\n"+
		"SN-I2,T0000102,M00000000000101,Tea Shop,5812,Hangzhou,\n"+
		"SN-I3, T0000103 ,M00000000000102,\"Noodles, Inc.\",5814,,6222000011110002\n")
	status, out, errOut := f.cli(t, "", "import", good)
	if status != exitOK || errOut != "" {
		t.Fatalf("import: %d %s", status, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("import printed %d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		fields := strings.Fields(l)
		if len(fields) != 4 || !codeRE.MatchString(fields[2]) {
			t.Fatalf("line %q", l)
		}
		f.checkActivates(t, fields[1], fields[2])
		if want := "T000010" + string(rune('1'+i)); fields[0] != want {
			t.Errorf("line %d is for %s, want %s", i, fields[0], want)
		}
	}
	if m, err := f.store.GetMerchant(context.Background(), "M00000000000102"); err != nil || m.Name != "Noodles, Inc." {
		t.Errorf("merchant 102 = %+v, %v", m, err)
	}

	// JSON, from stdin.
	status, out, _ = f.cli(t, importHeader+"SN-J1,T0000201,M00000000000101,,,,\n", "import", "-", "--json")
	var res []importResult
	if status != exitOK || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || res[0].Line != 2 ||
		res[0].TID != "T0000201" || res[0].ActivationCode == "" || res[0].MerchantCreated {
		t.Fatalf("import --json: %d %s", status, out)
	}
	f.checkActivates(t, "SN-J1", res[0].ActivationCode)

	bad := []struct {
		name, content string
		want          string
	}{
		{"bad TID on line 3", importHeader + "SN-K1,T0000301,M00000000000101,,,,\nSN-K2,T3,M00000000000101,,,,\n", "line 3: invalid tid"},
		{"repeated TID", importHeader + "SN-K1,T0000301,M00000000000101,,,,\nSN-K2,T0000301,M00000000000101,,,,\n", "line 3: tid T0000301 repeats line 2"},
		{"repeated SN", importHeader + "SN-K1,T0000301,M00000000000101,,,,\nSN-K1,T0000302,M00000000000101,,,,\n", "line 3: sn SN-K1 repeats line 2"},
		{"missing SN", importHeader + "SN-K1,T0000301,M00000000000101,,,,\n,T0000302,M00000000000101,,,,\n", "line 3: invalid sn"},
		{"bad MCC", importHeader + "SN-K1,T0000301,M00000000000101,X,58,,\n", "line 2: invalid mcc"},
		{"unknown column", "sn,tid,mid,colour\n", `unknown column "colour"`},
		{"missing column", "sn,tid\n", `missing column "mid"`},
		{"header only", importHeader, "no terminals to import"},
		{"empty", "", "empty file"},
		{"ragged row", importHeader + "SN-K1,T0000301\n", "line 2"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			status, out, errOut := f.cli(t, "", "import", write("bad.csv", tc.content))
			if status != exitUsage || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "nothing was created") || out != "" {
				t.Errorf("got %d %q %q, want exit 2 with %q", status, out, errOut, tc.want)
			}
			oneLineErr(t, errOut)
			if _, err := f.store.GetTerminal(context.Background(), "T0000301"); err == nil {
				t.Errorf("a terminal of a refused file was created")
			}
		})
	}
	if status, _, errOut := f.cli(t, "", "import", filepath.Join(dir, "missing.csv")); status != exitUsage {
		t.Errorf("missing file: %d %s", status, errOut)
	}

	// A row the server refuses stops the import; earlier rows stay created.
	partial := write("partial.csv", importHeader+
		"SN-P1,T0000401,M00000000000101,,,,\n"+
		"SN-P2,T0000101,M00000000000101,,,,\n"+ // TID imported above: 409
		"SN-P3,T0000403,M00000000000101,,,,\n")
	status, out, errOut = f.cli(t, "", "import", partial)
	if status != exitUsage || !strings.Contains(errOut, "line 3:") || !strings.Contains(errOut, "HTTP 409 exists") ||
		!strings.Contains(errOut, "1 terminal(s) of lines 2-2 were created") {
		t.Errorf("partial import: %d %q", status, errOut)
	}
	oneLineErr(t, errOut)
	if fields := strings.Fields(out); len(fields) != 4 || fields[0] != "T0000401" {
		t.Errorf("partial import printed %q, want the created row's code", out)
	} else {
		f.checkActivates(t, "SN-P1", fields[2])
	}
	if _, err := f.store.GetTerminal(context.Background(), "T0000403"); err == nil {
		t.Errorf("the row after the refused one was created")
	}
	status, out, _ = f.cli(t, "", "import", write("partial2.csv", importHeader+
		"SN-Q1,T0000501,M00000000000101,,,,\nSN-Q2,T0000502,M00000000000999,,,,\n"), "--json")
	res = nil
	if status != exitFail || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || res[0].TID != "T0000501" {
		t.Errorf("partial import --json (unknown merchant, 404): %d %s", status, out)
	}
}
