package reconcile_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/reconcile"
)

// day is the business date under test; now is an instant inside it (an injected clock, not
// the wall clock).
var (
	cal = journal.Calendar{}
	day = journal.NewDate(2031, time.March, 4)
	now = cal.CutOffTime(day).Add(-3 * time.Hour).UTC()
)

// book builds a journal, a clearing file and terminal books that agree, transaction by
// transaction; each test then breaks one thing.
type book struct {
	journal  map[journal.Date][]journal.Record
	issuer   []reconcile.IssuerRecord
	terminal []reconcile.TerminalEntry
	stan     uint32
}

func newBook() *book { return &book{journal: map[journal.Date][]journal.Record{}} }

// txn adds a transaction approved everywhere and returns its journal record's index.
func (b *book) txn(d journal.Date, typ journal.TxnType, amount int64, at time.Time) int {
	b.stan++
	tx := fmt.Sprintf("%010d", 304000000+b.stan)
	rec := journal.Record{TxnID: fmt.Sprintf("t%d", b.stan), Type: typ, Amount: amount, ResponseCode: "00", Route: "cup",
		TID: "10400067", Batch: "000001", STAN: fmt.Sprintf("%06d", b.stan), BusinessDate: d, RequestTime: at,
		Upstream: journal.Upstream{MTI: "0200", STAN: b.stan, Transmission: tx}}
	intent := rec
	intent.TxnID, intent.Type, intent.Of, intent.ResponseCode = rec.TxnID+"-I", journal.TypeIntent, typ, ""
	b.journal[d] = append(b.journal[d], intent, rec)
	ctype := strings.ReplaceAll(typ.String(), "_", "-")
	b.issuer = append(b.issuer, reconcile.IssuerRecord{Route: "cup", STAN: b.stan, Transmission: tx, Amount: amount, MTI: "0200",
		Type: ctype, ResponseCode: "00", Booked: at})
	b.terminal = append(b.terminal, reconcile.TerminalEntry{TID: "10400067", Batch: "000001", STAN: rec.STAN, Type: ctype,
		Amount: amount, ResponseCode: "00", Time: at})
	return len(b.journal[d]) - 1
}

// reverseInJournal journals posgate's reversal of record i of date d.
func (b *book) reverseInJournal(d journal.Date, i int) {
	r := b.journal[d][i]
	b.journal[d] = append(b.journal[d], journal.Record{TxnID: r.TxnID + "-R", Type: journal.TypeReversal, Of: r.Type,
		Amount: r.Amount, Route: r.Route, Upstream: r.Upstream, TID: r.TID, Batch: r.Batch, STAN: r.STAN, BusinessDate: d,
		Original: journal.OriginalRef{TxnID: r.TxnID}})
}

// reverseAtIssuer books the issuer's reversal of record i of date d.
func (b *book) reverseAtIssuer(d journal.Date, i int) {
	r := b.journal[d][i]
	b.issuer = append(b.issuer, reconcile.IssuerRecord{Route: r.Route, STAN: 900000 + r.Upstream.STAN, Transmission: r.Upstream.Transmission,
		Amount: r.Amount, MTI: "0400", Type: "reversal", ResponseCode: "00", OriginalSTAN: r.Upstream.STAN,
		OriginalTransmission: r.Upstream.Transmission, Booked: r.RequestTime})
}

func (b *book) run(t *testing.T, withTerminals bool) *reconcile.Report {
	t.Helper()
	in := reconcile.Input{Date: day, Calendar: cal, Issuer: b.issuer,
		Journal: func(d journal.Date, fn func(journal.Record) error) error {
			for _, r := range b.journal[d] {
				if err := fn(r); err != nil {
					return err
				}
			}
			return nil
		}}
	if withTerminals {
		in.Terminals = b.terminal
	}
	rep, err := reconcile.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())
	return rep
}

func amt(n, fen int64) reconcile.Amount { return reconcile.Amount{Count: n, Fen: fen} }

func TestAgreeingBooksAreClean(t *testing.T) {
	b := newBook()
	b.txn(day, journal.TypePurchase, 10000, now)
	b.txn(day, journal.TypePurchase, 2500, now)
	b.txn(day, journal.TypeRefund, 700, now)
	b.txn(day, journal.TypePreAuth, 50000, now)
	rev := b.txn(day, journal.TypePurchase, 999, now)
	b.reverseInJournal(day, rev)
	b.reverseAtIssuer(day, rev)
	b.terminal[len(b.terminal)-1].ReversalOwed, b.terminal[len(b.terminal)-1].ReversedLater = true, true
	// The terminal's reversal of a request still in flight: no upstream identifiers, only the
	// id the intent names as its outcome; the issuer got posgate's reversal.
	inflight := b.txn(day, journal.TypePurchase, 333, now)
	intent := b.journal[day][inflight-1]
	intent.Original.TxnID = b.journal[day][inflight].TxnID
	b.journal[day] = append(b.journal[day][:inflight-1], intent)
	b.journal[day] = append(b.journal[day], journal.Record{TxnID: intent.Original.TxnID + "-R", Type: journal.TypeReversal,
		Amount: 333, TID: intent.TID, Batch: intent.Batch, STAN: intent.STAN, BusinessDate: day,
		Original: journal.OriginalRef{TxnID: intent.Original.TxnID}})
	b.issuer = append(b.issuer, reconcile.IssuerRecord{Route: "cup", STAN: 800000, Transmission: intent.Upstream.Transmission,
		Amount: 333, Type: "reversal", ResponseCode: "00", OriginalSTAN: intent.Upstream.STAN,
		OriginalTransmission: intent.Upstream.Transmission, Booked: now})
	b.terminal[len(b.terminal)-1].ResponseCode, b.terminal[len(b.terminal)-1].ReversalOwed = "", true
	b.terminal[len(b.terminal)-1].ReversedLater = true
	// A request that reached no issuer (91): its decline closes the intent; the issuer never
	// saw it.
	unsent := b.txn(day, journal.TypePurchase, 444, now)
	intent = b.journal[day][unsent-1]
	b.journal[day] = append(b.journal[day][:unsent-1], intent, journal.Record{TxnID: intent.Original.TxnID + "-D",
		Type: journal.TypeDeclined, Of: journal.TypePurchase, Amount: 444, ResponseCode: "91", Route: "cup",
		Upstream: intent.Upstream, TID: intent.TID, Batch: intent.Batch, STAN: intent.STAN, BusinessDate: day})
	b.issuer = b.issuer[:len(b.issuer)-1]
	b.terminal[len(b.terminal)-1].ResponseCode = "91"
	// The neighbours' transactions, booked by the issuer just across the cut-offs, are theirs.
	b.txn(day.AddDays(-1), journal.TypePurchase, 111, cal.CutOffTime(day.AddDays(-1)).Add(-time.Minute))
	b.txn(day.AddDays(1), journal.TypePurchase, 222, cal.CutOffTime(day).Add(time.Minute))

	rep := b.run(t, true)
	if !rep.Clean {
		t.Fatalf("differences in agreeing books: %+v", rep.Differences)
	}
	if rep.Issuer.Matched != amt(4, 63200) || rep.Issuer.ReversedBoth != amt(2, 999+333) {
		t.Errorf("issuer comparison %+v", rep.Issuer)
	}
	if rep.Terminals.Matched != amt(4, 63200) || rep.Terminals.ReversedBoth != amt(2, 999+333) {
		t.Errorf("terminal comparison %+v", *rep.Terminals)
	}
	if rep.OpenIntents.Count != 0 || rep.Issuer.Declined != amt(1, 444) {
		t.Errorf("open intents %+v, declined %+v", rep.OpenIntents, rep.Issuer.Declined)
	}
	want := int64(10000 + 2500 - 700)
	if rep.AcquirerNet.Net != want || rep.IssuerNet.Net != want || rep.TerminalNet.Net != want {
		t.Errorf("nets: journal %d issuer %d terminals %d, want %d", rep.AcquirerNet.Net, rep.IssuerNet.Net, rep.TerminalNet.Net, want)
	}
}

// Each fault a crash can leave is reported in its own class, with its amount.
func TestEachDifferenceIsFound(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(b *book, i int)
		check  func(r *reconcile.Report) bool
		kind   string
	}{
		{"approval lost by the journal (no write-ahead)", func(b *book, i int) {
			b.journal[day] = b.journal[day][:i-1] // neither intent nor capture
			b.terminal = b.terminal[:len(b.terminal)-1]
		}, func(r *reconcile.Report) bool { return r.Issuer.MissingAtAcquirer == amt(1, 4321) }, "missing_at_acquirer"},
		{"intent left open, issuer approved", func(b *book, i int) {
			b.journal[day] = b.journal[day][:i] // the intent only
			b.terminal[len(b.terminal)-1].ResponseCode = ""
		}, func(r *reconcile.Report) bool {
			return r.Issuer.MissingAtAcquirer == amt(1, 4321) && r.OpenIntents == amt(1, 4321)
		}, "open_intent"},
		{"captured, never reached the issuer", func(b *book, i int) {
			b.issuer = b.issuer[:len(b.issuer)-1]
		}, func(r *reconcile.Report) bool { return r.Issuer.MissingAtIssuer == amt(1, 4321) }, "missing_at_issuer"},
		{"issuer booked another amount", func(b *book, i int) {
			b.issuer[len(b.issuer)-1].Amount = 4320
		}, func(r *reconcile.Report) bool { return r.Issuer.AmountMismatch == amt(1, 4321) }, "amount_mismatch"},
		{"reversal journaled, never delivered", func(b *book, i int) {
			b.reverseInJournal(day, i)
			b.terminal[len(b.terminal)-1].ReversedLater = true
		}, func(r *reconcile.Report) bool { return r.Issuer.ReversedOneSide == amt(1, 4321) }, "reversed_one_side"},
		{"reversal delivered, never journaled", func(b *book, i int) {
			b.reverseAtIssuer(day, i)
			b.terminal[len(b.terminal)-1].ReversedLater = true
		}, func(r *reconcile.Report) bool {
			return r.Issuer.ReversedOneSide == amt(1, 4321) && r.Terminals.ReversedOneSide == amt(1, 4321)
		}, "reversed_one_side"},
		{"terminal printed an approval the journal lacks", func(b *book, i int) {
			b.journal[day][i].ResponseCode = "96"
			b.issuer[len(b.issuer)-1].ResponseCode = "96"
		}, func(r *reconcile.Report) bool { return r.Terminals.MissingAtAcquirer == amt(1, 4321) }, "missing_at_acquirer"},
		{"journal settles what the terminal never heard", func(b *book, i int) {
			b.terminal[len(b.terminal)-1].ResponseCode = ""
			b.terminal[len(b.terminal)-1].ReversalOwed = true
		}, func(r *reconcile.Report) bool { return r.Terminals.ReversedOneSide == amt(1, 4321) }, "reversed_one_side"},
		{"refund booked twice", func(b *book, i int) {
			dup := b.journal[day][i]
			dup.TxnID, dup.Upstream.STAN = dup.TxnID+"-again", 777777
			b.journal[day] = append(b.journal[day], dup)
			b.issuer = append(b.issuer, reconcile.IssuerRecord{Route: "cup", STAN: 777777, Transmission: dup.Upstream.Transmission,
				Amount: dup.Amount, Type: "purchase", ResponseCode: "00", Booked: now})
		}, func(r *reconcile.Report) bool { return r.Doubled == amt(1, 4321) }, "doubled"},
		{"issuer approval unknown to the journal of any date", func(b *book, i int) {
			b.issuer = append(b.issuer, reconcile.IssuerRecord{Route: "cup", STAN: 555555, Transmission: "0304120000", Amount: 88,
				Type: "purchase", ResponseCode: "00", Booked: now})
		}, func(r *reconcile.Report) bool { return r.Issuer.MissingAtAcquirer == amt(1, 88) }, "missing_at_acquirer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBook()
			b.txn(day, journal.TypePurchase, 1000, now)
			i := b.txn(day, journal.TypePurchase, 4321, now)
			tt.break_(b, i)
			rep := b.run(t, true)
			if rep.Clean {
				t.Fatal("reported clean")
			}
			if !tt.check(rep) {
				t.Errorf("not classified as expected: issuer %+v terminals %+v doubled %+v", rep.Issuer, *rep.Terminals, rep.Doubled)
			}
			found := false
			for _, d := range rep.Differences {
				found = found || d.Kind == tt.kind
			}
			if !found {
				t.Errorf("no %s difference listed: %+v", tt.kind, rep.Differences)
			}
		})
	}
}

func TestFilesRoundTrip(t *testing.T) {
	b := newBook()
	b.txn(day, journal.TypePurchase, 1000, now)
	i := b.txn(day, journal.TypeRefund, 300, now)
	b.reverseAtIssuer(day, i)
	var clearing bytes.Buffer
	if err := reconcile.WriteClearing(&clearing, b.issuer); err != nil {
		t.Fatal(err)
	}
	gotI, err := reconcile.ReadClearing(bytes.NewReader(clearing.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotI) != fmt.Sprint(b.issuer) {
		t.Errorf("round trip differs:\n%v\n%v", gotI, b.issuer)
	}
}

// Bad files get an error naming the line and column, never the value.
func TestBadFiles(t *testing.T) {
	header := strings.Join(reconcile.ClearingHeader, ",")
	good := "cup,000001,0304120000,100,0200,purchase,00,123456,,,,,,2031-03-04T04:00:00Z"
	tests := []struct{ name, text, want string }{
		{"empty", "", "empty file"},
		{"wrong header", "a,b\n", "header is not"},
		{"short line", header + "\ncup,1\n", "line 2: wrong number of fields"},
		{"stan not digits", header + "\n" + strings.Replace(good, "000001", "00000x", 1), "line 2: bad stan"},
		{"negative amount", header + "\n" + strings.Replace(good, ",100,", ",-100,", 1), "line 2: bad amount_fen"},
		{"unknown type", header + "\n" + strings.Replace(good, "purchase", "gift", 1), "line 2: bad type"},
		{"reversal without original", header + "\n" + strings.Replace(good, "purchase", "reversal", 1), "line 2: bad original_transmission"},
		{"bad time", header + "\n" + strings.Replace(good, "2031-03-04T04:00:00Z", "yesterday", 1), "line 2: bad booked_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reconcile.ReadClearing(strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "00000x") {
				t.Errorf("error quotes the value: %v", err)
			}
		})
	}
	if _, err := reconcile.ReadBooks(strings.NewReader(strings.Join(reconcile.BooksHeader, ",") +
		"\n10400067,000001,000001,purchase,100,00,,,maybe,false,2031-03-04T04:00:00Z\n")); err == nil ||
		!strings.Contains(err.Error(), "line 2: bad reversal_owed") {
		t.Errorf("books: %v", err)
	}
	if _, err := reconcile.Run(reconcile.Input{Date: day}); err == nil {
		t.Error("Run without a journal reader: no error")
	}
	failing := reconcile.Input{Date: day, Journal: func(journal.Date, func(journal.Record) error) error { return errors.New("down") }}
	if _, err := reconcile.Run(failing); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("journal failure: %v", err)
	}
}
