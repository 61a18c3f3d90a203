package codec

import "encoding/binary"

// SWAR ("SIMD within a register"): eight ASCII characters checked per step, with a
// byte-at-a-time tail; cross-checked against the plain loop by FuzzSWAR.

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

// allHex reports whether every byte of v is a hex digit of either case. OR-ing 0x20 folds
// 'A'–'F' onto 'a'–'f' and leaves the digits where they are.
func allHex(v []byte) bool {
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		if inRange(x, '0', '9')|inRange(x|ones*0x20, 'a', 'f') != highs {
			return false
		}
		v = v[8:]
	}
	for _, c := range v {
		if hexVal[c] > 15 {
			return false
		}
	}
	return true
}

// allTrack reports whether every byte of v is allowed in a track field: '0'–'9', 'A'–'F' and
// '='.
func allTrack(v []byte) bool {
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		if inRange(x, '0', '9')|inRange(x, 'A', 'F')|inRange(x, '=', '=') != highs {
			return false
		}
		v = v[8:]
	}
	for _, c := range v {
		if charClass[c]&(1<<FormatZ) == 0 {
			return false
		}
	}
	return true
}
