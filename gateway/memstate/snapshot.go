package memstate

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/journal"
)

// A snapshot is the State's entries in a stream a later process loads back (a checkpoint,
// docs/gateway.md "Checkpoints"): the magic line, the 8-byte key of the batch-entry hashes, then
// entries — a tag byte, the body's length as a uvarint, the body — ended by a zero tag.
// Reservations in progress are not written: they belong to the process that made them. The
// stream carries no checksum of its own; the checkpoint file around it does.
const snapshotMagic = "posgate memstate snapshot 1\n"

// Entry tags of a snapshot.
const (
	tagEnd byte = iota
	tagAnswer
	tagTxn
	tagTotals
	tagDaily
)

// ErrSnapshot is wrapped by the errors of ReadSnapshot for a stream that is not a snapshot or is
// damaged, and of ReadSnapshot into a State that is not empty.
var ErrSnapshot = errors.New("memstate: bad snapshot")

// WriteSnapshot writes every live entry (stored answers, transactions, batch totals, daily
// counters) to w. It locks one shard at a time, so it is a consistent copy of the State only
// when nothing else writes to it meanwhile — a checkpoint's shadow State, not a serving one.
func (s *State) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteString(snapshotMagic)
	bw.Write(binary.LittleEndian.AppendUint64(nil, s.idKey))
	now := s.cfg.Now()
	var body []byte
	emit := func(tag byte) {
		bw.WriteByte(tag)
		var n [binary.MaxVarintLen64]byte
		bw.Write(n[:binary.PutUvarint(n[:], uint64(len(body)))])
		bw.Write(body)
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return &OpError{Op: "write snapshot", Err: ErrClosed}
		}
		for k, e := range sh.rt {
			if e.done && now.Before(e.expires) {
				body = appendAnswer(body[:0], k, e)
				emit(tagAnswer)
			}
		}
		for _, e := range sh.txns {
			if now.Before(e.expires) {
				body = appendTxn(body[:0], e)
				emit(tagTxn)
			}
		}
		for k, e := range sh.totals {
			if now.Before(e.expires) {
				body = appendTotals(body[:0], k, e)
				emit(tagTotals)
			}
		}
		for k, e := range sh.daily {
			if now.Before(e.expires) {
				body = appendDaily(body[:0], k, e)
				emit(tagDaily)
			}
		}
		sh.mu.Unlock()
	}
	bw.WriteByte(tagEnd)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("memstate: write snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot loads a snapshot WriteSnapshot wrote into s, which must be empty; entries that
// have expired since are skipped. The bounds (MaxResponses, MaxTxns) are not applied while
// loading: the snapshot was taken within them. On an error s may hold part of the snapshot.
func (s *State) ReadSnapshot(r io.Reader) error {
	if rt, txns, totals, daily := s.count(); rt+txns+totals+daily > 0 {
		return fmt.Errorf("%w: the State is not empty", ErrSnapshot)
	}
	br := bufio.NewReaderSize(r, 1<<16)
	head := make([]byte, len(snapshotMagic)+8)
	if _, err := io.ReadFull(br, head); err != nil || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: no snapshot header", ErrSnapshot)
	}
	s.idKey = binary.LittleEndian.Uint64(head[len(snapshotMagic):])
	now := s.cfg.Now()
	var buf []byte
	for n := 0; ; n++ {
		tag, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: entry %d: %v", ErrSnapshot, n, err)
		}
		if tag == tagEnd {
			return nil
		}
		size, err := binary.ReadUvarint(br)
		if err != nil || size > 1<<24 {
			return fmt.Errorf("%w: entry %d: bad length", ErrSnapshot, n)
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("%w: entry %d: %v", ErrSnapshot, n, err)
		}
		if err := s.load(tag, buf, now); err != nil {
			return fmt.Errorf("%w: entry %d: %v", ErrSnapshot, n, err)
		}
	}
}

// load stores one snapshot entry unless it has expired.
func (s *State) load(tag byte, body []byte, now time.Time) error {
	d := decoder{s: string(body)} // one allocation: every string field is a slice of it
	var tid string
	var expires time.Time
	var insert func(sh *shard)
	switch tag {
	case tagAnswer:
		var k gateway.RetransmitKey
		k.TID, k.Batch, k.STAN, k.MTI = d.str(), d.u32(), d.u32(), d.str()
		e := &rtEntry{done: true}
		copy(e.hash[:], d.raw(len(e.hash)))
		e.resp = []byte(d.str())
		e.created, e.expires = d.time(), d.time()
		tid, expires, insert = k.TID, e.expires, func(sh *shard) { sh.rt[k] = e }
	case tagTxn:
		e := &txnEntry{rec: d.txn()}
		e.created, e.expires = d.time(), d.time()
		tid, expires, insert = e.rec.TID, e.expires, func(sh *shard) { sh.txns[e.rec.Key()] = e }
	case tagTotals:
		k := totalsKey{tid: d.str(), batch: d.u32()}
		e := &totalsEntry{}
		e.t = gateway.Totals{DebitAmount: d.int(), DebitCount: d.int(), CreditAmount: d.int(), CreditCount: d.int()}
		e.expires = d.time()
		n := d.uint()
		if n > uint64(len(d.s)/8) {
			return errors.New("bad entry count")
		}
		e.ids = make(map[uint64]struct{}, n)
		for range n {
			e.ids[le64(d.raw(8))] = struct{}{}
		}
		tid, expires, insert = k.tid, e.expires, func(sh *shard) { sh.totals[k] = e }
	case tagDaily:
		k := dailyKey{tid: d.str(), date: d.date()}
		e := &dailyEntry{n: d.int(), expires: d.time()}
		tid, expires, insert = k.tid, e.expires, func(sh *shard) { sh.daily[k] = e }
	default:
		return fmt.Errorf("unknown tag %d", tag)
	}
	if err := d.end(); err != nil || !now.Before(expires) {
		return err
	}
	sh := s.shard(tid)
	sh.mu.Lock()
	insert(sh)
	sh.mu.Unlock()
	return nil
}

func appendAnswer(b []byte, k gateway.RetransmitKey, e *rtEntry) []byte {
	b = appendStr(b, k.TID)
	b = binary.AppendUvarint(b, uint64(k.Batch))
	b = binary.AppendUvarint(b, uint64(k.STAN))
	b = appendStr(b, k.MTI)
	b = append(b, e.hash[:]...)
	b = binary.AppendUvarint(b, uint64(len(e.resp)))
	b = append(b, e.resp...)
	return appendTime(appendTime(b, e.created), e.expires)
}

func appendTxn(b []byte, e *txnEntry) []byte {
	r := &e.rec
	for _, s := range []string{r.ID, r.TID, r.MID, r.LocalDate, r.Currency, r.MaskedPAN, r.PANToken,
		r.RRN, r.AuthCode, r.Response, r.Route, r.UpstreamMTI, r.UpstreamTransmission, r.Original.TID} {
		b = appendStr(b, s)
	}
	b = append(b, byte(r.Type), byte(r.Kind), byte(r.Status))
	for _, u := range []uint32{r.Batch, r.STAN, r.UpstreamSTAN, r.Original.Batch, r.Original.STAN} {
		b = binary.AppendUvarint(b, uint64(u))
	}
	for _, v := range []int64{r.Amount, r.Refunded, r.Completed, r.Version} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(r.BusinessDate.Compact()))
	b = appendTime(b, r.CreatedAt)
	return appendTime(appendTime(b, e.created), e.expires)
}

func appendTotals(b []byte, k totalsKey, e *totalsEntry) []byte {
	b = appendStr(b, k.tid)
	b = binary.AppendUvarint(b, uint64(k.batch))
	for _, v := range []int64{e.t.DebitAmount, e.t.DebitCount, e.t.CreditAmount, e.t.CreditCount} {
		b = binary.AppendVarint(b, v)
	}
	b = appendTime(b, e.expires)
	b = binary.AppendUvarint(b, uint64(len(e.ids)))
	for id := range e.ids {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	return b
}

func appendDaily(b []byte, k dailyKey, e *dailyEntry) []byte {
	b = appendStr(b, k.tid)
	b = binary.AppendUvarint(b, uint64(k.date.Compact()))
	b = binary.AppendVarint(b, e.n)
	return appendTime(b, e.expires)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime writes t as Unix nanoseconds, the zero time as 0.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// decoder reads a snapshot entry's fields; the first error sticks and every later read returns
// zero values.
type decoder struct {
	s   string
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New("bad " + what)
	}
	d.s = ""
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := uvarint(d.s)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.s = d.s[n:]
	return v
}

func (d *decoder) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
}

func (d *decoder) u32() uint32 {
	v := d.uint()
	if v > 1<<32-1 {
		d.fail("uint32")
	}
	return uint32(v)
}

func (d *decoder) raw(n int) string {
	if d.err != nil || n > len(d.s) {
		d.fail("length")
		return string(make([]byte, n))
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uint()
	if n > uint64(len(d.s)) {
		d.fail("string length")
		return ""
	}
	return d.raw(int(n))
}

func (d *decoder) time() time.Time {
	n := d.int()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) date() journal.Date {
	c := d.uint()
	if c == 0 {
		return journal.Date{}
	}
	return journal.NewDate(int(c/10000), time.Month(c/100%100), int(c%100))
}

func (d *decoder) txn() gateway.TxnRecord {
	var r gateway.TxnRecord
	for _, p := range []*string{&r.ID, &r.TID, &r.MID, &r.LocalDate, &r.Currency, &r.MaskedPAN, &r.PANToken,
		&r.RRN, &r.AuthCode, &r.Response, &r.Route, &r.UpstreamMTI, &r.UpstreamTransmission, &r.Original.TID} {
		*p = d.str()
	}
	flags := d.raw(3)
	r.Type, r.Kind, r.Status = journal.TxnType(flags[0]), journal.CardKind(flags[1]), gateway.TxnStatus(flags[2])
	for _, p := range []*uint32{&r.Batch, &r.STAN, &r.UpstreamSTAN, &r.Original.Batch, &r.Original.STAN} {
		*p = d.u32()
	}
	for _, p := range []*int64{&r.Amount, &r.Refunded, &r.Completed, &r.Version} {
		*p = d.int()
	}
	r.BusinessDate = d.date()
	r.CreatedAt = d.time()
	return r
}

// end reports trailing bytes after the entry's fields.
func (d *decoder) end() error {
	if d.err == nil && d.s != "" {
		d.err = errors.New("trailing bytes")
	}
	return d.err
}

// uvarint is binary.Uvarint over a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -(i + 1)
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// le64 is binary.LittleEndian.Uint64 over an 8-byte string.
func le64(s string) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v
}

// Digest returns a hash of the State's live entries without their lifetimes, and their number:
// two States holding the same stored answers, transactions, batch totals (with as many entries
// added each) and daily counters have the same Digest whenever and in whatever order they were
// filled. Tests compare a State rebuilt from a checkpoint with one replayed from the first
// record by it.
func (s *State) Digest() (sum [32]byte, n int) {
	now := s.cfg.Now()
	var body []byte
	add := func(tag byte) {
		h := sha256.Sum256(append(body, tag))
		for i := range sum {
			sum[i] ^= h[i] // order-independent; the keys of a map are distinct
		}
		n++
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.rt {
			if e.done && now.Before(e.expires) {
				body = appendAnswer(body[:0], k, &rtEntry{hash: e.hash, done: true, resp: e.resp})
				add(tagAnswer)
			}
		}
		for _, e := range sh.txns {
			if now.Before(e.expires) {
				body = appendTxn(body[:0], &txnEntry{rec: e.rec})
				add(tagTxn)
			}
		}
		for k, e := range sh.totals {
			if now.Before(e.expires) {
				body = appendTotals(body[:0], k, &totalsEntry{t: e.t})
				body = binary.AppendUvarint(body, uint64(len(e.ids)))
				add(tagTotals)
			}
		}
		for k, e := range sh.daily {
			if now.Before(e.expires) {
				body = appendDaily(body[:0], k, &dailyEntry{n: e.n})
				add(tagDaily)
			}
		}
		sh.mu.Unlock()
	}
	return sum, n
}
