package codec

import "encoding/binary"

// SWAR ("SIMD within a register") helpers: eight ASCII characters checked or decoded per step.
// Each has a plain byte-at-a-time fallback for the tail and is cross-checked against it by
// tests and the fuzzer.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// inRange returns, per byte of x, 0x80 when lo <= byte <= hi (for bytes below 0x80) and 0
// otherwise.
func inRange(x uint64, lo, hi byte) uint64 {
	ge := x + ones*uint64(128-lo) // high bit set when byte >= lo
	gt := x + ones*uint64(127-hi) // high bit set when byte > hi
	return ge &^ gt &^ x & highs
}

// allDigits reports whether every byte of v is '0'–'9'.
func allDigits(v []byte) bool {
	for len(v) >= 8 {
		if inRange(binary.LittleEndian.Uint64(v), '0', '9') != highs {
			return false
		}
		v = v[8:]
	}
	for _, c := range v {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}

// decodeHexSWAR is decodeHex eight characters at a time.
func decodeHexSWAR(dst, src []byte) bool {
	src = src[:2*len(dst)]
	for len(src) >= 8 {
		x := binary.LittleEndian.Uint64(src)
		ok := inRange(x, '0', '9') | inRange(x, 'A', 'F') | inRange(x, 'a', 'f')
		if ok != highs {
			return false
		}
		// nibble = low 4 bits, plus 9 for letters (bit 6 set)
		v := x&(ones*0x0F) + (x>>6)&ones*9
		// bytes (little-endian) n0 n1 n2 … → out k = n(2k)<<4 | n(2k+1)
		p := (v&0x000F000F000F000F)<<4 | (v>>8)&0x000F000F000F000F
		dst[0] = byte(p)
		dst[1] = byte(p >> 16)
		dst[2] = byte(p >> 32)
		dst[3] = byte(p >> 48)
		dst, src = dst[4:], src[8:]
	}
	return decodeHex(dst, src)
}
