package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/loadtest"
	"github.com/posgate/posgate/loadtest/report"
)

const loadtestUsage = `usage: posgate loadtest [--target 127.0.0.1:8583] [--admin http://127.0.0.1:8080] [--token-file PATH]
                        [--terminals 10] [--rate 100] [--duration 60s] [--mix purchase=80,balance=5,...]
                        [--timeout 10s] [--report DIR] [--idle-connections N] [--allow-remote] [--books FILE]
                        [--sweep FROM:TO:STEP [--objective-p99 20ms]]
Provisions a fleet of simulated terminals through the admin API, activates and signs them on,
sends an open-loop transaction mix at --rate for --duration, settles every batch, prints a
summary and writes DIR/report.json and DIR/report.html. Exit status 1 when a batch is not
balanced or a request was never answered; 2 for bad flags or a target off loopback.
--sweep runs the load at rising rates and prints the highest one meeting the p99 objective
(exit 1 when none does); each step's reports go to DIR/RATE/.
The admin token comes from --token-file, else $` + envAdminToken + `, else ./` + defaultTokenFile + ` (never argv).`

// loadtestFlags are the parsed flags of `posgate loadtest`.
type loadtestFlags struct {
	target, admin, tokenFile, mix, report, runID string
	books, sweep, cpuProfile                     string
	objective                                    time.Duration
	terminals, idle                              int
	rate                                         float64
	duration, timeout                            time.Duration
	allowRemote                                  bool
	seed                                         uint64
}

func parseLoadtestFlags(args []string, stderr io.Writer) (*loadtestFlags, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &loadtestFlags{}
	fs.StringVar(&f.target, "target", "127.0.0.1:8583", "the gateway's terminal listener, host:port")
	fs.StringVar(&f.admin, "admin", defaultAdminServer, "admin API base URL (provisions the fleet)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the admin token (default $"+envAdminToken+", then ./"+defaultTokenFile+")")
	fs.IntVar(&f.terminals, "terminals", loadtest.DefaultTerminals, "simulated terminals (each one connection, one request at a time)")
	fs.Float64Var(&f.rate, "rate", loadtest.DefaultRate, "transactions per second, open loop")
	fs.DurationVar(&f.duration, "duration", loadtest.DefaultDuration, "how long to send")
	fs.StringVar(&f.mix, "mix", loadtest.DefaultMix.String(), "operation weights: purchase, balance, void, refund, preauth, completion")
	fs.DurationVar(&f.timeout, "timeout", loadtest.DefaultTimeout, "per-exchange timeout (an unanswered financial request is reversed)")
	fs.StringVar(&f.report, "report", "loadtest-report", "directory for report.json and report.html (\"\" writes none)")
	fs.IntVar(&f.idle, "idle-connections", 0, "extra TCP connections held open and idle during the run")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target or admin API off loopback")
	fs.StringVar(&f.runID, "run-id", "", "4 characters 0-9A-Z naming the fleet (default: a fresh one)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the random draws (0: random)")
	fs.StringVar(&f.books, "books", "", "write the terminals' books to this CSV file (one line per financial transaction; posgate reconcile --books)")
	fs.StringVar(&f.sweep, "sweep", "", "FROM:TO:STEP: run --duration at each rate (a fresh fleet each) until one misses --objective-p99; print the table")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile to this file (go tool pprof), to see what it costs")
	fs.DurationVar(&f.objective, "objective-p99", 20*time.Millisecond, "with --sweep: the p99 a rate must meet (with no error and 99 % of the rate's requests answered)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, loadtestUsage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// runLoadtest is `posgate loadtest`.
func runLoadtest(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	const name = "loadtest"
	f, err := parseLoadtestFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return fail(stderr, name, exitUsage, err)
	}
	mix, err := loadtest.ParseMix(f.mix)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	var rates []float64
	if f.sweep != "" {
		if rates, err = loadtest.ParseSweep(f.sweep); err != nil {
			return fail(stderr, name, exitUsage, err)
		}
		if f.objective <= 0 {
			return fail(stderr, name, exitUsage, errors.New("--objective-p99: must be positive"))
		}
	}
	u, err := url.Parse(f.admin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail(stderr, name, exitUsage, fmt.Errorf("--admin %q: must be an http:// or https:// URL", f.admin))
	}
	host, _, err := net.SplitHostPort(f.target)
	if err != nil {
		return fail(stderr, name, exitUsage, fmt.Errorf("--target %q: must be host:port", f.target))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }() // a second signal ends the process at once

	if !f.allowRemote {
		for _, h := range []string{host, u.Hostname()} {
			if err := loadtest.CheckLoopback(ctx, h); err != nil {
				return fail(stderr, name, exitUsage, err)
			}
		}
	}
	token, err := loadtestToken(f.tokenFile)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}

	want := uint64(f.terminals+f.idle) + 128
	if have, err := loadtest.RaiseFileLimit(want); err != nil || have < want {
		fmt.Fprintf(stderr, "loadtest: warning: open-file limit %d is below the %d this run needs (raise the hard limit: ulimit -Hn)\n", have, want)
	}

	var books *bytes.Buffer
	if f.sweep != "" && f.books != "" {
		return fail(stderr, name, exitUsage, errors.New("--books: not with --sweep (each step has a fleet of its own)"))
	}
	if f.books != "" {
		if st, err := os.Stat(filepath.Dir(f.books)); err != nil || !st.IsDir() {
			return fail(stderr, name, exitUsage, fmt.Errorf("--books %q: its directory does not exist", f.books))
		}
		books = &bytes.Buffer{}
	}
	bar := false
	if fi, ok := stderr.(*os.File); ok {
		if st, err := fi.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			bar = true
		}
	}
	cfg := loadtest.Config{
		Target:          f.target,
		Admin:           &adminapi.Client{BaseURL: f.admin, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}},
		AllowRemote:     f.allowRemote,
		Terminals:       f.terminals,
		Rate:            f.rate,
		Duration:        f.duration,
		Mix:             mix,
		Timeout:         f.timeout,
		IdleConnections: f.idle,
		RunID:           f.runID,
		Seed:            f.seed,
		Progress:        stderr,
		ProgressBar:     bar,
		Books:           writerOrNil(books),
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return fail(stderr, name, exitUsage, fmt.Errorf("--cpuprofile: %w", err))
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fail(stderr, name, exitUsage, fmt.Errorf("--cpuprofile: %w", err))
		}
		defer pprof.StopCPUProfile()
	}
	if f.sweep != "" {
		return runSweep(ctx, f, cfg, rates, stdout, stderr)
	}
	r, err := loadtest.New(cfg)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		status := exitFail
		if errors.Is(err, loadtest.ErrConfig) || errors.Is(err, loadtest.ErrNotLoopback) {
			status = exitUsage
		}
		return fail(stderr, name, status, err)
	}
	if books != nil {
		if err := securefile.ReplaceWith(f.books, 0o600, func(w io.Writer) error { _, err := books.WriteTo(w); return err }); err != nil {
			return fail(stderr, name, exitFail, fmt.Errorf("--books: %w", err))
		}
		fmt.Fprintf(stderr, "loadtest: terminal books written to %s\n", f.books)
	}
	fmt.Fprintln(stdout)
	if err := report.WriteTable(stdout, rep); err != nil {
		return fail(stderr, name, exitFail, err)
	}
	if f.report != "" {
		if err := report.WriteDir(f.report, rep); err != nil {
			return fail(stderr, name, exitFail, err)
		}
		fmt.Fprintf(stderr, "loadtest: reports written to %s and %s\n",
			filepath.Join(f.report, report.JSONFile), filepath.Join(f.report, report.HTMLFile))
	}
	if len(rep.Failures()) > 0 {
		return exitFail
	}
	return exitOK
}

// runSweep is `posgate loadtest --sweep`.
func runSweep(ctx context.Context, f *loadtestFlags, cfg loadtest.Config, rates []float64, stdout, stderr io.Writer) int {
	const name = "loadtest"
	cfg.ProgressBar = false
	steps, err := loadtest.Sweep(ctx, cfg, rates, f.objective, func(st loadtest.SweepStep) {
		fmt.Fprintf(stderr, "loadtest: sweep %.0f/s: achieved %.0f, p99 %.1f ms — %s\n", st.Rate, st.Report.TPS, st.Report.Latency.P99, st.Verdict())
		if f.report != "" {
			dir := filepath.Join(f.report, fmt.Sprintf("%.0f", st.Rate))
			if err := report.WriteDir(dir, st.Report); err != nil {
				fmt.Fprintf(stderr, "loadtest: sweep: %v\n", err)
			}
		}
	})
	if len(steps) > 0 {
		fmt.Fprintln(stdout)
		if werr := loadtest.WriteSweepTable(stdout, steps, f.objective); werr != nil {
			return fail(stderr, name, exitFail, werr)
		}
	}
	if err != nil {
		status := exitFail
		if errors.Is(err, loadtest.ErrConfig) || errors.Is(err, loadtest.ErrNotLoopback) {
			status = exitUsage
		}
		return fail(stderr, name, status, err)
	}
	if loadtest.Best(steps) == nil {
		return exitFail
	}
	return exitOK
}

// writerOrNil keeps a nil buffer a nil io.Writer (not a non-nil interface holding nil).
func writerOrNil(b *bytes.Buffer) io.Writer {
	if b == nil {
		return nil
	}
	return b
}

// loadtestToken reads the admin token as `posgate terminal` does: --token-file, else the
// environment, else the embedded default's file — never argv.
func loadtestToken(file string) (string, error) {
	switch {
	case file != "":
		return admin.LoadToken(file)
	case os.Getenv(envAdminToken) != "":
		tok, err := admin.ParseToken(os.Getenv(envAdminToken))
		if err != nil {
			return "", fmt.Errorf("$%s: %w", envAdminToken, err)
		}
		return tok, nil
	}
	if _, err := os.Stat(defaultTokenFile); err != nil {
		return "", fmt.Errorf("no admin token: set $%s or pass --token-file PATH", envAdminToken)
	}
	return admin.LoadToken(filepath.FromSlash(defaultTokenFile))
}
