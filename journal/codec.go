package journal

import (
	"encoding/binary"
	"time"
)

// Binary layout of a Record (version 1), chosen over JSON because the journal
// encodes on every append and decodes 10M records per settlement run on a
// 2-core box; it is about 130 bytes for a typical purchase:
//
//	u8      version (1)
//	u8      type, u8 card kind
//	varint  amount (fen)
//	varint  request time, response time (Unix ns, UTC; 0 = zero time)
//	uvarint business date, original date (YYYYMMDD; 0 = none)
//	18 × (uvarint length, bytes): TxnID, MTI, ProcessingCode, Currency,
//	        MaskedPAN, PANToken, TID, MID, Batch, STAN, RRN, AuthCode,
//	        ResponseCode, Route, Original.TxnID, Original.RRN, Original.Batch,
//	        Original.STAN
//
// Version 2 is used for batch records (TxnType.IsBatch) only, so financial
// records keep their version-1 bytes: the version-1 layout with the version
// byte 2, followed by the BatchResult:
//
//	8 × varint  Terminal, then Posgate totals (DebitCount, DebitAmount,
//	            CreditCount, CreditAmount)
//	uvarint length, bytes: Difference
//
// A card kind of 0 is allowed in versions 2 and 3 for batch records (they have
// no card).
//
// Version 3 is what Append writes for every record since write-ahead intents
// (older versions are still read): the version-2 layout for every type (the
// BatchResult zero for financial records), followed by
//
//	u8      Node, u8 Of
//	uvarint Upstream.STAN
//	4 × (uvarint length, bytes): Upstream.MTI, Upstream.Transmission,
//	        RequestHash, Answer
//
// A segment (one JetStream message) is:
//
//	"PJ" u8 version (1), uvarint count, count × (uvarint length, record)
const (
	recordVersion  = 1
	batchVersion   = 2 // recordVersion plus BatchResult; batch records only
	extVersion     = 3 // batchVersion's layout for every type, plus the extension
	segmentVersion = 1
	numStrings     = 18
	numExtStrings  = 4
	// maxRecordLen bounds one encoded record; Validate's field limits keep real
	// records far below it.
	maxRecordLen = 4096
)

var segmentMagic = [2]byte{'P', 'J'}

// stringFields returns pointers to the string fields in encoding order.
func (r *Record) stringFields() [numStrings]*string {
	return [numStrings]*string{
		&r.TxnID, &r.MTI, &r.ProcessingCode, &r.Currency,
		&r.MaskedPAN, &r.PANToken, &r.TID, &r.MID, &r.Batch, &r.STAN, &r.RRN,
		&r.AuthCode, &r.ResponseCode, &r.Route,
		&r.Original.TxnID, &r.Original.RRN, &r.Original.Batch, &r.Original.STAN,
	}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// AppendBinary appends the binary encoding of r to dst and returns the extended
// slice. It does not validate r; Append does. It allocates only if dst lacks
// capacity.
func (r *Record) AppendBinary(dst []byte) ([]byte, error) {
	const version = extVersion
	dst = append(dst, version, byte(r.Type), byte(r.CardKind))
	dst = binary.AppendVarint(dst, r.Amount)
	dst = binary.AppendVarint(dst, unixNano(r.RequestTime))
	dst = binary.AppendVarint(dst, unixNano(r.ResponseTime))
	dst = binary.AppendUvarint(dst, uint64(r.BusinessDate.Compact()))
	dst = binary.AppendUvarint(dst, uint64(r.Original.Date.Compact()))
	for _, p := range r.stringFields() {
		dst = binary.AppendUvarint(dst, uint64(len(*p)))
		dst = append(dst, *p...)
	}
	for _, t := range [2]*Totals{&r.BatchResult.Terminal, &r.BatchResult.Posgate} {
		dst = binary.AppendVarint(dst, t.DebitCount)
		dst = binary.AppendVarint(dst, t.DebitAmount)
		dst = binary.AppendVarint(dst, t.CreditCount)
		dst = binary.AppendVarint(dst, t.CreditAmount)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.BatchResult.Difference)))
	dst = append(dst, r.BatchResult.Difference...)
	dst = append(dst, r.Node, byte(r.Of))
	dst = binary.AppendUvarint(dst, uint64(r.Upstream.STAN))
	for _, p := range r.extStrings() {
		dst = binary.AppendUvarint(dst, uint64(len(*p)))
		dst = append(dst, *p...)
	}
	return dst, nil
}

// encodedSizeBound is at least the length of r's encoding: the integers at their widest
// varints, every string with the exact length of its length prefix.
func (r *Record) encodedSizeBound() int {
	const fixed = 3 + 3*binary.MaxVarintLen64 + 2*binary.MaxVarintLen32 + 8*binary.MaxVarintLen64 +
		2 + binary.MaxVarintLen32
	n := fixed + uvarintLen(len(r.BatchResult.Difference)) + len(r.BatchResult.Difference)
	for _, p := range r.stringFields() {
		n += uvarintLen(len(*p)) + len(*p)
	}
	for _, p := range r.extStrings() {
		n += uvarintLen(len(*p)) + len(*p)
	}
	return n
}

func uvarintLen(v int) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// extStrings returns pointers to the version-3 string fields in encoding order.
func (r *Record) extStrings() [numExtStrings]*string {
	return [numExtStrings]*string{&r.Upstream.MTI, &r.Upstream.Transmission, &r.RequestHash, &r.Answer}
}

// UnmarshalBinary decodes src into r, overwriting every field. All strings of the
// record share one allocation; r does not retain src.
func (r *Record) UnmarshalBinary(src []byte) error {
	if len(src) > maxRecordLen {
		return &CorruptError{Reason: "record too long"}
	}
	if len(src) < 3 {
		return &CorruptError{Reason: "record truncated"}
	}
	version := src[0]
	if version != recordVersion && version != batchVersion && version != extVersion {
		return &CorruptError{Reason: "unknown record version"}
	}
	typ, kind := TxnType(src[1]), CardKind(src[2])
	if !typ.Valid() || version == batchVersion && !typ.IsBatch() || version == recordVersion && typ.IsBatch() ||
		!kind.Valid() && !(version != recordVersion && typ.IsBatch() && kind == 0) {
		return &CorruptError{Offset: 1, Reason: "unknown type or card kind"}
	}
	off := 3
	var ints [3]int64
	for i := range ints {
		v, n := binary.Varint(src[off:])
		if n <= 0 {
			return &CorruptError{Offset: off, Reason: "bad varint"}
		}
		ints[i], off = v, off+n
	}
	var dates [2]Date
	for i := range dates {
		v, n := binary.Uvarint(src[off:])
		if n <= 0 {
			return &CorruptError{Offset: off, Reason: "bad uvarint"}
		}
		d, ok := dateFromCompact(v)
		if !ok {
			return &CorruptError{Offset: off, Reason: "bad date"}
		}
		dates[i], off = d, off+n
	}
	// First pass: bounds-check every length and gather the string bytes so the
	// record's strings can share a single allocation.
	var lens [numStrings + numExtStrings]int
	var scratch [maxRecordLen]byte
	total := 0
	readStrings := func(lens []int) error {
		for i := range lens {
			l, n := binary.Uvarint(src[off:])
			if n <= 0 {
				return &CorruptError{Offset: off, Reason: "bad string length"}
			}
			off += n
			if l > uint64(len(src)-off) {
				return &CorruptError{Offset: off, Reason: "string exceeds record"}
			}
			lens[i] = int(l)
			total += copy(scratch[total:], src[off:off+int(l)])
			off += int(l)
		}
		return nil
	}
	if err := readStrings(lens[:numStrings]); err != nil {
		return err
	}
	var br BatchResult
	if version >= batchVersion {
		var v [8]int64
		for i := range v {
			x, n := binary.Varint(src[off:])
			if n <= 0 {
				return &CorruptError{Offset: off, Reason: "bad batch totals"}
			}
			v[i], off = x, off+n
		}
		br.Terminal = Totals{DebitCount: v[0], DebitAmount: v[1], CreditCount: v[2], CreditAmount: v[3]}
		br.Posgate = Totals{DebitCount: v[4], DebitAmount: v[5], CreditCount: v[6], CreditAmount: v[7]}
		l, n := binary.Uvarint(src[off:])
		if n <= 0 || l > uint64(len(src)-off-n) {
			return &CorruptError{Offset: off, Reason: "bad difference length"}
		}
		off += n
		if l > 0 {
			br.Difference = string(src[off : off+int(l)])
		}
		off += int(l)
	}
	var node, of byte
	var upSTAN uint64
	if version == extVersion {
		if len(src)-off < 2 {
			return &CorruptError{Offset: off, Reason: "record truncated"}
		}
		node, of = src[off], src[off+1]
		off += 2
		v, n := binary.Uvarint(src[off:])
		if n <= 0 || v > 999999 {
			return &CorruptError{Offset: off, Reason: "bad upstream STAN"}
		}
		upSTAN, off = v, off+n
		if err := readStrings(lens[numStrings:]); err != nil {
			return err
		}
	}
	if off != len(src) {
		return &CorruptError{Offset: off, Reason: "trailing bytes"}
	}
	all := string(scratch[:total])
	*r = Record{
		Type:         typ,
		CardKind:     kind,
		Amount:       ints[0],
		RequestTime:  fromUnixNano(ints[1]),
		ResponseTime: fromUnixNano(ints[2]),
		BusinessDate: dates[0],
		BatchResult:  br,
		Node:         node,
		Of:           TxnType(of),
	}
	r.Original.Date = dates[1]
	r.Upstream.STAN = uint32(upSTAN)
	pos := 0
	for i, p := range r.stringFields() {
		*p = all[pos : pos+lens[i]]
		pos += lens[i]
	}
	for i, p := range r.extStrings() {
		l := lens[numStrings+i]
		*p = all[pos : pos+l]
		pos += l
	}
	return nil
}

// forEachRecord calls fn with each encoded record of a segment payload, in order.
// The slice passed to fn aliases payload.
func forEachRecord(seq uint64, payload []byte, fn func(i int, rec []byte) error) error {
	if len(payload) < 4 || payload[0] != segmentMagic[0] || payload[1] != segmentMagic[1] {
		return &CorruptError{Seq: seq, Reason: "not a journal segment"}
	}
	if payload[2] != segmentVersion {
		return &CorruptError{Seq: seq, Offset: 2, Reason: "unknown segment version"}
	}
	count, n := binary.Uvarint(payload[3:])
	if n <= 0 {
		return &CorruptError{Seq: seq, Offset: 3, Reason: "bad record count"}
	}
	off := 3 + n
	for i := 0; uint64(i) < count; i++ {
		l, n := binary.Uvarint(payload[off:])
		if n <= 0 {
			return &CorruptError{Seq: seq, Offset: off, Reason: "bad record length"}
		}
		off += n
		if l > uint64(len(payload)-off) || l > maxRecordLen {
			return &CorruptError{Seq: seq, Offset: off, Reason: "record exceeds segment"}
		}
		if err := fn(i, payload[off:off+int(l)]); err != nil {
			return err
		}
		off += int(l)
	}
	if off != len(payload) {
		return &CorruptError{Seq: seq, Offset: off, Reason: "trailing bytes"}
	}
	return nil
}
