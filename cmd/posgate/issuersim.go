package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/natsconn"
	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/reconcile"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/routing/issuersim"
)

// Environment variables read by issuer-sim: secrets never come from argv.
const (
	envSimZPK = "POSGATE_SIM_ZPK" // clear ZPK, 16 or 32 hex characters
	envSimPIN = "POSGATE_SIM_PIN" // the PIN every test card has (default 123456)
)

func runIssuerSim(args []string, _ io.Reader, _, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return issuerSim(ctx, args, os.Getenv, stderr)
}

// issuerSim runs the simulator until ctx ends. getenv is os.Getenv outside tests.
func issuerSim(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	const name = "issuer-sim"
	if len(args) > 0 && args[0] == "export" {
		return issuerSimExport(ctx, args[1:], os.Stdout, stderr)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, nats.DefaultURL, "NATS server URL")
	url := nf.url
	routes := fs.String("routes", "all", "comma-separated routes to answer (cup,visa,onus), or all")
	latency := fs.Duration("latency", 0, "fixed delay before every answer (e.g. 5ms)")
	latMin := fs.Duration("latency-min", 0, "random delay: lower bound (with --latency-max)")
	latMax := fs.Duration("latency-max", 0, "random delay: upper bound")
	drop := fs.Float64("drop", 0, "fraction of requests (0-1) processed but never answered")
	seed := fs.Uint64("seed", 1, "seed of the latency and drop draws")
	zpkFile := fs.String("zpk-file", "", "file holding the clear ZPK in hex (or env "+envSimZPK+")")
	lostFile := fs.String("lost-cards", "", "file of PANs declined 41 (lost), one per line; default: the built-in test card")
	stolenFile := fs.String("stolen-cards", "", "file of PANs declined 43 (stolen), one per line; default: the built-in test card")
	balance := fs.Int64("balance", issuersim.DefaultBalance, "balance reported to balance inquiries, in fen")
	instance := fs.String("instance", "", "instance name in the ledger (default: random)")
	ledgerStream := fs.String("ledger-stream", issuersim.DefaultLedgerStream, "JetStream stream the ledger is stored in before each answer; \"\" keeps it in memory only")
	ledgerReplicas := fs.Int("ledger-replicas", 1, "replicas of the ledger stream when it is created")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate issuer-sim --nats URL [--routes cup,visa,onus | all] [--latency 5ms | --latency-min D --latency-max D] [--drop 0.01] [flags]")
		fmt.Fprintln(stderr, "       posgate issuer-sim export [--nats URL | --data DIR] [--out FILE]   (the ledger as a clearing file)")
		fmt.Fprintln(stderr, "Answers posgate.auth.<route> in queue group posgate-issuers until SIGINT/SIGTERM; the ledger is on posgate.sim.ledger.")
		fmt.Fprintln(stderr, "Environment: "+envSimZPK+" (clear ZPK, hex) and "+envSimPIN+" (expected PIN, default 123456).")
		fs.PrintDefaults()
	}
	if status, done := parseFlags(fs, args, stderr, name); done {
		return status
	}
	cfg := issuersim.Config{
		Latency: *latency, LatencyMin: *latMin, LatencyMax: *latMax, DropRate: *drop, Seed: *seed,
		Balance: *balance, Instance: *instance, ExpectedPIN: getenv(envSimPIN),
		LedgerStream: *ledgerStream, LedgerReplicas: *ledgerReplicas,
	}
	if *routes != "all" {
		for _, r := range strings.Split(*routes, ",") {
			if r = strings.TrimSpace(r); !routing.ValidRouteName(r) {
				return fail(stderr, name, exitUsage, fmt.Errorf("--routes: %q is not a route name", r))
			}
			cfg.Routes = append(cfg.Routes, strings.TrimSpace(r))
		}
	}
	zpk, err := readZPK(*zpkFile, getenv(envSimZPK))
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	cfg.ZPK = zpk
	defer clear(zpk)
	if *lostFile != "" {
		if cfg.LostCards, err = readPANs(*lostFile); err != nil {
			return fail(stderr, name, exitUsage, fmt.Errorf("--lost-cards: %w", err))
		}
	}
	if *stolenFile != "" {
		if cfg.StolenCards, err = readPANs(*stolenFile); err != nil {
			return fail(stderr, name, exitUsage, fmt.Errorf("--stolen-cards: %w", err))
		}
	}
	if err := cfg.Validate(); err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	defer func() { _ = log.Sync() }()

	client, err := nf.client(getenv)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	nc, err := natsconn.Connect(*url, client, nats.Name("posgate-issuer-sim"), nats.MaxReconnects(-1))
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	defer nc.Close()
	sim, err := issuersim.New(nc, cfg, log)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	clear(zpk) // the simulator holds the key wrapped; drop the clear copy now
	if err := sim.Start(); err != nil {
		return fail(stderr, name, exitFail, err)
	}
	log.Info("issuer-sim ready", zap.String("nats", nc.ConnectedUrlRedacted()), zap.String("zpk_kcv", sim.ZPKCheckValue()))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sim.Shutdown(sctx); err != nil {
		return fail(stderr, name, exitFail, fmt.Errorf("shutdown: %w", err))
	}
	if err := nc.Drain(); err != nil {
		return fail(stderr, name, exitFail, fmt.Errorf("drain: %w", err))
	}
	log.Info("issuer-sim stopped")
	return exitOK
}

// issuerSimExport writes the simulator's durable ledger as a clearing file (docs/reconcile.md).
func issuerSimExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "issuer-sim export"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "", "NATS URL; empty uses the embedded default of --data")
	data := fs.String("data", app.DefaultDataDir, "data directory of `posgate serve` (embedded default)")
	stream := fs.String("stream", issuersim.DefaultLedgerStream, "the ledger stream")
	out := fs.String("out", "", "file to write (0600, replaced whole); empty writes to stdout")
	level := fs.String("log-level", "warn", "log level (logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate issuer-sim export [--nats URL | --data DIR] [--stream NAME] [--out FILE]")
		fmt.Fprintln(stderr, "Writes every financial entry of the simulator's ledger stream as a clearing file (CSV).")
		fs.PrintDefaults()
	}
	if status, done := parseFlags(fs, args, stderr, name); done {
		return status
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	client, err := nf.client(os.Getenv)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	nc, cleanup, err := connectJournal(ctx, natsTarget{*nf.url, client}, *data, log)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	defer cleanup()
	recs, err := simClearing(ctx, nc, *stream)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	if *out == "" {
		err = reconcile.WriteClearing(stdout, recs)
	} else {
		err = securefile.ReplaceWith(*out, 0o600, func(w io.Writer) error { return reconcile.WriteClearing(w, recs) })
	}
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	fmt.Fprintf(stderr, "%s: %d records\n", name, len(recs))
	return exitOK
}

// readZPK reads the clear ZPK from the file (preferred) or the environment value, as hex.
// Errors never contain the key.
func readZPK(path, env string) ([]byte, error) {
	text := env
	src := "$" + envSimZPK
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--zpk-file: %w", err)
		}
		text, src = string(b), "--zpk-file"
		clear(b)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	key, err := hex.DecodeString(text)
	if err != nil || len(key) != 8 && len(key) != 16 {
		return nil, fmt.Errorf("%s: not a ZPK of 16 or 32 hex characters", src)
	}
	return key, nil
}

// readPANs reads one PAN per line; blank lines and lines starting with # are skipped.
func readPANs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pans := []string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pans = append(pans, line)
	}
	return pans, sc.Err()
}
