package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/terminal/redisstore"
)

func runRegistry(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return registryCmd(ctx, args, stdout, stderr)
}

const registryUsage = `usage: posgate registry export --redis URL [--out FILE]
       posgate registry import --redis URL --in FILE [--replace]
Backs up and restores the Redis terminal registry (merchants, terminals, SN bindings, activation
codes and the epoch marker), values as Redis stores them: keys stay wrapped under the LMK.
Import refuses a registry that already has terminals or merchants unless --replace.`

// registryCmd backs up (export) or restores (import) the Redis registry.
func registryCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "registry"
	if len(args) == 0 || (args[0] != "export" && args[0] != "import") {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, registryUsage)
			return exitOK
		}
		return fail(stderr, name, exitUsage, errors.New("want export or import (posgate registry help)"))
	}
	op := args[0]
	fs := flag.NewFlagSet(name+" "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis", "", "Redis URL of the registry (required)")
	prefix := fs.String("prefix", redisstore.DefaultPrefix, "key prefix of the registry")
	out := fs.String("out", "", "export: file to write (0600, replaced whole); empty writes to stdout")
	in := fs.String("in", "", "import: the export file (required)")
	replace := fs.Bool("replace", false, "import: overwrite a registry that already has terminals or merchants")
	fs.Usage = func() { fmt.Fprintln(stderr, registryUsage); fs.PrintDefaults() }
	if status, done := parseFlags(fs, args[1:], stderr, name); done {
		return status
	}
	switch {
	case *url == "":
		return fail(stderr, name, exitUsage, errors.New("--redis is required"))
	case op == "import" && *in == "":
		return fail(stderr, name, exitUsage, errors.New("import: --in is required"))
	case op == "export" && *in != "", op == "export" && *replace:
		return fail(stderr, name, exitUsage, errors.New("export: --in and --replace are for import"))
	case op == "import" && *out != "":
		return fail(stderr, name, exitUsage, errors.New("import: --out is for export"))
	}
	reg, err := redisstore.New(redisstore.Config{URL: *url, Prefix: *prefix, DialTimeout: 5 * time.Second})
	if err != nil {
		return fail(stderr, name, exitUsage, fmt.Errorf("--redis: %w", err))
	}
	defer reg.Close()
	if err := reg.Ping(ctx); err != nil {
		return fail(stderr, name, exitFail, err)
	}
	if op == "export" {
		var n int
		write := func(w io.Writer) error {
			var err error
			n, err = reg.Export(ctx, w)
			return err
		}
		if *out == "" {
			err = write(stdout)
		} else {
			err = securefile.ReplaceWith(*out, 0o600, write)
		}
		if err != nil {
			return fail(stderr, name, exitFail, err)
		}
		fmt.Fprintf(stderr, "registry: exported %d keys\n", n)
		return exitOK
	}
	f, err := os.Open(*in)
	if err != nil {
		return fail(stderr, name, exitUsage, fmt.Errorf("--in: %w", err))
	}
	defer f.Close()
	n, err := reg.Import(ctx, f, *replace)
	switch {
	case errors.Is(err, redisstore.ErrNotEmpty):
		return fail(stderr, name, exitFail, fmt.Errorf("%w (use --replace to overwrite it)", err))
	case err != nil:
		return fail(stderr, name, exitFail, err)
	}
	fmt.Fprintf(stderr, "registry: imported %d keys\n", n)
	return exitOK
}
