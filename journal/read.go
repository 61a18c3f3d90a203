package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// readPullBatch bounds how many segments the reader buffers ahead of fn.
const readPullBatch = 8

// readInactiveThreshold is how long the server keeps an abandoned read consumer.
const readInactiveThreshold = time.Minute

func (j *Journal) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := j.stream.DeleteConsumer(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		j.log.Warn("journal: delete read consumer", zap.String("consumer", info.Name), zap.Error(err))
	}
}

// Read calls fn with every record of business date d in append order, each
// TxnID once, and returns fn's first error, a *CorruptError, or ctx's error. It
// streams: memory holds a few segments plus a de-duplication index of about 24
// bytes per distinct record (see docs/journal.md). Records appended while Read
// runs may or may not be included; Read stops once it has caught up.
func (j *Journal) Read(ctx context.Context, d Date, fn func(Record) error) error {
	return j.read(ctx, d, Range{}, true, fn)
}

// ReadRaw is Read without de-duplication: fn sees every stored record of d in
// append order, a TxnID as often as it was stored. Its memory does not grow
// with the number of records (a few segments), so a caller that must read
// tens of millions of records with bounded memory — settlement — uses it and
// de-duplicates by its own means. The first occurrence of a TxnID is the one
// Read would deliver.
func (j *Journal) ReadRaw(ctx context.Context, d Date, fn func(Record) error) error {
	return j.read(ctx, d, Range{}, false, fn)
}

// Range bounds a ReadRange by stream sequence (Position.Last): the segments
// after After and up to UpTo. Zero values mean the first segment and the last.
// Since, instead of After, starts at the first segment the server stored at or
// after that time (its own clock): what a node wrote in its last minutes, which
// another node reads to adopt the intents of a node that died.
type Range struct {
	After, UpTo uint64
	Since       time.Time
}

// ReadRange is Read over the segments of d within r: what a checkpoint taken at
// Position p.Last lacks is ReadRange(d, Range{After: p.Last}). A TxnID is
// delivered once within the range; a copy stored before r.After is not looked
// for.
func (j *Journal) ReadRange(ctx context.Context, d Date, r Range, fn func(Record) error) error {
	return j.read(ctx, d, r, true, fn)
}

// Position identifies the journal's stream and how far it has been written:
// Last is the stream sequence of its newest segment. A stream created anew
// (its data wiped) has another Created time, and its sequences start over.
type Position struct {
	Stream  string
	Created time.Time
	Last    uint64
}

// Position returns the stream's current Position.
func (j *Journal) Position(ctx context.Context) (Position, error) {
	info, err := j.stream.Info(ctx)
	if err != nil {
		return Position{}, fmt.Errorf("journal: position: %w", err)
	}
	return Position{Stream: info.Config.Name, Created: info.Created, Last: info.State.LastSeq}, nil
}

func (j *Journal) read(ctx context.Context, d Date, r Range, dedup bool, fn func(Record) error) error {
	if d.IsZero() {
		return ErrInvalidDate
	}
	if r.UpTo != 0 && r.UpTo <= r.After {
		return nil
	}
	cc := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{j.cfg.subject(d)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// Backstop for a reader that dies without deleting its consumer; a slow fn
		// that exceeds it only makes the ordered consumer recreate itself.
		InactiveThreshold: readInactiveThreshold,
	}
	switch {
	case r.After > 0 && !r.Since.IsZero():
		return fmt.Errorf("journal: read %s: a range starts after a sequence or at a time, not both", d)
	case r.After > 0:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.After+1
	case !r.Since.IsZero():
		since := r.Since
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := j.js.OrderedConsumer(ctx, j.cfg.Stream, cc)
	if err != nil {
		return fmt.Errorf("journal: read %s: %w", d, err)
	}
	// Ephemeral ordered consumers outlive Stop until InactiveThreshold; delete it
	// so repeated Reads do not exhaust the server's consumer limit.
	defer j.deleteConsumer(cons)
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("journal: read %s: %w", d, err)
	}
	if info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(readPullBatch))
	if err != nil {
		return fmt.Errorf("journal: read %s: %w", d, err)
	}
	defer it.Stop()

	var dd *readDedup
	if dedup {
		dd = newReadDedup(j.stream)
	}
	var rec Record
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("journal: read %s: %w", d, ctx.Err())
			}
			return fmt.Errorf("journal: read %s: %w", d, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("journal: read %s: %w", d, err)
		}
		seq := meta.Sequence.Stream
		if r.UpTo != 0 && seq > r.UpTo {
			return nil
		}
		payload := msg.Data()
		err = forEachRecord(seq, payload, func(i int, b []byte) error {
			if dd != nil {
				id, err := recordTxnID(b)
				if err != nil {
					return withSeq(err, seq)
				}
				dup, err := dd.seen(ctx, id, seq, payload, i)
				if err != nil || dup {
					return err
				}
			}
			if err := rec.UnmarshalBinary(b); err != nil {
				return withSeq(err, seq)
			}
			return fn(rec)
		})
		if err != nil {
			return err
		}
		if meta.NumPending == 0 || seq == r.UpTo {
			return nil
		}
	}
}

func withSeq(err error, seq uint64) error {
	var ce *CorruptError
	if errors.As(err, &ce) && ce.Seq == 0 {
		ce.Seq = seq
	}
	return err
}

// recordTxnID returns the TxnID of an encoded record without decoding the rest;
// the result aliases b.
func recordTxnID(b []byte) ([]byte, error) {
	if len(b) < 3 || b[0] != recordVersion && b[0] != batchVersion && b[0] != extVersion {
		return nil, &CorruptError{Reason: "bad record header"}
	}
	off := 3
	for i := 0; i < 5; i++ { // 3 varints, 2 uvarints; same wire shape for skipping
		_, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return nil, &CorruptError{Offset: off, Reason: "bad varint"}
		}
		off += n
	}
	l, n := binary.Uvarint(b[off:])
	if n <= 0 || l > uint64(len(b)-off-n) {
		return nil, &CorruptError{Offset: off, Reason: "bad TxnID length"}
	}
	off += n
	return b[off : off+int(l)], nil
}

// readDedup finds repeated TxnIDs in one Read with bounded memory per record: a
// 64-bit keyed hash of each id mapped to the stream sequence of the segment
// that first held it. A hash hit is confirmed against that segment (fetched
// again if it is not the current one), so a hash collision never drops a
// record; ids that collided are kept in full in a small side set.
type readDedup struct {
	stream  jetstream.Stream
	seed    maphash.Seed
	first   map[uint64]uint64
	collide map[string]struct{}
}

func newReadDedup(s jetstream.Stream) *readDedup {
	return &readDedup{stream: s, seed: maphash.MakeSeed(), first: make(map[uint64]uint64, 1024)}
}

// seen reports whether id was already delivered. cur is the current segment
// (sequence seq) and idx the index of id's record in it.
func (dd *readDedup) seen(ctx context.Context, id []byte, seq uint64, cur []byte, idx int) (bool, error) {
	h := maphash.Bytes(dd.seed, id)
	firstSeq, ok := dd.first[h]
	if !ok {
		dd.first[h] = seq
		return false, nil
	}
	if _, ok := dd.collide[string(id)]; ok {
		return true, nil
	}
	// Confirm: does the segment that set this hash hold exactly this id?
	payload, limit := cur, idx
	if firstSeq != seq {
		raw, err := dd.stream.GetMsg(ctx, firstSeq)
		if err != nil {
			return false, fmt.Errorf("journal: read: fetch segment %d: %w", firstSeq, err)
		}
		payload, limit = raw.Data, -1
	}
	found := false
	err := forEachRecord(firstSeq, payload, func(i int, b []byte) error {
		if limit >= 0 && i >= limit {
			return nil
		}
		other, err := recordTxnID(b)
		if err != nil {
			return err
		}
		if string(other) == string(id) {
			found = true
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if found {
		return true, nil
	}
	// A genuine 64-bit collision between different ids: remember this one in full.
	if dd.collide == nil {
		dd.collide = make(map[string]struct{})
	}
	dd.collide[string(id)] = struct{}{}
	return false, nil
}
