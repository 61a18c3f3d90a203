package loadtest

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// BookEntry is one line of a terminal's book: a financial transaction as the terminal saw it
// (docs/reconcile.md, "The terminals' books"). ResponseCode is "" when no answer arrived;
// ReversalOwed says the terminal owed a reversal of it, ReversedLater that a 0410
// acknowledged that reversal (in the same exchange or a later one).
type BookEntry struct {
	TID, Batch, STAN string // batch and STAN n6
	Type             string // purchase, completion, preauth, void or refund
	Amount           int64  // fen
	ResponseCode     string
	RRN, AuthCode    string
	ReversalOwed     bool
	ReversedLater    bool
	Time             time.Time // when the terminal finished it
}

// BooksHeader is the books file's first line; posgate reconcile --books reads the format.
var BooksHeader = []string{"tid", "batch", "stan", "type", "amount_fen", "response_code", "rrn", "auth_code",
	"reversal_owed", "reversed_later", "time"}

// WriteBooks writes the header and entries as a books file (CSV).
func WriteBooks(w io.Writer, entries []BookEntry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BooksHeader); err != nil {
		return err
	}
	for i := range entries {
		e := &entries[i]
		if err := cw.Write([]string{e.TID, e.Batch, e.STAN, e.Type, strconv.FormatInt(e.Amount, 10), e.ResponseCode,
			e.RRN, e.AuthCode, strconv.FormatBool(e.ReversalOwed), strconv.FormatBool(e.ReversedLater),
			e.Time.UTC().Format(time.RFC3339Nano)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
