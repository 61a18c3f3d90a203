package codec

import "math/bits"

// span locates a field's logical value in Message.buf.
type span struct {
	off uint32
	n   uint32
}

// Message is one ISO 8583 message of a profile, in logical form (see the package doc).
// The zero Message is not usable; make one with NewMessage and reuse it: Reset keeps its buffer.
// A Message is not safe for concurrent use.
type Message struct {
	p       *Profile
	mti     [4]byte
	hasMTI  bool
	present [2]uint64 // bit 63-(n-1)%64 of word (n-1)/64 is set when field n is present
	// hexWire marks, with the bits of present, hex fields whose buf still holds the 2n checked
	// hex characters from the wire: Field decodes them in place on first access and Pack
	// copies them as they came, so a message that is forwarded never decodes them.
	hexWire [2]uint64
	spans   [129]span
	buf     []byte
	macOff  int
}

// NewMessage returns an empty message of profile p.
func NewMessage(p *Profile) *Message {
	return &Message{p: p, buf: make([]byte, 0, 512), macOff: -1}
}

// Profile returns the message's profile.
func (m *Message) Profile() *Profile { return m.p }

// Reset empties the message, keeping its buffer. Views handed out before are invalidated.
func (m *Message) Reset() {
	m.hasMTI = false
	m.present = [2]uint64{}
	m.hexWire = [2]uint64{}
	m.buf = m.buf[:0]
}

// MTI returns the message type indicator as 4 digits, or nil when it is not set.
// The view is valid until the next Reset, Unpack or SetMTI.
func (m *Message) MTI() []byte {
	if !m.hasMTI {
		return nil
	}
	return m.mti[:]
}

// SetMTI sets the message type indicator: 4 digits.
func (m *Message) SetMTI(mti string) error {
	if len(mti) != 4 {
		return fieldErr(0, ErrMTI)
	}
	for i := 0; i < 4; i++ {
		if mti[i] < '0' || mti[i] > '9' {
			return fieldErr(0, ErrMTI)
		}
		m.mti[i] = mti[i]
	}
	m.hasMTI = true
	return nil
}

// IsMTI reports whether the message's MTI is mti, without allocating.
func (m *Message) IsMTI(mti string) bool {
	return m.hasMTI && len(mti) == 4 && string(m.mti[:]) == mti
}

func bit(n int) (word int, mask uint64) { return (n - 1) >> 6, 1 << (63 - uint(n-1)&63) }

// Has reports whether field n is present.
func (m *Message) Has(n int) bool {
	if n < 2 || n > 128 {
		return false
	}
	w, b := bit(n)
	return m.present[w]&b != 0
}

// Field returns field n's logical value, or nil when it is absent. The view is valid until the
// next Reset or Unpack; the caller must not modify it. The first Field of an unpacked hex field
// decodes it in place (a read that writes m: see Message on concurrency).
func (m *Message) Field(n int) []byte {
	if !m.Has(n) {
		return nil
	}
	s := m.spans[n]
	if w, b := bit(n); m.hexWire[w]&b != 0 {
		m.hexWire[w] &^= b
		decodeHexInPlace(m.buf[s.off : s.off+2*s.n])
	}
	return m.buf[s.off : s.off+s.n : s.off+s.n]
}

// Next returns the number of the first present field after field n (so Next(0) is the first),
// or 0 when there is none. It allocates nothing:
//
//	for n := m.Next(0); n != 0; n = m.Next(n) { … }
func (m *Message) Next(n int) int {
	if n < 1 {
		n = 1
	}
	for w := n >> 6; w < 2; w++ {
		word := m.present[w]
		if w == n>>6 {
			// clear bits of fields <= n in this word
			shift := uint(n & 63)
			if shift > 0 {
				word &= ^uint64(0) >> shift
			}
		}
		if word != 0 {
			return w<<6 + bits.LeadingZeros64(word) + 1
		}
	}
	return 0
}

// Unset removes field n.
func (m *Message) Unset(n int) {
	if n >= 2 && n <= 128 {
		w, b := bit(n)
		m.present[w] &^= b
		m.hexWire[w] &^= b
	}
}

// Set validates v against field n's spec and stores a copy of it. v is the logical value:
// digits for numeric fields, raw bytes for binary ones.
func (m *Message) Set(n int, v []byte) error {
	f, err := m.spec(n)
	if err != nil {
		return err
	}
	if err := f.check(n, v); err != nil {
		return err
	}
	off := len(m.buf)
	m.buf = append(m.buf, v...)
	m.put(n, off, len(v))
	return nil
}

// SetString is Set for a string value; it allocates nothing once the buffer has grown.
func (m *Message) SetString(n int, v string) error {
	f, err := m.spec(n)
	if err != nil {
		return err
	}
	off := len(m.buf)
	m.buf = append(m.buf, v...)
	if err := f.check(n, m.buf[off:]); err != nil {
		m.buf = m.buf[:off]
		return err
	}
	m.put(n, off, len(v))
	return nil
}

// SetNumber sets a numeric field from v, zero-padded on the left to the field's fixed length
// (for a variable field, to its shortest decimal form).
func (m *Message) SetNumber(n int, v uint64) error {
	f, err := m.spec(n)
	if err != nil {
		return err
	}
	if f.format != FormatN {
		return fieldErr(n, ErrInvalidChar)
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	digits := len(tmp) - i
	width := digits
	if f.length == Fixed {
		if digits > int(f.max) {
			return fieldErr(n, ErrNumberTooLarge)
		}
		width = int(f.max)
	} else if digits > int(f.max) {
		return fieldErr(n, ErrNumberTooLarge)
	}
	off := len(m.buf)
	for j := digits; j < width; j++ {
		m.buf = append(m.buf, '0')
	}
	m.buf = append(m.buf, tmp[i:]...)
	m.put(n, off, width)
	return nil
}

// Number returns numeric field n as an integer (at most 18 digits).
func (m *Message) Number(n int) (uint64, error) {
	v := m.Field(n)
	if v == nil {
		return 0, fieldErr(n, ErrNotPresent)
	}
	return parseDigits(n, v)
}

func parseDigits(n int, v []byte) (uint64, error) {
	if len(v) > 18 {
		return 0, fieldErr(n, ErrNumberTooLarge)
	}
	var x uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fieldErr(n, ErrInvalidChar)
		}
		x = x*10 + uint64(c-'0')
	}
	return x, nil
}

// CopyFrom replaces m's content with a copy of src's (the profiles may differ; fields the
// profile of m does not define, or whose values do not fit it, fail with a FieldError).
func (m *Message) CopyFrom(src *Message) error {
	m.Reset()
	if mti := src.MTI(); mti != nil {
		m.mti, m.hasMTI = src.mti, true
	}
	for n := src.Next(0); n != 0; n = src.Next(n) {
		if err := m.Set(n, src.Field(n)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Message) spec(n int) (*fieldSpec, error) {
	if n < 2 || n > 128 || !m.p.fields[n].defined {
		return nil, fieldErr(n, ErrUnknownField)
	}
	return &m.p.fields[n], nil
}

func (m *Message) put(n, off, l int) {
	m.spans[n] = span{off: uint32(off), n: uint32(l)}
	w, b := bit(n)
	m.present[w] |= b
	m.hexWire[w] &^= b
}

// check validates a logical value against the spec.
func (f *fieldSpec) check(n int, v []byte) error {
	l := len(v)
	if f.length == Fixed {
		if l != int(f.max) {
			return fieldErr(n, ErrLength)
		}
	} else if l > int(f.max) {
		return fieldErr(n, ErrTooLong)
	}
	if !validChars(f.format, v) {
		return fieldErr(n, ErrInvalidChar)
	}
	return nil
}

// charClass[c] has bit k set when c is allowed by format k.
var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		var m uint8
		if c >= '0' && c <= '9' {
			m |= 1<<FormatN | 1<<FormatZ
		}
		if c >= 'A' && c <= 'F' || c == '=' {
			m |= 1 << FormatZ
		}
		if c >= 0x20 && c <= 0x7e {
			m |= 1 << FormatAN
		}
		m |= 1<<FormatANS | 1<<FormatB
		t[c] = m
	}
	return t
}()

func validChars(f Format, v []byte) bool {
	switch f {
	case FormatANS, FormatB:
		return true
	case FormatN:
		return allDigits(v)
	case FormatZ:
		return allTrack(v)
	case FormatAmount:
		if len(v) == 0 || (v[0] != 'C' && v[0] != 'D') {
			return len(v) == 0
		}
		v = v[1:]
		f = FormatN
	}
	acc := uint8(0xFF)
	for _, c := range v {
		acc &= charClass[c]
	}
	return acc&(1<<f) != 0
}
