package codec

import "encoding/binary"

// Pack appends the wire form of m (MTI, bitmap, fields in ascending order) to dst and returns the
// extended slice. The secondary bitmap is sent when a field above 64 is present. With a dst of
// sufficient capacity Pack allocates nothing. It fails only when the MTI is unset; field values
// were validated when they were set or unpacked.
func (m *Message) Pack(dst []byte) ([]byte, error) {
	if !m.hasMTI {
		return dst, fieldErr(0, ErrMTI)
	}
	if m.present[0]|m.present[1] == 0 {
		return dst, fieldErr(1, ErrBitmap)
	}
	bm := m.present
	bm[0] &^= 1 << 63
	if bm[1] != 0 {
		bm[0] |= 1 << 63
	}
	ascii := m.p.enc == ASCII
	var off int
	if ascii {
		dst = append(dst, m.mti[:]...)
		words := 1
		if bm[1] != 0 {
			words = 2
		}
		var tmp [8]byte
		for w := 0; w < words; w++ {
			binary.BigEndian.PutUint64(tmp[:], bm[w])
			dst, off = grow(dst, 16)
			encodeHex(dst[off:], tmp[:])
		}
	} else {
		dst, off = grow(dst, 2)
		encodeBCD(dst[off:], m.mti[:], false)
		dst = binary.BigEndian.AppendUint64(dst, bm[0])
		if bm[1] != 0 {
			dst = binary.BigEndian.AppendUint64(dst, bm[1])
		}
	}
	for n := m.Next(0); n != 0; n = m.Next(n) {
		dst = m.packField(dst, n)
	}
	return dst, nil
}

func (m *Message) packField(dst []byte, n int) []byte {
	f := &m.p.fields[n]
	s := m.spans[n]
	if w, b := bit(n); m.hexWire[w]&b != 0 { // still as it came from the wire
		if f.prefix != 0 {
			dst = appendLen(dst, m.p.enc, f.length, int(2*s.n))
		}
		return append(dst, m.buf[s.off:s.off+2*s.n]...)
	}
	v := m.buf[s.off : s.off+s.n]
	l := len(v)
	if f.prefix != 0 {
		pl := l
		if f.kind == wireHex {
			pl = 2 * l
		}
		dst = appendLen(dst, m.p.enc, f.length, pl)
	}
	var off int
	switch f.kind {
	case wireBCD:
		dst, off = grow(dst, bcdBytes(l))
		encodeBCD(dst[off:], v, f.left)
	case wireHex:
		dst, off = grow(dst, 2*l)
		encodeHex(dst[off:], v)
	default:
		dst = append(dst, v...)
	}
	return dst
}
