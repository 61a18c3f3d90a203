package codec

import (
	"encoding/binary"
	"math/bits"
)

// Unpack parses src — one message of m's profile, starting at the MTI — into m, replacing what m
// held. It checks every length from the wire before using it and copies what it keeps, so src may
// be reused when Unpack returns. Bytes after the last field are an error (ErrTrailing).
// On error m holds the MTI and the fields before the one at fault (a response can still echo
// them); it must not be packed.
func (m *Message) Unpack(src []byte) error {
	m.Reset()
	m.macOff = -1
	p := m.p
	if len(src) == 0 {
		return fieldErr(0, ErrEmpty)
	}
	var i int
	var bm [2]uint64
	if p.enc == BCD {
		if len(src) < 2 {
			return fieldErr(0, ErrTruncated)
		}
		if !decodeBCD(m.mti[:], src[:2], false, false) {
			return fieldErr(0, ErrMTI)
		}
		if len(src) < 10 {
			return fieldErr(1, ErrTruncated)
		}
		bm[0] = binary.BigEndian.Uint64(src[2:10])
		i = 10
		if bm[0]>>63 != 0 {
			if len(src) < 18 {
				return fieldErr(1, ErrTruncated)
			}
			bm[1] = binary.BigEndian.Uint64(src[10:18])
			i = 18
		}
	} else {
		if len(src) < 4 {
			return fieldErr(0, ErrTruncated)
		}
		for k := 0; k < 4; k++ {
			c := src[k]
			if c < '0' || c > '9' {
				return fieldErr(0, ErrMTI)
			}
			m.mti[k] = c
		}
		var ok bool
		if len(src) < 20 {
			return fieldErr(1, ErrTruncated)
		}
		if bm[0], ok = hexWord(src[4:20]); !ok {
			return fieldErr(1, ErrBitmap)
		}
		i = 20
		if bm[0]>>63 != 0 {
			if len(src) < 36 {
				return fieldErr(1, ErrTruncated)
			}
			if bm[1], ok = hexWord(src[20:36]); !ok {
				return fieldErr(1, ErrBitmap)
			}
			i = 36
		}
	}
	m.hasMTI = true
	bm[0] &^= 1 << 63 // field 1 is the secondary bitmap, not a value
	if bm[0]|bm[1] == 0 {
		return fieldErr(1, ErrBitmap)
	}
	// A field's stored form is at most twice its wire size (BCD digits; hex fields keep their
	// wire form until read): grow once, so no field needs a capacity check.
	if need := 2 * len(src); cap(m.buf) < need {
		m.buf = make([]byte, 0, need)
	}

	for w := 0; w < 2; w++ {
		word := bm[w]
		for word != 0 {
			lz := bits.LeadingZeros64(word)
			word &^= 1 << uint(63-lz)
			n := w<<6 + lz + 1
			var err error
			if n == 64 || n == 128 {
				m.macOff = i
			}
			if i, err = m.unpackField(n, src, i); err != nil {
				m.present = presentBefore(bm, n) // the fields read so far stay readable
				return err
			}
		}
	}
	if i != len(src) {
		return fieldErr(1, ErrTrailing)
	}
	m.present = bm
	return nil
}

// presentBefore returns bitmap bm without field n and the fields after it.
func presentBefore(bm [2]uint64, n int) [2]uint64 {
	w, b := bit(n)
	keep := ^(b<<1 - 1) // bits of the fields before n in word w
	bm[w] &= keep
	if w == 0 {
		bm[1] = 0
	}
	return bm
}

// MACOffset returns, after a successful Unpack, the offset in the source of the MAC field (64, or
// 128 with a secondary bitmap): the source up to it is the MAC input. It is -1 when the message
// carries no MAC.
func (m *Message) MACOffset() int { return m.macOff }

func (m *Message) unpackField(n int, src []byte, i int) (int, error) {
	f := &m.p.fields[n]
	if !f.defined {
		return i, fieldErr(n, ErrUnknownField)
	}
	l := int(f.max) // logical length
	if w := int(f.prefix); w != 0 {
		if len(src)-i < w {
			return i, fieldErr(n, ErrTruncated)
		}
		var ok bool
		if m.p.enc == ASCII {
			l, ok = readASCIILen(src[i:], w)
		} else {
			l, ok = readBCDLen(src[i:], w)
		}
		if !ok {
			return i, fieldErr(n, ErrBadLength)
		}
		i += w
		if f.kind == wireHex { // the prefix counts hex characters
			if l&1 == 1 {
				return i, fieldErr(n, ErrBadLength)
			}
			l >>= 1
		}
		if l > int(f.max) {
			return i, fieldErr(n, ErrTooLong)
		}
	}
	size := l // wire size
	switch f.kind {
	case wireBCD:
		size = bcdBytes(l)
	case wireHex:
		size = 2 * l
	}
	if len(src)-i < size {
		return i, fieldErr(n, ErrTruncated)
	}
	wire := src[i : i+size]
	off := len(m.buf)
	ok := true
	switch f.kind {
	case wireRaw:
		m.buf = append(m.buf, wire...) // capacity reserved by Unpack
	case wireCheck:
		m.buf = append(m.buf, wire...)
		ok = validChars(f.format, wire)
	case wireBCD:
		m.buf = m.buf[:off+l]
		ok = decodeBCD(m.buf[off:off+l], wire, f.left, f.format == FormatZ)
	case wireHex: // checked now, decoded by Field when someone reads it (see Message.hexWire)
		m.buf = append(m.buf, wire...)
		ok = allHex(wire)
		w, b := bit(n)
		m.hexWire[w] |= b
	}
	if !ok {
		return i, fieldErr(n, ErrInvalidChar)
	}
	m.spans[n] = span{off: uint32(off), n: uint32(l)} // present bits are set by Unpack at the end
	return i + size, nil
}

// hexWord parses 16 hex characters as a big-endian 64-bit bitmap word.
func hexWord(src []byte) (uint64, bool) {
	var x uint64
	for k := 0; k < 16; k++ {
		v := hexVal[src[k]]
		if v > 15 {
			return 0, false
		}
		x = x<<4 | uint64(v)
	}
	return x, true
}
