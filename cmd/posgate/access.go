package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/posgate/posgate/adminapi"
)

// tokenCommands are the subcommands of `posgate token` (an admin token is needed).
var tokenCommands = []apiCommand{
	{"create", "create --name NAME --role viewer|operator|admin", tokenCreate},
	{"list", "list", tokenList},
	{"revoke", "revoke NAME", tokenRevoke},
}

// runToken is `posgate token <command> …`: named API tokens with roles, through the admin API.
func runToken(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runGroup("token", "through the admin API, with an admin token", tokenCommands, args, stdin, stdout, stderr)
}

func tokenCreate(c *termCmd, args []string) int {
	name := c.fs.String("name", "", "the token's name: who holds it (required)")
	role := c.fs.String("role", "", "viewer, operator or admin (required)")
	cl, _, status, ok := c.setup(args, 0)
	if !ok {
		return status
	}
	if *name == "" || *role == "" {
		return fail(c.stderr, c.name, exitUsage, fmt.Errorf("--name and --role are required (usage: posgate token %s)", c.usage))
	}
	ctx, cancel := c.ctx()
	defer cancel()
	t, err := cl.CreateToken(ctx, adminapi.CreateTokenRequest{Name: *name, Role: *role})
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(t)
	}
	fmt.Fprintf(c.stdout, "token %s (%s): %s\n(shown only once; the server keeps its SHA-256)\n", t.Name, t.Role, t.Token)
	return exitOK
}

func tokenList(c *termCmd, args []string) int {
	cl, _, status, ok := c.setup(args, 0)
	if !ok {
		return status
	}
	ctx, cancel := c.ctx()
	defer cancel()
	l, err := cl.ListTokens(ctx)
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(l)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tBY")
	for _, t := range l {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Format(time.RFC3339), t.CreatedBy)
	}
	_ = tw.Flush()
	return exitOK
}

func tokenRevoke(c *termCmd, args []string) int {
	cl, pos, status, ok := c.setup(args, 1)
	if !ok {
		return status
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if err := cl.RevokeToken(ctx, pos[0]); err != nil {
		return c.apiFail(err)
	}
	fmt.Fprintf(c.stdout, "token %s revoked on every node\n", pos[0])
	return exitOK
}

const auditUsage = "audit [--after SEQ] [--limit N] [--json]"

// runAudit is `posgate audit`: the admin audit trail, oldest first (an operator token).
func runAudit(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newTermCmd("audit", auditUsage, stdin, stdout, stderr)
	c.name = "audit"
	after := c.fs.Uint64("after", 0, "entries after this sequence number")
	limit := c.fs.Int("limit", 100, "at most this many entries (1-1000)")
	cl, _, status, ok := c.setup(args, 0)
	if !ok {
		return status
	}
	if *limit < 1 || *limit > 1000 {
		return fail(stderr, c.name, exitUsage, fmt.Errorf("--limit must be 1 to 1000"))
	}
	ctx, cancel := c.ctx()
	defer cancel()
	p, err := cl.Audit(ctx, *after, *limit)
	if err != nil {
		return c.apiFail(err)
	}
	if *c.asJSON {
		return c.printJSON(p)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tROLE\tACTION\tTARGET\tFROM\tOUTCOME")
	for _, e := range p.Entries {
		out := e.Outcome
		if e.Status != 0 {
			out += " " + strconv.Itoa(e.Status)
		}
		if e.Code != "" {
			out += " " + e.Code
		}
		if e.Request != 0 {
			out += " (of " + strconv.FormatUint(e.Request, 10) + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Role,
			e.Action, dash(e.Target), e.Remote, out)
	}
	_ = tw.Flush()
	if p.Next != 0 {
		fmt.Fprintf(c.stdout, "more: posgate audit --after %d\n", p.Next)
	}
	return exitOK
}
