// Command posgate is the one posgate binary. Each subcommand is a file of this package.
//
//	posgate serve [--listen :8583] [--admin-listen 127.0.0.1:8080] [--data ./data] [--nats URL] [--redis URL] [--routes FILE] [--config FILE]
//	posgate terminal add|list|show|block|unblock|code|resign|software|import …
//	posgate reversals [--tid TID] [--rrn RRN] [--txn PREFIX] [--since 24h] [--json]
//	posgate decode [--profile terminal|upstream] [--json] [HEX]
//	posgate encode [--profile terminal|upstream] < message.json
//	posgate issuer-sim --nats URL [flags] | posgate issuer-sim export [--nats URL | --data DIR] [--out FILE]
//	posgate registry export|import --redis URL [--out FILE | --in FILE [--replace]]
//	posgate reconcile --date YYYY-MM-DD [--nats URL | --data DIR] [--issuer FILE] [--books FILE] [--json]
//
// Exit status: 0 success, 2 bad input or usage (with a one-line reason on stderr), 1 any other
// failure.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// command is one subcommand: it returns the process exit status.
type command struct {
	name, summary string
	run           func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = []command{
	{"serve", "run the gateway (embedded default without --nats/--redis) until SIGINT/SIGTERM", runServe},
	{"decode", "decode an ISO 8583 message from hex (terminal frame or upstream message)", runDecode},
	{"encode", "encode a message from JSON (the shape decode --json prints) to hex", runEncode},
	{"issuer-sim", "run the deterministic issuer simulator on NATS until SIGINT/SIGTERM", runIssuerSim},
	{"settle", "settle one business date from the journal to settlement files (T+1)", runSettle},
	{"reconcile", "reconcile a business date three ways: journal, issuer clearing records, terminals' books", runReconcile},
	{"terminal", "manage terminals and activation codes through the admin API (posgate terminal help)", runTerminal},
	{"registry", "back up (export) and restore (import) the Redis terminal registry, keys still wrapped", runRegistry},
	{"token", "create, list and revoke named admin API tokens with roles (posgate token help)", runToken},
	{"audit", "show the admin audit trail: who changed what, when, from where, with what result", runAudit},
	{"reversals", "list reversals delivered upstream (kept 7+ days) and still queued, through the admin API", runReversals},
	{"loadtest", "run a fleet of simulated terminals at a target rate against a gateway and report", runLoadtest},
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "posgate: unknown command %q (see posgate help)\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: posgate <command> [flags]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "run posgate <command> -h for a command's flags")
}

// fail prints one line "cmd: reason" and returns the status.
func fail(stderr io.Writer, cmd string, status int, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	return status
}

// parseFlags parses args into fs for a command that takes no positional arguments. When it
// returns done, the command ends with status: 0 after -h, 2 after a bad flag (fs has said
// why) or an argument left over (one line on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, name string) (status int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		return fail(stderr, name, exitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0))), true
	}
	return 0, false
}
