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
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/posgate/posgate/app"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/reconcile"
	"github.com/posgate/posgate/routing/issuersim"
)

func runReconcile(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return reconcileCmd(ctx, args, stdout, stderr)
}

// Exit status of reconcile when the books differ (exitFail also means "could not reconcile";
// the report on stdout tells them apart).
const exitDifferences = exitFail

// reconcileCmd compares one business date of the journal with the issuer's records and,
// when given, the terminals' books; it prints the report and exits 1 on any difference.
func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "reconcile"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", "", "business date to reconcile, YYYY-MM-DD (required)")
	nf := addNATSFlags(fs, "", "NATS URL of the journal; empty uses the embedded default of --data")
	natsURL := nf.url
	data := fs.String("data", app.DefaultDataDir, "data directory of `posgate serve` (DATA/nats.url, DATA/nats)")
	issuerFile := fs.String("issuer", "", "issuer clearing file (CSV, docs/reconcile.md); empty reads the issuer simulator's ledger stream on the same NATS")
	stream := fs.String("issuer-stream", issuersim.DefaultLedgerStream, "the simulator's ledger stream (without --issuer)")
	books := fs.String("books", "", "terminal books (CSV from posgate loadtest --books), comma-separated; empty compares journal and issuer only")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cutOff := fs.String("cut-off", "23:00", "business date cut-off, HH:MM local time (must be the gateway's)")
	zone := fs.String("zone", journal.DefaultLocation, "time zone of the cut-off")
	slack := fs.Duration("slack", reconcile.DefaultSlack, "widening of the date's window for records that match nothing")
	replicas := fs.Int("journal-replicas", 0, "replicas when the journal stream or run bucket must be created; 0 keeps an existing one's (default 1 for a new one)")
	level := fs.String("log-level", "warn", "log level (logs go to stderr)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: posgate reconcile --date YYYY-MM-DD [--nats URL | --data DIR] [--issuer CLEARING.csv] [--books FILE,...] [--json]")
		fmt.Fprintln(stderr, "Compares a business date's journal with the issuer's records and the terminals' books; exit 1 on any difference.")
		fs.PrintDefaults()
	}
	if status, done := parseFlags(fs, args, stderr, name); done {
		return status
	}
	d, cal, err := dateFlags(*date, *cutOff, *zone)
	if err != nil {
		return fail(stderr, name, exitUsage, err)
	}
	if *slack < 0 {
		return fail(stderr, name, exitUsage, errors.New("--slack must not be negative"))
	}
	in := reconcile.Input{Date: d, Calendar: cal, Slack: *slack}
	if *issuerFile != "" {
		if in.Issuer, err = readFileWith(*issuerFile, reconcile.ReadClearing); err != nil {
			return fail(stderr, name, exitUsage, fmt.Errorf("--issuer: %w", err))
		}
	}
	if *books != "" {
		in.Terminals = []reconcile.TerminalEntry{}
		for _, f := range strings.Split(*books, ",") {
			entries, err := readFileWith(strings.TrimSpace(f), reconcile.ReadBooks)
			if err != nil {
				return fail(stderr, name, exitUsage, fmt.Errorf("--books: %w", err))
			}
			in.Terminals = append(in.Terminals, entries...)
		}
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
	nc, j, cleanup, err := openJournal(ctx, natsTarget{*natsURL, client}, *data, *replicas, log)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	defer cleanup()
	if *issuerFile == "" {
		if in.Issuer, err = simClearing(ctx, nc, *stream); err != nil {
			return fail(stderr, name, exitFail, err)
		}
	}
	in.Journal = func(d journal.Date, fn func(journal.Record) error) error { return j.Read(ctx, d, fn) }
	rep, err := reconcile.Run(in)
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fail(stderr, name, exitFail, err)
	}
	if !rep.Clean {
		return exitDifferences
	}
	return exitOK
}

func readFileWith[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := read(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// simClearing reads the simulator's ledger stream as a clearing file: its financial entries
// (balance inquiries and malformed requests move no money and are left out).
func simClearing(ctx context.Context, nc *nats.Conn, stream string) ([]reconcile.IssuerRecord, error) {
	var out []reconcile.IssuerRecord
	err := issuersim.ReadEntries(ctx, nc, stream, "", func(e issuersim.Entry) error {
		if r, ok := clearingRecord(e); ok {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

func clearingRecord(e issuersim.Entry) (reconcile.IssuerRecord, bool) {
	switch e.Type {
	case "balance", issuersim.EntryMalformed:
		return reconcile.IssuerRecord{}, false
	}
	return reconcile.IssuerRecord{Route: e.Route, STAN: e.STAN, Transmission: e.Transmission, Amount: e.Amount, MTI: e.MTI,
		Type: e.Type, ResponseCode: e.ResponseCode, AuthCode: e.AuthCode, RRN: e.RRN, TID: e.TID, MID: e.MID,
		OriginalSTAN: e.OriginalSTAN, OriginalTransmission: e.OriginalTransmission, Booked: e.Booked}, true
}
