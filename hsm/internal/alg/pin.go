package alg

import "encoding/binary"

// PANField returns the PAN field of an ISO 9564 format-0 PIN block: four zero nibbles, then the
// 12 rightmost PAN digits excluding the check digit (left-padded with zeros for a short PAN).
// The PAN must be 12 to 19 decimal digits, ASCII.
func PANField(pan []byte) (f [8]byte, err error) {
	if len(pan) < 12 || len(pan) > 19 {
		return f, ErrPAN
	}
	for _, c := range pan {
		if c < '0' || c > '9' {
			return f, ErrPAN
		}
	}
	digits := pan[:len(pan)-1]
	if len(digits) > 12 {
		digits = digits[len(digits)-12:]
	}
	// 16 nibbles: 4 zero nibbles, then the 12 digits right-aligned.
	var v uint64
	for _, c := range digits {
		v = v<<4 | uint64(c-'0')
	}
	binary.BigEndian.PutUint64(f[:], v)
	return f, nil
}

// PINField returns the PIN field of a format-0 block: 0, PIN length, the PIN digits, F filler.
// The PIN must be 4 to 12 decimal digits, ASCII.
func PINField(pin []byte) (f [8]byte, err error) {
	if len(pin) < 4 || len(pin) > 12 {
		return f, ErrPIN
	}
	v := uint64(len(pin))
	for _, c := range pin {
		if c < '0' || c > '9' {
			return f, ErrPIN
		}
		v = v<<4 | uint64(c-'0')
	}
	for i := 2 + len(pin); i < 16; i++ {
		v = v<<4 | 0xf
	}
	binary.BigEndian.PutUint64(f[:], v)
	return f, nil
}

// CheckPINField validates a PIN field (clear block XOR PAN field) and returns the PIN length.
// Errors are *PINBlockError.
func CheckPINField(f [8]byte) (int, error) {
	v := binary.BigEndian.Uint64(f[:])
	nib := func(i int) byte { return byte(v>>(60-4*i)) & 0xf }
	if nib(0) != 0 {
		return 0, &PINBlockError{Reason: PINBlockFormat}
	}
	n := int(nib(1))
	if n < 4 || n > 12 {
		return 0, &PINBlockError{Reason: PINBlockLength}
	}
	for i := 2; i < 2+n; i++ {
		if nib(i) > 9 {
			return 0, &PINBlockError{Reason: PINBlockDigit}
		}
	}
	for i := 2 + n; i < 16; i++ {
		if nib(i) != 0xf {
			return 0, &PINBlockError{Reason: PINBlockFiller}
		}
	}
	return n, nil
}

// XOR8 returns a XOR b.
func XOR8(a, b [8]byte) (r [8]byte) {
	binary.BigEndian.PutUint64(r[:], binary.BigEndian.Uint64(a[:])^binary.BigEndian.Uint64(b[:]))
	return r
}
