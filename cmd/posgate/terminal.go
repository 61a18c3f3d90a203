package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/terminal"
)

// Where `posgate terminal` finds the admin API and its token.
const (
	defaultAdminServer = "http://127.0.0.1:8080"
	envAdminToken      = "POSGATE_ADMIN_TOKEN"
	// defaultTokenFile is the embedded default's token (posgate serve's ./data), tried last.
	defaultTokenFile = "data/" + admin.DefaultTokenFile
)

// apiCommand is a subcommand of a command group over the admin API (terminal, token).
type apiCommand struct {
	name, usage string
	run         func(c *termCmd, args []string) int
}

// terminalCommands are the subcommands of `posgate terminal`.
var terminalCommands = []apiCommand{
	{"add", "add --sn SN --tid TID --mid MID [--merchant-name NAME --mcc MCC --city CITY --settlement-account ACCT] [--legacy] [--device-type 02]", termAdd},
	{"list", "list [--mid MID] [--status pending|active|blocked] [--sn SN] [--tid TID] [--limit N] [--after TID] [--all]", termList},
	{"show", "show TID", termShow},
	{"block", "block TID --reason lost|stolen|other", termBlock},
	{"unblock", "unblock TID", termUnblock},
	{"code", "code TID [--ttl 168h]", termCode},
	{"unlock", "unlock TID (lift the activation-proof back-off)", termUnlock},
	{"resign", "resign TID", termResign},
	{"software", "software TID --target VERSION", termSoftware},
	{"import", "import FILE.csv (- for stdin)", termImport},
}

// groupUsage prints a command group's usage.
func groupUsage(w io.Writer, group, what string, cmds []apiCommand) {
	fmt.Fprintf(w, "usage: posgate %s <command> [flags]   (%s)\n", group, what)
	for _, c := range cmds {
		fmt.Fprintf(w, "  posgate %s %s\n", group, c.usage)
	}
	fmt.Fprintln(w, "common flags: --server URL (default "+defaultAdminServer+"), --ca FILE (https), --token-file PATH, --json, --timeout 30s")
	fmt.Fprintln(w, "token: --token-file, else $"+envAdminToken+", else ./"+defaultTokenFile)
}

// runGroup dispatches `posgate <group> <command> …` to one of cmds.
func runGroup(group, what string, cmds []apiCommand, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		groupUsage(stderr, group, what, cmds)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		groupUsage(stderr, group, what, cmds)
		return exitOK
	}
	for _, sc := range cmds {
		if sc.name == args[0] {
			c := newTermCmd(sc.name, sc.usage, stdin, stdout, stderr)
			c.name = group + " " + sc.name
			return sc.run(c, args[1:])
		}
	}
	return fail(stderr, group, exitUsage, fmt.Errorf("unknown command %q (see posgate %s help)", args[0], group))
}

// runTerminal is `posgate terminal <command> …`.
func runTerminal(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runGroup("terminal", "through the admin API", terminalCommands, args, stdin, stdout, stderr)
}

// termCmd holds one terminal subcommand's flags, streams and client.
type termCmd struct {
	name, usage    string
	fs             *flag.FlagSet
	server         *string
	tokenFile      *string
	caFile         *string
	asJSON         *bool
	timeout        *time.Duration
	stdin          io.Reader
	stdout, stderr io.Writer
}

func newTermCmd(name, usage string, stdin io.Reader, stdout, stderr io.Writer) *termCmd {
	fs := flag.NewFlagSet("terminal "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by parse
	c := &termCmd{name: "terminal " + name, usage: usage, fs: fs, stdin: stdin, stdout: stdout, stderr: stderr}
	c.server = fs.String("server", defaultAdminServer, "admin API base URL")
	c.tokenFile = fs.String("token-file", "", "file holding the admin token (default $"+envAdminToken+", then ./"+defaultTokenFile+")")
	c.caFile = fs.String("ca", "", "CA certificate (PEM) that verifies an https:// --server (default: the system's roots)")
	c.asJSON = fs.Bool("json", false, "print JSON for scripts")
	c.timeout = fs.Duration("timeout", 30*time.Second, "timeout of each API call")
	return c
}

// errHelp reports that -h was asked for; parse has printed the usage.
var errHelp = errors.New("help")

// parse parses flags given before or after the positional arguments and checks their count.
func (c *termCmd) parse(args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(c.stderr, "usage: posgate terminal "+c.usage)
				c.fs.SetOutput(c.stderr)
				c.fs.PrintDefaults()
				return nil, errHelp
			}
			return nil, err
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) != positional {
		if positional == 0 {
			return nil, fmt.Errorf("unexpected argument %q (usage: posgate terminal %s)", pos[0], c.usage)
		}
		return nil, fmt.Errorf("want %d argument(s) (usage: posgate terminal %s)", positional, c.usage)
	}
	return pos, nil
}

// parseOrFail parses args; ok is false when the command must return status.
func (c *termCmd) parseOrFail(args []string, positional int) (pos []string, status int, ok bool) {
	pos, err := c.parse(args, positional)
	switch {
	case errors.Is(err, errHelp):
		return nil, exitOK, false
	case err != nil:
		return nil, fail(c.stderr, c.name, exitUsage, err), false
	}
	return pos, exitOK, true
}

// client builds the API client from --server and the token (from --token-file, the environment
// or the embedded default's file — never from argv).
func (c *termCmd) client() (*adminapi.Client, error) {
	u, err := url.Parse(*c.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: must be an http:// or https:// URL", *c.server)
	}
	var tok string
	switch {
	case *c.tokenFile != "":
		tok, err = admin.LoadToken(*c.tokenFile)
	case os.Getenv(envAdminToken) != "":
		tok, err = admin.ParseToken(os.Getenv(envAdminToken))
		if err != nil {
			err = fmt.Errorf("$%s: %w", envAdminToken, err)
		}
	default:
		if _, serr := os.Stat(defaultTokenFile); serr != nil {
			return nil, fmt.Errorf("no admin token: set $%s or pass --token-file PATH", envAdminToken)
		}
		tok, err = admin.LoadToken(filepath.FromSlash(defaultTokenFile))
	}
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: *c.timeout}
	if *c.caFile != "" {
		if u.Scheme != "https" {
			return nil, errors.New("--ca needs an https:// --server")
		}
		pool, err := certPool(*c.caFile)
		if err != nil {
			return nil, err
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return &adminapi.Client{BaseURL: *c.server, Token: tok, HTTP: hc}, nil
}

// certPool reads a PEM CA file.
func certPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca %s: no PEM certificate", path)
	}
	return pool, nil
}

// setup parses args and builds the client; ok is false when the command must return status.
func (c *termCmd) setup(args []string, positional int) (cl *adminapi.Client, pos []string, status int, ok bool) {
	pos, status, ok = c.parseOrFail(args, positional)
	if !ok {
		return nil, nil, status, false
	}
	cl, err := c.client()
	if err != nil {
		return nil, nil, fail(c.stderr, c.name, exitUsage, err), false
	}
	return cl, pos, exitOK, true
}

func (c *termCmd) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), *c.timeout+5*time.Second)
}

// apiStatus is the exit status for an API call's error: 2 for a 400 (the user's input), 1 for
// anything else (unreachable server, 401, 404, 409, 5xx).
func apiStatus(err error) int {
	var ae *adminapi.Error
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return exitUsage
	}
	return exitFail
}

// apiMessage renders an API call's error as one line without the package prefix.
func apiMessage(server string, err error) error {
	var (
		ae *adminapi.Error
		ue *url.Error
	)
	switch {
	case errors.As(err, &ae):
		return fmt.Errorf("%s (HTTP %d %s)", ae.Message, ae.Status, ae.Code)
	case errors.As(err, &ue):
		return fmt.Errorf("cannot reach the admin API at %s: %v", server, oneLine(ue.Err.Error()))
	}
	return errors.New(oneLine(err.Error()))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// apiFail reports an API call's error in one line with its exit status.
func (c *termCmd) apiFail(err error) int {
	return fail(c.stderr, c.name, apiStatus(err), apiMessage(*c.server, err))
}

// printJSON writes v indented, for scripts.
func (c *termCmd) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fail(c.stderr, c.name, exitFail, err)
	}
	return exitOK
}

func termAdd(c *termCmd, args []string) int {
	sn := c.fs.String("sn", "", "device serial number (required)")
	tid := c.fs.String("tid", "", "terminal id, 8 characters (required)")
	mid := c.fs.String("mid", "", "merchant id, 15 characters (required)")
	name := c.fs.String("merchant-name", "", "merchant name: creates the merchant if it is new")
	mcc := c.fs.String("mcc", "", "merchant category code, for a new merchant")
	city := c.fs.String("city", "", "merchant city, for a new merchant")
	acct := c.fs.String("settlement-account", "", "settlement account, required for a new merchant")
	plan := c.fs.String("fee-plan", "", "fee plan of a new merchant (default: the settlement default)")
	legacy := c.fs.Bool("legacy", false, "terminal may sign on without field 59")
	device := c.fs.String("device-type", "", "device type: 02 POS, 03 mPOS, 04 smart POS")
	mac := c.fs.String("mac", "", "MAC algorithm: pos-ecb (default) or x9.19")
	ops := c.fs.String("operators", "", "comma-separated operator numbers (default 01)")
	ttl := c.fs.Duration("code-ttl", 0, "activation code validity (default 168h, at most 2160h)")
	cl, _, status, ok := c.setup(args, 0)
	if !ok {
		return status
	}
	for _, req := range []struct{ flag, v string }{{"sn", *sn}, {"tid", *tid}, {"mid", *mid}} {
		if req.v == "" {
			return fail(c.stderr, c.name, exitUsage, fmt.Errorf("--%s is required", req.flag))
		}
	}
	req := adminapi.CreateTerminalRequest{
		TID: *tid, MID: *mid, SN: *sn, DeviceType: *device, Legacy: *legacy, MACAlgorithm: *mac,
		CodeTTLSeconds: int64(*ttl / time.Second),
	}
	if *ops != "" {
		req.Operators = strings.Split(*ops, ",")
	}
	if *name != "" || *mcc != "" || *city != "" || *acct != "" || *plan != "" {
		req.Merchant = &adminapi.NewMerchant{Name: *name, MCC: *mcc, City: *city, SettlementAccount: *acct, FeePlan: *plan}
	}
	ctx, cancel := c.ctx()
	defer cancel()
	res, err := cl.CreateTerminal(ctx, req)
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(res)
	}
	t := res.Terminal
	fmt.Fprintf(c.stdout, "terminal %s created (MID %s, SN %s, status %s)\n", t.TID, t.MID, t.SN, t.Status)
	if res.MerchantCreated {
		fmt.Fprintf(c.stdout, "merchant %s created\n", t.MID)
	}
	fmt.Fprintf(c.stdout, "activation code: %s (expires %s; shown only once)\n", res.ActivationCode, fmtTime(res.ExpiresAt))
	return exitOK
}

func termList(c *termCmd, args []string) int {
	var req adminapi.ListTerminalsRequest
	c.fs.StringVar(&req.MID, "mid", "", "only this merchant's terminals")
	c.fs.StringVar(&req.Status, "status", "", "only terminals in this status: pending, active or blocked")
	c.fs.StringVar(&req.SN, "sn", "", "the terminal bound to this serial number")
	c.fs.StringVar(&req.TID, "tid", "", "the terminal with this id")
	c.fs.StringVar(&req.After, "after", "", "start after this TID (the cursor a previous page printed)")
	c.fs.IntVar(&req.Limit, "limit", 0, "at most this many per page (default 50, at most 1000)")
	all := c.fs.Bool("all", false, "fetch every page")
	cl, _, status, ok := c.setup(args, 0)
	if !ok {
		return status
	}
	ctx, cancel := c.ctx()
	defer cancel()
	var page adminapi.TerminalList
	if *all {
		page.Terminals = []adminapi.Terminal{}
		for t, err := range cl.AllTerminals(ctx, req) {
			if err != nil {
				return c.apiFail(err)
			}
			page.Terminals = append(page.Terminals, t)
		}
	} else {
		var err error
		if page, err = cl.ListTerminals(ctx, req); err != nil {
			return c.apiFail(err)
		}
	}
	if *c.asJSON {
		return c.printJSON(page)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TID\tMID\tSN\tSTATUS\tSOFTWARE\tTARGET\tLAST SEEN")
	for _, t := range page.Terminals {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TID, t.MID, dash(t.SN), statusText(t),
			dash(t.SoftwareVersion), dash(t.TargetVersion), fmtTime(t.LastSeen))
	}
	if err := tw.Flush(); err != nil {
		return fail(c.stderr, c.name, exitFail, err)
	}
	if page.Next != "" {
		fmt.Fprintf(c.stdout, "more terminals follow: add --after %s (or --all)\n", page.Next)
	}
	return exitOK
}

func termShow(c *termCmd, args []string) int {
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	ctx, cancel := c.ctx()
	defer cancel()
	t, err := cl.GetTerminal(ctx, pos[0])
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(t)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("TID", t.TID)
	row("MID", t.MID)
	row("SN", dash(t.SN))
	row("status", statusText(t))
	row("device type", dash(t.DeviceType))
	row("legacy", yesNo(t.Legacy))
	row("operators", strings.Join(t.Operators, ","))
	row("MAC algorithm", t.MACAlgorithm)
	row("TMK KCV", dash(t.Keys.TMKKCV))
	row("PIK KCV", dash(t.Keys.PIKKCV))
	row("MAK KCV", dash(t.Keys.MAKKCV))
	row("TDK KCV", dash(t.Keys.TDKKCV))
	row("key generation", fmt.Sprint(t.Keys.Generation))
	row("batch", t.Batch)
	row("software", dash(t.SoftwareVersion))
	target := dash(t.TargetVersion)
	if t.NeedsSoftwareUpdate {
		target += " (update pending)"
	}
	row("target software", target)
	row("force sign-on", yesNo(t.ForceSignOn))
	row("last seen", fmtTime(t.LastSeen))
	row("last sign-on", fmtTime(t.LastSignOn))
	row("created", fmtTime(&t.CreatedAt))
	row("updated", fmtTime(&t.UpdatedAt))
	row("revision", fmt.Sprint(t.Revision))
	if err := tw.Flush(); err != nil {
		return fail(c.stderr, c.name, exitFail, err)
	}
	return exitOK
}

func termBlock(c *termCmd, args []string) int {
	reason := c.fs.String("reason", "", "why: lost, stolen or other (required)")
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	switch *reason {
	case adminapi.ReasonLost, adminapi.ReasonStolen, adminapi.ReasonOther:
	default:
		return fail(c.stderr, c.name, exitUsage, errors.New("--reason must be lost, stolen or other"))
	}
	return c.change(pos[0], func(ctx context.Context, tid string) (adminapi.Terminal, error) {
		return cl.Block(ctx, tid, *reason)
	}, func(t adminapi.Terminal) string { return statusText(t) })
}

func termUnblock(c *termCmd, args []string) int {
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	return c.change(pos[0], cl.Unblock, func(t adminapi.Terminal) string { return statusText(t) })
}

func termUnlock(c *termCmd, args []string) int {
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	ctx, cancel := c.ctx()
	defer cancel()
	a, err := cl.UnlockActivation(ctx, pos[0])
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(a)
	}
	fmt.Fprintf(c.stdout, "terminal %s: SN %s may present activation proofs again (code expires %s)\n",
		a.TID, a.SN, fmtTime(&a.ExpiresAt))
	return exitOK
}

func termResign(c *termCmd, args []string) int {
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	return c.change(pos[0], cl.ForceSignOn, func(adminapi.Terminal) string {
		return "will be told to sign on again in its next response"
	})
}

func termSoftware(c *termCmd, args []string) int {
	target := c.fs.String("target", "", "software version the terminal should run (\"\" clears it; required)")
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	given := false
	c.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "target" })
	if !given {
		return fail(c.stderr, c.name, exitUsage, errors.New("--target is required (--target \"\" clears the target)"))
	}
	return c.change(pos[0], func(ctx context.Context, tid string) (adminapi.Terminal, error) {
		return cl.SetTargetVersion(ctx, tid, *target)
	}, func(t adminapi.Terminal) string {
		if t.TargetVersion == "" {
			return "no target software version"
		}
		s := "target software version " + t.TargetVersion + " (reported " + dash(t.SoftwareVersion) + ")"
		if t.NeedsSoftwareUpdate {
			s += ", update pending"
		}
		return s
	})
}

// change runs one terminal action and prints "terminal TID: <describe>" or the JSON terminal.
func (c *termCmd) change(tid string, call func(context.Context, string) (adminapi.Terminal, error), describe func(adminapi.Terminal) string) int {
	ctx, cancel := c.ctx()
	defer cancel()
	t, err := call(ctx, tid)
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(t)
	}
	fmt.Fprintf(c.stdout, "terminal %s: %s\n", t.TID, describe(t))
	return exitOK
}

func termCode(c *termCmd, args []string) int {
	ttl := c.fs.Duration("ttl", 0, "validity (default 168h, at most 2160h)")
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	ctx, cancel := c.ctx()
	defer cancel()
	code, err := cl.IssueActivationCode(ctx, pos[0], *ttl)
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(code)
	}
	fmt.Fprintf(c.stdout, "activation code for terminal %s (SN %s): %s (expires %s; shown only once; earlier codes are revoked)\n",
		code.TID, code.SN, code.ActivationCode, fmtTime(&code.ExpiresAt))
	return exitOK
}

func statusText(t adminapi.Terminal) string {
	if t.BlockReason != "" {
		return t.Status + " (" + t.BlockReason + ")"
	}
	return t.Status
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// importColumns are the CSV columns import understands; sn, tid and mid are required.
var importColumns = []string{"sn", "tid", "mid", "merchant_name", "mcc", "city", "settlement_account", "fee_plan", "device_type"}

// importRow is one terminal of an import file.
type importRow struct {
	line int
	req  adminapi.CreateTerminalRequest
}

// importResult is what import prints for each created terminal.
type importResult struct {
	Line            int        `json:"line"`
	TID             string     `json:"tid"`
	MID             string     `json:"mid"`
	SN              string     `json:"sn"`
	MerchantCreated bool       `json:"merchant_created"`
	ActivationCode  string     `json:"activation_code"`
	ExpiresAt       *time.Time `json:"expires_at"`
}

// termImport provisions terminals from a CSV file. The whole file is read and checked first
// (columns, required values, identifier formats, TIDs and SNs repeated within the file) and
// nothing is created if any row is bad. Then rows are created in order; the first the server
// refuses stops the import, and rows before it stay created — their codes have been printed.
func termImport(c *termCmd, args []string) int {
	ttl := c.fs.Duration("code-ttl", 0, "activation code validity (default 168h, at most 2160h)")
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	rows, err := c.readImport(pos[0], *ttl)
	if err != nil {
		return fail(c.stderr, c.name, exitUsage, fmt.Errorf("%w; nothing was created", err))
	}
	results := make([]importResult, 0, len(rows))
	for i, row := range rows {
		ctx, cancel := c.ctx()
		res, err := cl.CreateTerminal(ctx, row.req)
		cancel()
		if err != nil {
			if *c.asJSON {
				c.printJSON(results)
			}
			st := apiStatus(err)
			var ae *adminapi.Error
			if errors.As(err, &ae) && ae.Status == http.StatusConflict {
				st = exitUsage // the row conflicts with the registry: bad input, as a 400 is
			}
			done := "no terminals were created"
			if i > 0 {
				done = fmt.Sprintf("the %d terminal(s) of lines %d-%d were created (codes printed above), this and later lines were not",
					i, rows[0].line, rows[i-1].line)
			}
			return fail(c.stderr, c.name, st, fmt.Errorf("line %d: %v; %s", row.line, apiMessage(*c.server, err), done))
		}
		r := importResult{Line: row.line, TID: res.Terminal.TID, MID: res.Terminal.MID, SN: res.Terminal.SN,
			MerchantCreated: res.MerchantCreated, ActivationCode: res.ActivationCode, ExpiresAt: res.ExpiresAt}
		results = append(results, r)
		if !*c.asJSON {
			fmt.Fprintf(c.stdout, "%s %s %s %s\n", r.TID, r.SN, r.ActivationCode, fmtTime(r.ExpiresAt))
		}
	}
	if *c.asJSON {
		return c.printJSON(results)
	}
	return exitOK
}

// readImport reads and checks the whole CSV file ("-": stdin).
func (c *termCmd) readImport(name string, ttl time.Duration) ([]importRow, error) {
	in := c.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	r := csv.NewReader(io.LimitReader(in, 64<<20))
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: want a header row sn,tid,mid[,merchant_name,mcc,city,settlement_account,fee_plan,device_type]")
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(importColumns, h) {
			return nil, fmt.Errorf("line 1: unknown column %q (columns: %s)", h, strings.Join(importColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("line 1: column %q given twice", h)
		}
		col[h] = i
	}
	for _, req := range []string{"sn", "tid", "mid"} {
		if _, ok := col[req]; !ok {
			return nil, fmt.Errorf("line 1: missing column %q", req)
		}
	}
	var (
		rows    []importRow
		seenTID = map[string]int{}
		seenSN  = map[string]int{}
		get     = func(rec []string, k string) string {
			i, ok := col[k]
			if !ok {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
	)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		row := importRow{line: line, req: adminapi.CreateTerminalRequest{
			TID: get(rec, "tid"), MID: get(rec, "mid"), SN: get(rec, "sn"), DeviceType: get(rec, "device_type"),
			CodeTTLSeconds: int64(ttl / time.Second),
		}}
		m := adminapi.NewMerchant{Name: get(rec, "merchant_name"), MCC: get(rec, "mcc"), City: get(rec, "city"),
			SettlementAccount: get(rec, "settlement_account"), FeePlan: get(rec, "fee_plan")}
		if m != (adminapi.NewMerchant{}) {
			row.req.Merchant = &m
		}
		if err := checkImportRow(row.req); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if prev, dup := seenTID[row.req.TID]; dup {
			return nil, fmt.Errorf("line %d: tid %s repeats line %d", line, row.req.TID, prev)
		}
		if prev, dup := seenSN[row.req.SN]; dup {
			return nil, fmt.Errorf("line %d: sn %s repeats line %d", line, row.req.SN, prev)
		}
		seenTID[row.req.TID], seenSN[row.req.SN] = line, line
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("no terminals to import (only a header row)")
	}
	return rows, nil
}

// checkImportRow checks what can be checked without the registry. Merchant fields are checked
// by the server, and only when the merchant is new.
func checkImportRow(req adminapi.CreateTerminalRequest) error {
	checks := []struct {
		column string
		err    error
	}{
		{"tid", terminal.ValidTID(req.TID)},
		{"mid", terminal.ValidMID(req.MID)},
		{"sn", terminal.ValidSN(req.SN)},
	}
	if req.Merchant != nil && req.Merchant.MCC != "" {
		checks = append(checks, struct {
			column string
			err    error
		}{"mcc", terminal.ValidMCC(req.Merchant.MCC)})
	}
	for _, ch := range checks {
		var fe *terminal.FieldError
		if errors.As(ch.err, &fe) {
			return fmt.Errorf("invalid %s: %s", ch.column, fe.Reason)
		}
	}
	return nil
}

// csvError names the line of a CSV syntax error without quoting the file.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %v", pe.Line, pe.Err)
	}
	return err
}
