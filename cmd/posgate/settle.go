package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/internal/natsconn"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/natsembed"
	"github.com/posgate/posgate/settlement"
	"github.com/posgate/posgate/settlement/kvruns"
	"github.com/posgate/posgate/terminal/memstore"
)

func runSettle(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return settle(ctx, args, stdout, stderr, time.Now)
}

// settle runs one settlement and prints its run record (summary included) as JSON.
func settle(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	const name = "settle"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", "", "business date to settle, YYYY-MM-DD (required)")
	out := fs.String("out", "./settlement", "output directory; the files go to OUT/YYYYMMDD/")
	nf := addNATSFlags(fs, "", "NATS URL of the journal; empty uses the embedded default of --data")
	natsURL := nf.url
	data := fs.String("data", app.DefaultDataDir, "data directory of `posgate serve` (DATA/nats.url, DATA/nats, DATA/registry.json)")
	merchantsFile := fs.String("merchants", "", "merchants CSV (mid,name,account,fee_plan); default DATA/registry.json in the embedded mode")
	plansFile := fs.String("fee-plans", "", "fee plans JSON (a list of plans); default: the built-in default plan")
	rerun := fs.Bool("rerun", false, "settle a date that was settled already (replaces its files)")
	allowOpen := fs.Bool("allow-open", false, "settle a date whose cut-off has not passed (provisional run)")
	cutOff := fs.String("cut-off", "23:00", "business date cut-off, HH:MM local time (must be the gateway's)")
	zone := fs.String("zone", journal.DefaultLocation, "time zone of the cut-off")
	replicas := fs.Int("journal-replicas", 0, "replicas when the journal stream or run bucket must be created; 0 keeps an existing one's (default 1 for a new one)")
	tmp := fs.String("tmp", "", "directory for spill files (about 150 bytes per journal record); default the system's")
	partitions := fs.Int("partitions", settlement.DefaultPartitions, "spill partitions (power of two); more = less memory")
	level := fs.String("log-level", "warn", "log level (logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate settle --date YYYY-MM-DD [--out DIR] [--nats URL | --data DIR] [--merchants FILE] [--rerun] [--allow-open]")
		fmt.Fprintln(stderr, "Settles one business date from the journal and prints the run record with the summary (JSON).")
		fs.PrintDefaults()
	}
	if status, done := parseFlags(fs, args, stderr, name); done {
		return status
	}
	d, cal, err := dateFlags(*date, *cutOff, *zone)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	cfg := settlement.Config{Calendar: cal, TempDir: *tmp, Partitions: *partitions, Now: now}
	if *plansFile != "" {
		if cfg.Plans, err = readPlans(*plansFile); err != nil {
			return fail(stderr, name, exitUsage, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	log, err := newLogger(*level, stderr)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	defer func() { _ = log.Sync() }()

	client, err := nf.client(os.Getenv)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	merchants, err := loadMerchants(*merchantsFile, *natsURL, *data, log)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	nc, j, cleanup, err := openJournal(ctx, natsTarget{*natsURL, client}, *data, *replicas, log)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	defer cleanup()
	runs, err := kvruns.New(ctx, nc, "", *replicas)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	s, err := settlement.New(cfg, j, merchants, runs, log)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	rec, err := s.Run(ctx, d, settlement.RunOptions{Out: *out, Rerun: *rerun, AllowOpen: *allowOpen})
	switch {
	case errors.Is(err, settlement.ErrNotClosed):
		return fail(stderr, name, exitFail, fmt.Errorf("%w (use --allow-open for a provisional run)", err))
	case errors.Is(err, settlement.ErrAlreadySettled):
		return fail(stderr, name, exitFail, fmt.Errorf("%s was settled by run %d; %w", *date, rec.SettledRun, err))
	case err != nil:
		return fail(stderr, name, exitFail, err)
	}
	if rec.Rerun {
		same := "unknown"
		if rec.Identical != nil && *rec.Identical {
			same = "byte-identical to"
		} else if rec.Identical != nil {
			same = "DIFFERENT from"
		}
		fmt.Fprintf(stderr, "settle: RE-RUN #%d of %s (first settled by run %d): files %s the previous run's\n",
			rec.Run, rec.BusinessDate, rec.SettledRun, same)
	}
	if rec.Open {
		fmt.Fprintf(stderr, "settle: PROVISIONAL run of %s: its cut-off has not passed\n", rec.BusinessDate)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		return fail(stderr, name, exitFail, err)
	}
	return exitOK
}

// dateFlags reads the --date, --cut-off and --zone flags every command about a business date has.
func dateFlags(date, cutOff, zone string) (journal.Date, journal.Calendar, error) {
	if date == "" {
		return journal.Date{}, journal.Calendar{}, errors.New("--date is required")
	}
	d, err := settlement.ParseDate(date)
	if err != nil {
		return journal.Date{}, journal.Calendar{}, fmt.Errorf("--date %q: want YYYY-MM-DD", date)
	}
	cal, err := parseCalendar(cutOff, zone)
	return d, cal, err
}

// parseCalendar turns "HH:MM" and a zone into a calendar.
func parseCalendar(cutOff, zone string) (journal.Calendar, error) {
	t, err := time.Parse("15:04", cutOff)
	if err != nil {
		return journal.Calendar{}, fmt.Errorf("--cut-off %q: want HH:MM", cutOff)
	}
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	if d == 0 {
		d = 24 * time.Hour // 00:00: roll over at midnight
	}
	cal, err := journal.NewCalendar(d, zone)
	if err != nil {
		return journal.Calendar{}, fmt.Errorf("--zone %q: %w", zone, err)
	}
	return cal, nil
}

func readPlans(path string) ([]settlement.FeePlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--fee-plans: %w", err)
	}
	var plans []settlement.FeePlan
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plans); err != nil {
		return nil, fmt.Errorf("--fee-plans %s: %w", path, err)
	}
	return plans, nil
}

// loadMerchants reads the merchants CSV, or in the embedded mode the registry snapshot
// DATA/registry.json (read only: the store is opened without its saver and never closed).
func loadMerchants(file, natsURL, data string, log *zap.Logger) (settlement.Merchants, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--merchants: %w", err)
		}
		defer f.Close()
		t, err := settlement.ReadMerchantsCSV(f)
		if err != nil {
			return nil, fmt.Errorf("--merchants %s: %w", file, err)
		}
		return t, nil
	}
	if natsURL != "" {
		return nil, errors.New("--merchants FILE is required with --nats (settle does not reach the registry)")
	}
	path := filepath.Join(data, "registry.json")
	if _, err := os.Stat(path); err != nil {
		log.Warn("no registry snapshot: every merchant settles on the default plan without an account", zap.String("path", path))
		return settlement.MerchantTable{}, nil
	}
	reg, err := memstore.Open(memstore.Config{Path: path, SnapshotInterval: -1}, log)
	if err != nil {
		return nil, fmt.Errorf("registry snapshot %s: %w", path, err)
	}
	return app.RegistryMerchants{Registry: reg}, nil
}

// openJournal connects as connectJournal does and opens the journal; cleanup closes both.
// natsTarget is a NATS server given on the command line and how to reach it securely.
type natsTarget struct {
	url    string
	client natsconn.Config
}

func openJournal(ctx context.Context, to natsTarget, data string, replicas int, log *zap.Logger) (*nats.Conn, *journal.Journal, func(), error) {
	nc, disconnect, err := connectJournal(ctx, to, data, log)
	if err != nil {
		return nil, nil, nil, err
	}
	j, err := journal.New(ctx, nc, journal.Config{Replicas: replicas}, log)
	if err != nil {
		disconnect()
		return nil, nil, nil, err
	}
	return nc, j, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Close(cctx)
		disconnect()
	}, nil
}

// connectJournal connects to --nats, or to the embedded server of a running `posgate serve`
// (DATA/nats.url), or starts the embedded server on DATA/nats itself when none is running.
func connectJournal(ctx context.Context, to natsTarget, data string, log *zap.Logger) (*nats.Conn, func(), error) {
	opts := []nats.Option{nats.Name("posgate-settle"), nats.Timeout(5 * time.Second)}
	if to.url != "" {
		nc, err := natsconn.Connect(to.url, to.client, opts...)
		if err != nil {
			return nil, nil, err
		}
		return nc, nc.Close, nil
	}
	if b, err := os.ReadFile(filepath.Join(data, "nats.url")); err == nil {
		if nc, err := nats.Connect(strings.TrimSpace(string(b)), opts...); err == nil {
			return nc, nc.Close, nil
		}
	}
	dir := filepath.Join(data, "nats")
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("no journal: %s does not exist and no server answers at %s", dir, filepath.Join(data, "nats.url"))
	}
	srv, err := natsembed.Start(ctx, natsembed.Config{DataDir: dir}, log)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded NATS on %s: %w", dir, err)
	}
	nc, err := srv.Connect(opts...)
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil, nil, err
	}
	return nc, func() {
		nc.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
