package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
)

// JournalSource reads the journal back by business date (journal.Journal).
type JournalSource interface {
	Read(ctx context.Context, d journal.Date, fn func(journal.Record) error) error
}

// Recovery says what Recover replays.
type Recovery struct {
	// Dates are the business dates to replay, oldest first.
	Dates []journal.Date
	// Rebuild is set when the State is empty after a restart (the in-memory State of the
	// embedded node): the transaction index, the batch totals and the retransmission answers
	// are rebuilt from the journal. Unset for a State that survived the crash (Redis): only
	// the answers the crash left unstored are restored and the node's open intents resolved.
	Rebuild bool
	// From is where an earlier replay stopped (a checkpoint, gateway/checkpoint): the State
	// holds what it replayed, and the source yields only the records after it. nil: the
	// source yields the dates from their first record.
	From *Replayed
	// Adopt replays only the records node Node wrote, and its intents instead of this
	// node's (Processor.Adopt).
	Adopt bool
	Node  int
}

// Replayed is what a replay leaves besides the State: the write-ahead intents still open and
// the upstream STANs drawn so far today — what a later replay of the records that follow
// continues from.
type Replayed struct {
	// Open are this node's intents without an outcome, by transaction id.
	Open map[string]journal.Record
	// Day is the UTC day (MMDD) LastSTAN is of.
	Day string
	// LastSTAN is, per route, the highest upstream STAN this node sent on Day.
	LastSTAN map[string]uint32
}

// RecoveryStats report what Recover found and did.
type RecoveryStats struct {
	Records      int // journal records read
	Transactions int // transactions put in the index (Rebuild)
	Answers      int // retransmission answers restored
	OpenIntents  int // this node's intents without an outcome
	Reversed     int // of those, reversed upstream and journaled now
	// LastSTAN is, per route, the highest upstream STAN of today's (UTC) requests: the STAN
	// source continues after it.
	LastSTAN map[string]uint32
	Took     time.Duration
}

// Recover replays the journal of r.Dates into the State and resolves this node's open
// write-ahead intents: every request that left for the issuer without a recorded outcome is
// reversed upstream through the durable queue and the reversal journaled (refunds too: the
// terminal retransmits a refund it got no answer to, which is then processed afresh). Call it
// before the terminal listener opens; it is not safe to run while this node serves.
//
// Replaying is idempotent: the index refuses a second copy of a transaction, totals count each
// entry id once, and an intent reversed by an earlier, interrupted recovery is closed by that
// reversal's record (or reversed again, which the queue and the issuer take as a repeat).
func (p *Processor) Recover(ctx context.Context, src JournalSource, r Recovery) (RecoveryStats, error) {
	st, err := p.resolve(ctx, src, r)
	if err != nil {
		return st, err
	}
	p.log.Info("recovered from the journal", zap.Int("records", st.Records),
		zap.Int("transactions", st.Transactions), zap.Int("answers", st.Answers),
		zap.Int("open_intents", st.OpenIntents), zap.Int("reversed", st.Reversed),
		zap.Duration("took", st.Took))
	return st, nil
}

// Adopt resolves the open write-ahead intents of another node of the cluster, node, whose
// lease ran out (it died, or lost NATS for longer than its lease): src yields what that node
// journaled in its last minutes (the records since before its last renewal, which is after
// every intent it may have left open). Its outcomes' answers are restored in the shared State
// where it died before storing them there — a retransmission reaching this node gets them
// byte for byte — and every intent it left without an outcome is reversed as its own restart
// would (resolveIntent). Safe while this node serves: the records are the dead node's, its
// transactions are done, and everything it does is idempotent with the dead node's own
// recovery should it come back meanwhile.
func (p *Processor) Adopt(ctx context.Context, src JournalSource, dates []journal.Date, node int) (RecoveryStats, error) {
	if node < 0 || node > 9 || node == p.cfg.NodeID {
		return RecoveryStats{}, &ConfigError{"Adopt", "node must be another node's id, 0–9"}
	}
	st, err := p.resolve(ctx, src, Recovery{Dates: dates, Adopt: true, Node: node})
	if err != nil {
		return st, err
	}
	p.log.Warn("adopted the open intents of a node whose lease ran out", zap.Int("node", node),
		zap.Int("records", st.Records), zap.Int("answers", st.Answers),
		zap.Int("open_intents", st.OpenIntents), zap.Int("reversed", st.Reversed), zap.Duration("took", st.Took))
	return st, nil
}

// resolve replays r into the processor's State and reverses the open intents it finds.
func (p *Processor) resolve(ctx context.Context, src JournalSource, r Recovery) (RecoveryStats, error) {
	start := time.Now()
	rs, st, err := p.Replay(ctx, p.d.State, src, r)
	if err != nil {
		return st, err
	}
	st.OpenIntents = len(rs.Open)
	for _, in := range rs.Open {
		if err := p.resolveIntent(ctx, &in); err != nil {
			return st, err
		}
		st.Reversed++
	}
	st.Took = time.Since(start)
	return st, nil
}

// Replay is Recover without resolving the open intents, into st instead of the processor's
// State: a checkpoint (gateway/checkpoint) replays the journal into a State of its own, in the
// background, and keeps what is returned for the next replay. st nil replays no State at all
// (a node on Redis checkpoints only its open intents and STANs); then r.Rebuild must be unset.
func (p *Processor) Replay(ctx context.Context, st State, src JournalSource, r Recovery) (Replayed, RecoveryStats, error) {
	if st == nil && r.Rebuild {
		return Replayed{}, RecoveryStats{}, &ConfigError{"Recovery", "Rebuild needs a State"}
	}
	if r.Adopt && (r.Rebuild || r.From != nil) {
		return Replayed{}, RecoveryStats{}, &ConfigError{"Recovery", "Adopt replays into a State that survived, from no checkpoint"}
	}
	node := uint8(p.cfg.NodeID)
	if r.Adopt {
		node = uint8(r.Node)
	}
	q := p
	if st != p.d.State {
		q = &Processor{cfg: p.cfg, d: Deps{State: st}, log: p.log, metrics: p.metrics}
	}
	// The replay allocates an index entry and an answer per transaction and keeps them: with
	// the default GOGC the collector would re-scan the growing heap over and over. Collect
	// less often while replaying (the heap then peaks higher, for seconds).
	defer debug.SetGCPercent(debug.SetGCPercent(400))

	// Records are applied by replayWorkers goroutines, each owning the terminals whose TID
	// hashes to it: every record of a transaction and of its follow-ups carries the same TID,
	// so each terminal's records keep their journal order, while decoding (the journal's
	// reader) and applying run on different cores.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	today := p.cfg.Now().UTC().Format("0102")
	workers := make([]*replay, replayWorkers)
	feeds := make([]chan []journal.Record, replayWorkers)
	for i := range workers {
		workers[i] = &replay{p: q, rebuild: r.Rebuild, noState: st == nil, open: map[string]journal.Record{},
			node: node, only: r.Adopt,
			stats: RecoveryStats{LastSTAN: map[string]uint32{}}, today: today}
		feeds[i] = make(chan []journal.Record, 16)
	}
	if r.From != nil {
		for id, in := range r.From.Open {
			workers[replayWorker(in.TID)].open[id] = in
		}
		if r.From.Day == today {
			maps.Copy(workers[0].stats.LastSTAN, r.From.LastSTAN)
		}
	}
	var wg sync.WaitGroup
	for i, rp := range workers {
		wg.Add(1)
		go func(feed <-chan []journal.Record) {
			defer wg.Done()
			for batch := range feed {
				for i := range batch {
					if ctx.Err() != nil {
						continue // drain
					}
					if err := rp.apply(ctx, &batch[i]); err != nil {
						cancel(err)
					}
				}
			}
		}(feeds[i])
	}
	pending := make([][]journal.Record, replayWorkers)
	flush := func(i int) {
		if len(pending[i]) > 0 {
			feeds[i] <- pending[i]
			pending[i] = make([]journal.Record, 0, replayBatch)
		}
	}
	records := 0
	var readErr error
	for _, d := range r.Dates {
		err := src.Read(ctx, d, func(rec journal.Record) error {
			records++
			i := replayWorker(rec.TID)
			pending[i] = append(pending[i], rec)
			if len(pending[i]) == replayBatch {
				flush(i)
			}
			return context.Cause(ctx)
		})
		if err != nil {
			readErr = fmt.Errorf("gateway: recover %s: %w", d, err)
			break
		}
	}
	for i := range feeds {
		flush(i)
		close(feeds[i])
	}
	wg.Wait()
	stats := RecoveryStats{Records: records, LastSTAN: map[string]uint32{}}
	rs := Replayed{Open: map[string]journal.Record{}, Day: today, LastSTAN: stats.LastSTAN}
	for _, rp := range workers {
		stats.Transactions += rp.stats.Transactions
		stats.Answers += rp.stats.Answers
		for route, stan := range rp.stats.LastSTAN {
			stats.LastSTAN[route] = max(stats.LastSTAN[route], stan)
		}
		maps.Copy(rs.Open, rp.open)
	}
	if err := context.Cause(ctx); err != nil && readErr == nil {
		readErr = fmt.Errorf("gateway: recover: %w", err)
	}
	return rs, stats, readErr
}

// replayWorkers apply the replayed records; replayBatch records go to a worker at a time.
const (
	replayWorkers = 2
	replayBatch   = 256
)

var replaySeed = maphash.MakeSeed()

// replayWorker is the worker that applies the records of terminal tid.
func replayWorker(tid string) int { return int(maphash.String(replaySeed, tid) % replayWorkers) }

// replay is the state of one Recover pass.
type replay struct {
	p       *Processor
	rebuild bool
	noState bool                      // answers are not restored either (Replay with no State)
	node    uint8                     // whose intents are tracked: this node's, or the adopted one's
	only    bool                      // replay node's records only (Adopt)
	open    map[string]journal.Record // node's intents without an outcome, by transaction id
	stats   RecoveryStats
	today   string // MMDD, UTC
}

// apply replays one record.
func (rp *replay) apply(ctx context.Context, rec *journal.Record) error {
	if rp.only && rec.Node != rp.node {
		// Another node's record: it stored its own answers; all it can do here is close an
		// intent of the adopted node (a terminal's 0400 for it that reached the other node).
		if rec.Type == journal.TypeReversal && !rec.Upstream.IsZero() {
			delete(rp.open, rec.Original.TxnID)
		}
		return nil
	}
	if !rec.Upstream.IsZero() && rec.Route != "" && len(rec.Upstream.Transmission) == 10 &&
		rec.Upstream.Transmission[:4] == rp.today && rec.Node == rp.node {
		rp.stats.LastSTAN[rec.Route] = max(rp.stats.LastSTAN[rec.Route], rec.Upstream.STAN)
	}
	switch {
	case rec.Type == journal.TypeIntent:
		if rec.Node == rp.node {
			rp.open[rec.Original.TxnID] = *rec
		}
		return nil
	case rec.Type == journal.TypeDeclined:
		delete(rp.open, rec.Original.TxnID)
		if rp.rebuild {
			tr := txnRecordOf(rec, rec.Of, rec.Original.TxnID, TxnDeclined)
			if _, err := rp.put(ctx, tr); err != nil {
				return err
			}
		}
		return rp.answer(ctx, rec, mtiOf(rec.Of), rec.STAN, false)
	case rec.Type == journal.TypeReversal:
		if !rec.Upstream.IsZero() { // a "-T" reversal overtook its request: the intent stays open
			delete(rp.open, rec.Original.TxnID)
		}
		if rp.rebuild {
			if err := rp.reversed(ctx, rec); err != nil {
				return err
			}
		}
		if rec.Answer != "" && rec.Of != 0 {
			return rp.answer(ctx, rec, mtiOf(rec.Of), rec.STAN, true)
		}
		return nil
	case rec.Type == journal.TypeBatchSettlement:
		return rp.answer(ctx, rec, "0500", rec.STAN, false)
	case rec.Type.MovesMoney():
		delete(rp.open, rec.TxnID)
		if rp.rebuild {
			if err := rp.captured(ctx, rec); err != nil {
				return err
			}
		}
		return rp.answer(ctx, rec, rec.MTI, rec.STAN, false)
	}
	return nil
}

// captured rebuilds an approved transaction: index, original, totals.
func (rp *replay) captured(ctx context.Context, rec *journal.Record) error {
	p := rp.p
	tr := txnRecordOf(rec, rec.Type, rec.TxnID, TxnApproved)
	if existed, err := rp.put(ctx, tr); err != nil || existed {
		return err // applied already: its original and totals are not touched twice
	}
	k := kindOfType(rec.Type)
	info := kinds[k]
	if info.original != KindUnsupported {
		if code := p.applyToOriginal(ctx, k, tr.Original, tr.Amount); code != "" {
			// The original is outside the replayed dates, or it was reversed first (the
			// follow-up was then reversed too and its record follows).
			p.log.Debug("replayed follow-up without its original", zap.String("txn", rec.TxnID))
		}
	}
	if d := totalsDelta(info, tr.Amount); d != (Totals{}) {
		if _, err := p.d.State.AddTotals(ctx, tr.TID, tr.Batch, tr.ID, d); err != nil {
			return fmt.Errorf("gateway: recover totals: %w", err)
		}
	}
	return nil
}

// reversed replays a reversal: the original is marked reversed and, if it was counted, taken
// out of its totals and its own original; an unknown original leaves a tombstone.
func (rp *replay) reversed(ctx context.Context, rec *journal.Record) error {
	p := rp.p
	key := TxnKey{TID: rec.TID, Batch: atou(rec.Batch), STAN: atou(rec.STAN)}
	orig, err := p.d.State.GetTxn(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		of := rec.Of
		if of == 0 {
			of = journal.TypePurchase
		}
		_, err := rp.put(ctx, txnRecordOf(rec, of, rec.Original.TxnID, TxnReversed))
		return err
	case err != nil:
		return fmt.Errorf("gateway: recover reversal: %w", err)
	case orig.Status == TxnReversed:
		return nil
	}
	counted := orig.Status != TxnDeclined
	p.markReversed(ctx, key)
	if counted {
		p.uncount(ctx, &orig)
	}
	return nil
}

// put stores tr in the index; a copy already there (a record journaled twice, or a tombstone
// the terminal's reversal left) is kept, and reported.
func (rp *replay) put(ctx context.Context, tr TxnRecord) (existed bool, err error) {
	if err := rp.p.d.State.PutTxn(ctx, tr); errors.Is(err, ErrExists) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("gateway: recover index: %w", err)
	}
	rp.stats.Transactions++
	return false, nil
}

// answer restores the answer a record carries for the request (TID, batch, stan, mti) while it
// may still be retransmitted. replace: the record's answer supersedes one restored earlier (a
// reversal of an approval the terminal was never told).
func (rp *replay) answer(ctx context.Context, rec *journal.Record, mti, stan string, replace bool) error {
	if rp.noState || rec.Answer == "" || len(rec.RequestHash) != 2*len(ContentHash{}) || mti == "" {
		return nil
	}
	p := rp.p
	ttl := p.cfg.RetransmitTTL - p.cfg.Now().Sub(rec.RequestTime)
	if ttl <= 0 {
		return nil
	}
	var h ContentHash
	if _, err := hex.Decode(h[:], readOnly(rec.RequestHash)); err != nil {
		return nil
	}
	key := RetransmitKey{TID: rec.TID, Batch: atou(rec.Batch), STAN: atou(stan), MTI: mti}
	answer := readOnly(rec.Answer)
	err := p.d.State.Restore(ctx, key, h, answer, ttl)
	if err == nil && replace {
		// Restore kept an earlier answer if there was one; Complete replaces it under the
		// same hash (and rewrites this one's where there was none).
		err = p.d.State.Complete(ctx, key, answer, ttl)
	}
	if err != nil {
		return fmt.Errorf("gateway: recover answers: %w", err)
	}
	rp.stats.Answers++
	return nil
}

// resolveIntent reverses the request of an open intent: queued upstream, marked reversed in the
// index, and journaled (which closes the intent).
func (p *Processor) resolveIntent(ctx context.Context, in *journal.Record) error {
	tr := txnRecordOf(in, in.Of, in.Original.TxnID, TxnReversed)
	rev := reversalOf(&tr, "98")
	rev.ProcessingCode = in.ProcessingCode
	if err := p.queueReversal(ctx, &rev); err != nil {
		return fmt.Errorf("gateway: recover: reversal of an open intent not queued: %w", err)
	}
	if err := p.d.State.PutTxn(ctx, tr); errors.Is(err, ErrExists) {
		// The State survived (Redis) with the approval indexed but never journaled: it was
		// neither counted nor applied to its original (both follow the journal), so marking
		// it reversed is all.
		p.markReversed(ctx, tr.Key())
	} else if err != nil {
		return fmt.Errorf("gateway: recover index: %w", err)
	}
	jr := p.reversalRecord(&tr, "98", in.ProcessingCode, p.cfg.Now(), in.BusinessDate)
	if err := p.d.Journal.Append(ctx, jr); err != nil {
		return fmt.Errorf("gateway: recover: reversal of an open intent not journaled: %w", err)
	}
	p.log.Warn("reversed a request left open by a crash", zap.String("txn", tr.ID), zap.String("route", tr.Route),
		zap.Uint32("upstream_stan", tr.UpstreamSTAN), zap.Int64("amount_fen", tr.Amount))
	return nil
}

// txnRecordOf is the index record of the transaction id that rec (a capture, decline, intent
// or reversal of it) describes, as type typ with status st.
func txnRecordOf(rec *journal.Record, typ journal.TxnType, id string, st TxnStatus) TxnRecord {
	tr := TxnRecord{
		ID: id, Type: typ, TID: rec.TID, MID: rec.MID, Batch: atou(rec.Batch), STAN: atou(rec.STAN),
		Amount: rec.Amount, Currency: rec.Currency, MaskedPAN: rec.MaskedPAN, PANToken: rec.PANToken,
		Kind: rec.CardKind, RRN: rec.RRN, AuthCode: rec.AuthCode, Response: rec.ResponseCode, Route: rec.Route,
		UpstreamMTI: rec.Upstream.MTI, UpstreamSTAN: rec.Upstream.STAN, UpstreamTransmission: rec.Upstream.Transmission,
		BusinessDate: rec.BusinessDate, Status: st, CreatedAt: rec.RequestTime,
	}
	if rec.Type == typ && typ.NeedsOriginal() {
		// A follow-up's capture names its original; intents, declines and reversals name the
		// transaction itself, whose original matters no more once it did not stand.
		tr.Original = TxnKey{TID: rec.TID, Batch: atou(rec.Original.Batch), STAN: atou(rec.Original.STAN)}
	}
	return tr
}

// mtiOf is the terminal request MTI of a transaction of type typ ("" for none), from the
// transaction table.
func mtiOf(typ journal.TxnType) string {
	k := kindOfType(typ)
	for _, f := range financialKinds {
		if f.kind == k && k != KindUnsupported {
			return f.mti
		}
	}
	return ""
}

// atou parses a journal's n6 field ("" and garbage are 0).
func atou(s string) uint32 {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// readOnly returns the bytes of s without copying them, for callees that only read (and copy
// what they keep: State.Restore and Complete do). One copy less per replayed answer.
func readOnly(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
