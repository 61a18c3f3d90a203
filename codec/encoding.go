package codec

import "encoding/binary"

// Low-level encoders. They write into slices the caller has sized; none allocates.

const hexUpper = "0123456789ABCDEF"

// nibbleOf maps a logical digit character to its BCD nibble: '0'–'9', and for track fields
// 'A'–'F' ('D' is the separator; '=' encodes as 'D'); other characters map to 0xFF.
var nibbleOf = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c-'A') + 10
	}
	t['='] = 0xD
	return t
}()

// digitOf maps a nibble to its logical character.
const digitOf = "0123456789ABCDEF"

// hexVal maps an ASCII hex digit (either case) to its value; others to 0xFF.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c-'A') + 10
		t[c+'a'-'A'] = byte(c-'A') + 10
	}
	return t
}()

// bcdBytes is the number of bytes n digits take in packed BCD.
func bcdBytes(n int) int { return (n + 1) >> 1 }

// decodeBCD unpacks len(dst) digits from src (bcdBytes(len(dst)) bytes). For an odd count the pad
// nibble is first (right-aligned) or last (left-aligned) and must be 0 or F. track admits every
// nibble (A–F as letters): track data is a D-separated digit string when clear, any nibbles
// when encrypted under the TDK (53.3 = 1), which the codec cannot know. It reports false when
// a nibble is not allowed.
func decodeBCD(dst, src []byte, left, track bool) bool {
	n := len(dst)
	si, di := 0, 0
	if n&1 == 1 && !left {
		pad := src[0] >> 4
		if pad != 0 && pad != 0xF {
			return false
		}
		lo := src[0] & 0xF
		if !digitOK(lo, track) {
			return false
		}
		dst[0] = digitOf[lo]
		si, di = 1, 1
	}
	pairs := (n - di) >> 1
	for i := 0; i < pairs; i++ {
		b := src[si+i]
		hi, lo := b>>4, b&0xF
		if hi > 9 || lo > 9 {
			if !track {
				return false
			}
		}
		dst[di] = digitOf[hi]
		dst[di+1] = digitOf[lo]
		di += 2
	}
	if di < n { // odd and left-aligned: one digit and the pad nibble remain
		b := src[si+pairs]
		hi, pad := b>>4, b&0xF
		if !digitOK(hi, track) || (pad != 0 && pad != 0xF) {
			return false
		}
		dst[di] = digitOf[hi]
	}
	return true
}

func digitOK(nib byte, track bool) bool { return nib <= 9 || track }

// encodeBCD packs the digits of src into dst (bcdBytes(len(src)) bytes), padding with a zero
// nibble first (right-aligned) or last (left-aligned). src has been validated.
func encodeBCD(dst, src []byte, left bool) {
	n := len(src)
	si, di := 0, 0
	if n&1 == 1 && !left {
		dst[0] = nibbleOf[src[0]]
		si, di = 1, 1
	}
	for ; si+1 < n; si += 2 {
		dst[di] = nibbleOf[src[si]]<<4 | nibbleOf[src[si+1]]
		di++
	}
	if si < n {
		dst[di] = nibbleOf[src[si]] << 4
	}
}

// hexPairOf[b] is b in upper-case hex, first character in the low byte: one load and one 16-bit
// store per encoded byte.
var hexPairOf = func() (t [256]uint16) {
	for i := range t {
		t[i] = uint16(hexUpper[i>>4]) | uint16(hexUpper[i&0xF])<<8
	}
	return t
}()

// encodeHex writes src as upper-case hex into dst (2*len(src) bytes).
func encodeHex(dst, src []byte) {
	dst = dst[:2*len(src)]
	for i, b := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], hexPairOf[b])
	}
}

// decodeHexInPlace decodes the checked hex characters of b into its first len(b)/2 bytes: byte
// i is written after characters 2i and 2i+1 are read, and never over one still to be read.
func decodeHexInPlace(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		b[i>>1] = byte(hexPair[uint16(b[i])|uint16(b[i+1])<<8])
	}
}

// hexPair maps two ASCII characters, read as a little-endian uint16 (first character low), to
// the byte they spell in hex (either case), or 0x100 when either is not a hex digit: one load
// per decoded byte. 128 KiB, of which the hex digits touch a few cache lines.
var hexPair = func() *[1 << 16]uint16 {
	var t [1 << 16]uint16
	for i := range t {
		hi, lo := hexVal[byte(i)], hexVal[byte(i>>8)]
		if hi > 15 || lo > 15 {
			t[i] = 0x100
		} else {
			t[i] = uint16(hi<<4 | lo)
		}
	}
	return &t
}()

// readASCIILen reads a w-digit ASCII decimal length.
func readASCIILen(src []byte, w int) (int, bool) {
	n := 0
	for i := 0; i < w; i++ {
		c := src[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// readBCDLen reads a BCD length of w bytes (1: LL, 2: LLL).
func readBCDLen(src []byte, w int) (int, bool) {
	n := 0
	for i := 0; i < w; i++ {
		b := src[i]
		hi, lo := b>>4, b&0xF
		if hi > 9 || lo > 9 {
			return 0, false
		}
		n = n*100 + int(hi)*10 + int(lo)
	}
	return n, true
}

// appendLen appends a length prefix of lt in encoding enc.
func appendLen(dst []byte, enc Encoding, lt LengthType, n int) []byte {
	if enc == ASCII {
		if lt == LLL {
			dst = append(dst, byte('0'+n/100))
		}
		return append(dst, byte('0'+n/10%10), byte('0'+n%10))
	}
	if lt == LLL {
		dst = append(dst, byte(n/100)) // hundreds as a BCD byte 0x0H
	}
	t := n % 100
	return append(dst, byte(t/10)<<4|byte(t%10))
}

// grow extends b by n bytes, returning the extended slice and the start of the new bytes.
func grow(b []byte, n int) ([]byte, int) {
	l := len(b)
	if cap(b)-l < n {
		nb := make([]byte, l, 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:l+n], l
}

// AppendPackedBCD appends digits (logical digits or track characters, validated by the caller)
// packed two per byte, left-aligned with a zero pad nibble: the wire form of a variable
// numeric or track field without its length prefix.
func AppendPackedBCD(dst, digits []byte) []byte {
	var off int
	dst, off = grow(dst, bcdBytes(len(digits)))
	encodeBCD(dst[off:], digits, true)
	return dst
}

// AppendUnpackedBCD appends the first n nibbles of src (left-aligned) as characters 0–9, A–F.
// It reports false when src is shorter than n nibbles.
func AppendUnpackedBCD(dst, src []byte, n int) ([]byte, bool) {
	if bcdBytes(n) > len(src) || n < 0 {
		return dst, false
	}
	var off int
	dst, off = grow(dst, n)
	decodeBCD(dst[off:], src, true, true)
	return dst, true
}
