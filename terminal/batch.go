package terminal

// Batch is a terminal's batch number (field 60.2, n6): 1 to 999999. The zero value means
// "not set"; stores start new terminals at FirstBatch.
type Batch uint32

// Batch number bounds.
const (
	FirstBatch Batch = 1
	LastBatch  Batch = 999999
)

// Valid reports whether b is within 000001–999999.
func (b Batch) Valid() bool { return b >= FirstBatch && b <= LastBatch }

// Next returns the batch after b; 999999 wraps to 000001.
func (b Batch) Next() Batch {
	if b >= LastBatch {
		return FirstBatch
	}
	return b + 1
}

// String returns b as 6 digits with leading zeros.
func (b Batch) String() string {
	var s [6]byte
	n := uint32(b)
	for i := 5; i >= 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s[:])
}

// AppendTo appends b's 6 digits to dst and returns the extended slice (no allocation when dst
// has room).
func (b Batch) AppendTo(dst []byte) []byte {
	n := uint32(b)
	var s [6]byte
	for i := 5; i >= 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, s[:]...)
}

// ParseBatch parses a 6-digit batch number in 000001–999999.
func ParseBatch(s string) (Batch, error) {
	if len(s) != 6 || !digits(s) {
		return 0, invalid("Batch", "must be 6 digits in 000001-999999")
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		n = n*10 + uint32(s[i]-'0')
	}
	b := Batch(n)
	if !b.Valid() {
		return 0, invalid("Batch", "must be 6 digits in 000001-999999")
	}
	return b, nil
}

// Validate returns a *FieldError unless b is within 000001–999999.
func (b Batch) Validate() error {
	if !b.Valid() {
		return invalid("Batch", "must be in 000001-999999")
	}
	return nil
}
