package codec

// TLVs of fields 59 and 62: a 2-character tag, a decimal length of 3 ASCII digits (2 in some
// deployed terminals), then the value. The length counts bytes of the value.

// TLVIter walks a TLV sequence without allocating:
//
//	it := NewTLVIter(v, 3)
//	for it.Next() { use(it.Tag(), it.Value()) }
//	if it.Err() != nil { … }
type TLVIter struct {
	b          []byte
	width      int
	tag, value []byte
	err        error
}

// NewTLVIter returns an iterator over v whose lengths have width digits (2 or 3). Width 0 picks
// the width with DetectTLVWidth.
func NewTLVIter(v []byte, width int) TLVIter {
	if width == 0 {
		width = DetectTLVWidth(v)
		if width == 0 {
			return TLVIter{err: ErrTLV}
		}
	}
	return TLVIter{b: v, width: width}
}

// Next advances to the next element, reporting false at the end or on a malformed element.
func (it *TLVIter) Next() bool {
	if it.err != nil || len(it.b) == 0 {
		return false
	}
	h := 2 + it.width
	if len(it.b) < h {
		it.err = ErrTLV
		return false
	}
	l, ok := readASCIILen(it.b[2:], it.width)
	if !ok || len(it.b)-h < l {
		it.err = ErrTLV
		return false
	}
	it.tag, it.value = it.b[:2], it.b[h:h+l]
	it.b = it.b[h+l:]
	return true
}

// Tag returns the current element's tag (a view into the input).
func (it *TLVIter) Tag() []byte { return it.tag }

// Value returns the current element's value (a view into the input).
func (it *TLVIter) Value() []byte { return it.value }

// Err returns the error that stopped the iteration, if any.
func (it *TLVIter) Err() error { return it.err }

// DetectTLVWidth returns the length width (3, else 2) with which v parses as a whole TLV
// sequence, or 0 when neither does. The profile's 3 digits win when both parse.
func DetectTLVWidth(v []byte) int {
	for _, w := range [2]int{3, 2} {
		it := TLVIter{b: v, width: w}
		for it.Next() {
		}
		if it.err == nil {
			return w
		}
	}
	return 0
}

// AppendTLV appends one element with a 3-digit length. Values longer than 999 bytes are cut to
// 999; callers keep within their field's limit.
func AppendTLV(dst []byte, tag string, value []byte) []byte {
	if len(value) > 999 {
		value = value[:999]
	}
	var t [2]byte
	copy(t[:], tag)
	dst = append(dst, t[:]...)
	dst = appendPadded(dst, uint64(len(value)), 3)
	return append(dst, value...)
}

// Field 59 tags.
const (
	tagA2           = "A2"
	TagDeviceType   = "01"
	TagSN           = "02"
	TagRandomFactor = "03"
	TagSNCipher     = "04"
	TagAppVersion   = "05"
)

// TerminalInfo is the "A2" block of field 59: the terminal's identity. Its values are views into
// the field they were parsed from.
type TerminalInfo struct {
	DeviceType   []byte // 01: an2 (02 POS, 03 mPOS, 04 smart POS …)
	SN           []byte // 02: hardware serial number, up to 50 characters
	RandomFactor []byte // 03: last six digits of the card number of this transaction
	SNCipher     []byte // 04: 8 hex characters from the terminal's secure module
	AppVersion   []byte // 05: application version an8, space padded
}

// ParseTerminalInfo finds the A2 block in field 59 and reads its sub-fields. Both the block list
// and the A2 sub-fields may use 2- or 3-digit lengths; unknown tags are skipped. A field without
// an A2 block is ErrNotPresent (wrapped in a FieldError).
func ParseTerminalInfo(v []byte) (TerminalInfo, error) {
	var ti TerminalInfo
	outer := NewTLVIter(v, 0)
	var a2 []byte
	found := false
	for outer.Next() {
		if string(outer.Tag()) == tagA2 {
			a2, found = outer.Value(), true
			break
		}
	}
	if outer.Err() != nil {
		return ti, fieldErr(59, ErrTLV)
	}
	if !found {
		return ti, fieldErr(59, ErrNotPresent)
	}
	inner := NewTLVIter(a2, 0)
	for inner.Next() {
		switch string(inner.Tag()) {
		case TagDeviceType:
			ti.DeviceType = inner.Value()
		case TagSN:
			ti.SN = inner.Value()
		case TagRandomFactor:
			ti.RandomFactor = inner.Value()
		case TagSNCipher:
			ti.SNCipher = inner.Value()
		case TagAppVersion:
			ti.AppVersion = inner.Value()
		}
	}
	if inner.Err() != nil {
		return ti, fieldErr(59, ErrTLV)
	}
	return ti, nil
}

// AppendTerminalInfo appends field 59 holding an A2 block with ti's non-empty sub-fields, with
// 3-digit lengths (what posgate sends).
func AppendTerminalInfo(dst []byte, ti TerminalInfo) []byte {
	inner := 0
	for _, v := range [...][]byte{ti.DeviceType, ti.SN, ti.RandomFactor, ti.SNCipher, ti.AppVersion} {
		if len(v) > 0 {
			inner += 5 + len(v)
		}
	}
	dst = append(dst, tagA2...)
	dst = appendPadded(dst, uint64(inner), 3)
	tags := [...]string{TagDeviceType, TagSN, TagRandomFactor, TagSNCipher, TagAppVersion}
	for k, v := range [...][]byte{ti.DeviceType, ti.SN, ti.RandomFactor, ti.SNCipher, ti.AppVersion} {
		if len(v) > 0 {
			dst = AppendTLV(dst, tags[k], v)
		}
	}
	return dst
}

// Tags of field 62 in posgate's activation exchange (terminal protocol §5.2). The values are
// binary; lengths are 3 ASCII digits.
const (
	Tag62PublicKey = "PK" // request: the terminal's RSA-2048 public key, DER (PKIX)
	Tag62Proof     = "PF" // request: HMAC-SHA256 proof, 32 bytes
	Tag62TMK       = "TK" // response: the TMK under RSA-OAEP(SHA-256), 256 bytes
	Tag62KCV       = "KC" // response: the TMK's check value, 4 bytes
)
