package codec

// AppendMaskedPAN appends pan with all but its first six and last four digits replaced by '*'.
// A PAN shorter than 13 digits shows only its last four, so at least three digits always stay
// hidden; one of four digits or fewer is masked whole.
func AppendMaskedPAN(dst, pan []byte) []byte {
	n := len(pan)
	head := 6
	if n < 13 {
		head = 0
	}
	tail := 4
	if n <= 4 {
		tail = 0
	}
	for i, c := range pan {
		if i >= head && i < n-tail {
			c = '*'
		}
		dst = append(dst, c)
	}
	return dst
}

// RedactedText is what a redacted value displays as.
const RedactedText = "<redacted>"

// AppendDisplay appends field n's value as it may be shown in logs and tools: numeric and text
// values as they are, binary values as upper-case hex, field 2 masked, sensitive fields
// (tracks, PIN block, ICC data, expiry, keys in 62) as RedactedText, and field 59 with the
// random factor (the card number's last six digits) hidden. Absent fields append nothing.
func (m *Message) AppendDisplay(dst []byte, n int) []byte {
	v := m.Field(n)
	if v == nil {
		return dst
	}
	f := &m.p.fields[n]
	switch f.sens {
	case MaskedPAN:
		return AppendMaskedPAN(dst, v)
	case Redacted:
		return append(dst, RedactedText...)
	case MaskedTLV:
		return appendMasked59(dst, v)
	}
	if f.format == FormatB {
		var off int
		dst, off = grow(dst, 2*len(v))
		encodeHex(dst[off:], v)
		return dst
	}
	return append(dst, v...)
}

// appendMasked59 copies field 59, replacing the value of A2 sub-tag 03 with '*'. If the field
// does not parse as TLV it is redacted whole: it could hold anything.
func appendMasked59(dst, v []byte) []byte {
	ti, err := ParseTerminalInfo(v)
	if err != nil {
		if len(v) > 0 && DetectTLVWidth(v) != 0 {
			return append(dst, v...) // TLV without an A2 block: nothing card-derived
		}
		return append(dst, RedactedText...)
	}
	start := len(dst)
	dst = append(dst, v...)
	if rf := ti.RandomFactor; len(rf) > 0 {
		// rf is a view into v: mask the same bytes in the copy.
		off := cap(v) - cap(rf)
		for i := range rf {
			dst[start+off+i] = '*'
		}
	}
	return dst
}

// String returns the message with every field in display form (see AppendDisplay), e.g.
// "0200 {2:621785******0804 3:000000 …}". It is safe to log.
func (m *Message) String() string {
	if m == nil {
		return "<nil>"
	}
	b := make([]byte, 0, 256)
	if m.hasMTI {
		b = append(b, m.mti[:]...)
	} else {
		b = append(b, "????"...)
	}
	b = append(b, " {"...)
	for n := m.Next(0); n != 0; n = m.Next(n) {
		if b[len(b)-1] != '{' {
			b = append(b, ' ')
		}
		b = appendPadded(b, uint64(n), digitsOf(n))
		b = append(b, ':')
		b = m.AppendDisplay(b, n)
	}
	return string(append(b, '}'))
}

func digitsOf(n int) int {
	switch {
	case n >= 100:
		return 3
	case n >= 10:
		return 2
	}
	return 1
}
