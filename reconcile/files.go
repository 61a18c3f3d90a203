package reconcile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// IssuerRecord is one line of a clearing file: one request the issuer (or the network) booked,
// keyed by Route + STAN + Transmission — the upstream identifiers posgate's journal keeps
// (docs/reconcile.md). Type is purchase, completion, preauth, void, preauth-void,
// completion-void, refund or reversal; a reversal's Original* name, as its field 90 did, the
// request it reverses.
type IssuerRecord struct {
	Route                string
	STAN                 uint32
	Transmission         string // field 7, MMDDhhmmss UTC
	Amount               int64  // fen
	MTI                  string
	Type                 string
	ResponseCode         string
	AuthCode             string
	RRN                  string
	TID                  string
	MID                  string
	OriginalSTAN         uint32
	OriginalTransmission string
	Booked               time.Time // when the issuer booked it (UTC)
}

// ClearingHeader is the clearing file's first line, its columns in order.
var ClearingHeader = []string{"route", "stan", "transmission", "amount_fen", "mti", "type", "response_code",
	"auth_code", "rrn", "tid", "mid", "original_stan", "original_transmission", "booked_at"}

// Types a clearing file and a terminal book may hold.
var (
	issuerTypes   = []string{"purchase", "completion", "preauth", "void", "preauth-void", "completion-void", "refund", "reversal"}
	terminalTypes = []string{"purchase", "completion", "preauth", "void", "refund"}
)

// WriteClearing writes the header and recs as a clearing file.
func WriteClearing(w io.Writer, recs []IssuerRecord) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ClearingHeader); err != nil {
		return err
	}
	for i := range recs {
		r := &recs[i]
		booked := ""
		if !r.Booked.IsZero() {
			booked = r.Booked.UTC().Format(time.RFC3339Nano)
		}
		origSTAN := ""
		if r.OriginalTransmission != "" {
			origSTAN = stan6(r.OriginalSTAN)
		}
		if err := cw.Write([]string{r.Route, stan6(r.STAN), r.Transmission, strconv.FormatInt(r.Amount, 10), r.MTI, r.Type,
			r.ResponseCode, r.AuthCode, r.RRN, r.TID, r.MID, origSTAN, r.OriginalTransmission, booked}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func stan6(n uint32) string { return fmt.Sprintf("%06d", n) }

// ReadClearing reads a clearing file. Errors name the line and the column, never a value.
func ReadClearing(r io.Reader) ([]IssuerRecord, error) {
	var out []IssuerRecord
	err := readCSV(r, ClearingHeader, func(line int, f []string) error {
		bad := func(col string) error { return fmt.Errorf("reconcile: clearing file line %d: bad %s", line, col) }
		rec := IssuerRecord{Route: f[0], Transmission: f[2], MTI: f[4], Type: f[5], ResponseCode: f[6], AuthCode: f[7],
			RRN: f[8], TID: f[9], MID: f[10], OriginalTransmission: f[12]}
		var ok bool
		if rec.Route == "" {
			return bad("route")
		}
		if rec.STAN, ok = parseSTAN(f[1]); !ok {
			return bad("stan")
		}
		if !isTransmission(rec.Transmission) {
			return bad("transmission")
		}
		if rec.Amount, ok = parseFen(f[3]); !ok {
			return bad("amount_fen")
		}
		if !contains(issuerTypes, rec.Type) {
			return bad("type")
		}
		if len(rec.ResponseCode) != 2 {
			return bad("response_code")
		}
		if rec.OriginalTransmission != "" || f[11] != "" {
			if rec.OriginalSTAN, ok = parseSTAN(f[11]); !ok {
				return bad("original_stan")
			}
			if !isTransmission(rec.OriginalTransmission) {
				return bad("original_transmission")
			}
		}
		if rec.Type == "reversal" && rec.OriginalTransmission == "" {
			return bad("original_transmission (a reversal needs one)")
		}
		if f[13] != "" {
			t, err := time.Parse(time.RFC3339Nano, f[13])
			if err != nil {
				return bad("booked_at")
			}
			rec.Booked = t.UTC()
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}

// TerminalEntry is one line of a terminal book: one financial transaction as the terminal saw
// it, keyed by TID + batch + STAN. ResponseCode is "" when no answer arrived; ReversedLater says
// the terminal's reversal of it was acknowledged (at once or on a later exchange). Time is when
// the terminal finished it.
type TerminalEntry struct {
	TID           string
	Batch         string // n6
	STAN          string // n6
	Type          string // purchase, completion, preauth, void or refund
	Amount        int64  // fen
	ResponseCode  string
	RRN           string
	AuthCode      string
	ReversalOwed  bool // the terminal owed a reversal (no answer, or an answer it could not trust)
	ReversedLater bool
	Time          time.Time
}

// BooksHeader is a terminal book's first line. The load generator writes the format
// (loadtest.WriteBooks; it talks to posgate only over the wire and files, so it does not import
// this package); TestBooksFormat in cmd/posgate checks the two agree.
var BooksHeader = []string{"tid", "batch", "stan", "type", "amount_fen", "response_code", "rrn", "auth_code",
	"reversal_owed", "reversed_later", "time"}

// ReadBooks reads a terminal book.
func ReadBooks(r io.Reader) ([]TerminalEntry, error) {
	var out []TerminalEntry
	err := readCSV(r, BooksHeader, func(line int, f []string) error {
		bad := func(col string) error { return fmt.Errorf("reconcile: books line %d: bad %s", line, col) }
		e := TerminalEntry{TID: f[0], Batch: f[1], STAN: f[2], Type: f[3], ResponseCode: f[5], RRN: f[6], AuthCode: f[7]}
		var ok bool
		var err error
		switch {
		case e.TID == "" || len(e.TID) > 8:
			return bad("tid")
		case !isDigits(e.Batch, 6):
			return bad("batch")
		case !isDigits(e.STAN, 6):
			return bad("stan")
		case !contains(terminalTypes, e.Type):
			return bad("type")
		case e.ResponseCode != "" && len(e.ResponseCode) != 2:
			return bad("response_code")
		}
		if e.Amount, ok = parseFen(f[4]); !ok {
			return bad("amount_fen")
		}
		if e.ReversalOwed, err = strconv.ParseBool(f[8]); err != nil {
			return bad("reversal_owed")
		}
		if e.ReversedLater, err = strconv.ParseBool(f[9]); err != nil {
			return bad("reversed_later")
		}
		if e.Time, err = time.Parse(time.RFC3339Nano, f[10]); err != nil {
			return bad("time")
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// readCSV checks the header and calls fn with each further line (numbered from 1 = header).
func readCSV(r io.Reader, header []string, fn func(line int, fields []string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // the header is compared whole below
	cr.ReuseRecord = true
	first, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("reconcile: empty file (no header)")
		}
		return fmt.Errorf("reconcile: header: %w", csvErr(err))
	}
	if strings.Join(first, ",") != strings.Join(header, ",") {
		return fmt.Errorf("reconcile: header is not %q", strings.Join(header, ","))
	}
	cr.FieldsPerRecord = len(header)
	for line := 2; ; line++ {
		f, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reconcile: line %d: %w", line, csvErr(err))
		}
		if err := fn(line, f); err != nil {
			return err
		}
	}
}

// csvErr keeps the kind of a CSV error without the text of the line it quotes.
func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func parseSTAN(s string) (uint32, bool) {
	if !isDigits(s, 6) {
		return 0, false
	}
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n), true
}

func parseFen(s string) (int64, bool) {
	if s == "" || len(s) > 12 || !isDigits(s, len(s)) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func isTransmission(s string) bool { return isDigits(s, 10) }

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
