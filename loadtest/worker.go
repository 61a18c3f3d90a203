package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/loadtest/termsim"
)

// Bounds of the amounts drawn, in fen.
const (
	minPurchase = 100
	maxPurchase = 100_000
	minPreAuth  = 1_000
	maxPreAuth  = 500_000
	// maxOriginals bounds the originals a terminal keeps for follow-ups (oldest dropped).
	maxOriginals = 64
)

// original is an approved purchase or pre-authorization a follow-up may refer to, with the
// card it was made with.
type original struct {
	res  termsim.Result
	card int
}

// worker drives one simulated terminal: one request at a time, like the device.
type worker struct {
	term  *termsim.Terminal
	cards []termsim.Card // shared, read only
	rng   *rand.Rand
	jobs  chan job

	purchases []original // approved, neither voided nor refunded yet
	preauths  []original // approved, not completed yet
	// approvedFen: approved purchases and completions minus approved voids and refunds;
	// batchFen the same since the last settlement.
	approvedFen, batchFen int64

	// acked are the STANs of reversals acknowledged since the last look (termsim's
	// OnReversal); reversedLater counts those acknowledged after the exchange that owed them.
	acked         []uint32
	reversedLater int64
	// books: the terminal's book is kept (Config.Books), entries in order, by STAN.
	books   bool
	entries []BookEntry
	byStan  map[uint32]int
}

// adviceDelivered is termsim's OnAdvice: a refund booked unanswered got its answer later; an
// approval counts in the batch (and in the books) from now.
func (w *worker) adviceDelivered(res termsim.Result) {
	if res.Approved() {
		w.add(-res.Amount)
	}
	if i, ok := w.byStan[res.STAN]; ok {
		e := &w.entries[i]
		e.ResponseCode, e.RRN, e.AuthCode = res.Code, res.RRN, res.AuthCode
	}
}

// reversalDelivered is termsim's OnReversal.
func (w *worker) reversalDelivered(stan uint32) { w.acked = append(w.acked, stan) }

// noteReversals books the reversals acknowledged since the last call; current is the STAN of
// the request just made (its own reversal, acknowledged at once, is not "later").
func (w *worker) noteReversals(current uint32) (later int64) {
	for _, stan := range w.acked {
		if stan != current {
			later++
		}
		if i, ok := w.byStan[stan]; ok {
			w.entries[i].ReversedLater = true
		}
	}
	w.acked = w.acked[:0]
	w.reversedLater += later
	return later
}

// book adds the terminal's line for a financial request it made.
func (w *worker) book(kind Kind, res *termsim.Result, done time.Time) {
	if !w.books || kind == Balance || res.STAN == 0 {
		return
	}
	if w.byStan == nil {
		w.byStan = map[uint32]int{}
	}
	w.byStan[res.STAN] = len(w.entries)
	w.entries = append(w.entries, BookEntry{
		TID: w.term.TID(), Batch: fmt.Sprintf("%06d", res.Batch), STAN: fmt.Sprintf("%06d", res.STAN), Type: kind.String(),
		Amount: res.Amount, ResponseCode: res.Code, RRN: res.RRN, AuthCode: res.AuthCode,
		ReversalOwed: res.ReversalCode != "", Time: done.UTC(),
	})
}

// job is one scheduled request.
type job struct {
	kind Kind
	due  time.Time
}

func (w *worker) add(fen int64) { w.approvedFen += fen; w.batchFen += fen }

func (w *worker) amount(lo, hi int64) int64 { return lo + w.rng.Int64N(hi-lo) }

// take removes a random original from *list.
func (w *worker) take(list *[]original) (original, bool) {
	l := *list
	if len(l) == 0 {
		return original{}, false
	}
	i := w.rng.IntN(len(l))
	o := l[i]
	l[i] = l[len(l)-1]
	*list = l[:len(l)-1]
	return o, true
}

func keep(list *[]original, o original) {
	if len(*list) >= maxOriginals {
		*list = append((*list)[:0], (*list)[1:]...)
	}
	*list = append(*list, o)
}

// do runs one job and returns its outcome (without the done time). A follow-up with no
// original left is sent as its originating operation (void and refund: a purchase;
// completion: a pre-authorization) and counted as substituted.
func (w *worker) do(ctx context.Context, j job) outcome {
	kind := j.kind
	var (
		orig original
		ok   = true
	)
	switch kind {
	case Void, Refund:
		if orig, ok = w.take(&w.purchases); !ok {
			kind = Purchase
		}
	case Completion:
		if orig, ok = w.take(&w.preauths); !ok {
			kind = PreAuth
		}
	}
	out := outcome{kind: kind, due: j.due, sent: true, subst: !ok}
	ci := w.rng.IntN(len(w.cards))
	var (
		res termsim.Result
		err error
	)
	switch kind {
	case Purchase:
		res, err = w.term.Purchase(ctx, w.cards[ci], w.amount(minPurchase, maxPurchase))
		if err == nil {
			w.add(res.Amount)
			keep(&w.purchases, original{res, ci})
		}
	case Balance:
		res, err = w.term.Balance(ctx, w.cards[ci])
	case Void:
		res, err = w.term.Void(ctx, w.cards[orig.card], orig.res)
		if err == nil {
			w.add(-res.Amount)
		}
	case Refund:
		amt := orig.res.Amount / 2 // partial; purchases are at least minPurchase
		res, err = w.term.Refund(ctx, w.cards[orig.card], amt, orig.res)
		if err == nil {
			w.add(-res.Amount)
		}
	case PreAuth:
		res, err = w.term.PreAuth(ctx, w.cards[ci], w.amount(minPreAuth, maxPreAuth))
		if err == nil {
			keep(&w.preauths, original{res, ci})
		}
	case Completion:
		amt := orig.res.Amount - w.rng.Int64N(orig.res.Amount/5+1)
		res, err = w.term.Completion(ctx, w.cards[orig.card], amt, orig.res)
		if err == nil {
			w.add(res.Amount)
		}
	}
	w.book(kind, &res, time.Now())
	out.reversedLater = w.noteReversals(res.STAN)
	out.code = res.Code
	out.answered = res.Code != ""
	out.approved = err == nil && res.Approved()
	out.service = res.Latency
	out.reversed = res.Reversed
	out.owed = res.ReversalCode != ""
	out.errKind = errorKind(res, err)
	return out
}

// errorKind names what went wrong with a request, "" when it went through (approved or
// declined with a response code).
func errorKind(res termsim.Result, err error) string {
	var dec *termsim.DeclinedError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &dec) && res.Code != "":
		return ""
	case errors.Is(err, termsim.ErrResponseMAC):
		return "response_mac"
	case errors.Is(err, termsim.ErrMalformedResponse):
		return "malformed_response"
	case errors.Is(err, termsim.ErrTimeout):
		return "timeout"
	case errors.Is(err, termsim.ErrNoResponse):
		return "connection_lost"
	case errors.Is(err, termsim.ErrReversalPending):
		return "reversal_pending"
	case errors.Is(err, termsim.ErrAdvicePending):
		return "advice_pending"
	case errors.Is(err, termsim.ErrNotSignedOn), errors.As(err, &dec):
		return "sign_on" // a sign-on asked for by the gateway failed before the request
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.As(err, &ne):
		return "connect"
	}
	return "other"
}

// settleBatch settles the terminal's batch (the upload when the gateway's totals differ),
// checks its book against the approvals seen since the last settlement, and records the
// outcome.
func (w *worker) settleBatch(ctx context.Context, rec *recorder) {
	t := w.term.Totals()
	book := t.Domestic.DebitAmount - t.Domestic.CreditAmount + t.Foreign.DebitAmount - t.Foreign.CreditAmount
	st, err := w.term.Settle(ctx)
	rec.reversedLater(w.noteReversals(0)) // a pending reversal goes before the 0500
	rec.settled(w.term.TID(), st, err, book == w.batchFen)
	if err == nil {
		w.batchFen = 0
	}
}

// balanced reports whether a settlement's answer says both totals agree.
func balanced(st termsim.Settlement) bool {
	return st.Flag == codec.SettleBalanced && st.ForeignFlag != codec.SettleNotBalanced && st.ForeignFlag != codec.SettleError
}
