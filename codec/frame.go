package codec

import (
	"encoding/binary"
	"errors"
	"io"
)

// Terminal link framing (docs/terminal-protocol.md §1):
//
//	length (2, big-endian, counts what follows) | TPDU (5) | header (6, BCD) | MTI | bitmap | fields

// Frame sizes.
const (
	TPDULen   = 5
	HeaderLen = 6
	// MinFrame is the smallest length a frame may declare: TPDU, header, MTI and primary bitmap.
	MinFrame = TPDULen + HeaderLen + 2 + 8
	// DefaultMaxFrame is the default maximum declared length.
	DefaultMaxFrame = 4096
	// tpduID is the first byte of every TPDU on this link.
	tpduID = 0x60
)

// TPDU is the transport header: 0x60, destination address, source address.
type TPDU [TPDULen]byte

// Destination returns the destination address.
func (t TPDU) Destination() uint16 { return binary.BigEndian.Uint16(t[1:3]) }

// Source returns the source address.
func (t TPDU) Source() uint16 { return binary.BigEndian.Uint16(t[3:5]) }

// Swap returns the TPDU of a response: destination and source exchanged.
func (t TPDU) Swap() TPDU {
	return TPDU{t[0], t[3], t[4], t[1], t[2]}
}

// Header is the 6-byte BCD message header: app type n2, spec version n2, terminal status n1,
// processing requirement n1, software version n6.
type Header [HeaderLen]byte

// Processing requirements a response header may carry (§2).
const (
	RequireNothing   byte = 0
	RequireParams    byte = 1 // download terminal parameters
	RequireSignOn    byte = 3 // sign on again
	RequireTMSUpdate byte = 6 // fetch a software update
)

// Status returns the terminal status nibble.
func (h Header) Status() byte { return h[2] >> 4 }

// Requirement returns the processing-requirement nibble.
func (h Header) Requirement() byte { return h[2] & 0x0F }

// WithRequirement returns h with the processing-requirement nibble set to r (0–9).
func (h Header) WithRequirement(r byte) Header {
	h[2] = h[2]&0xF0 | r&0x0F
	return h
}

// SoftwareVersion returns the header's software version as 6 digits (non-digit nibbles
// appear as hex letters).
func (h Header) SoftwareVersion() [6]byte {
	var v [6]byte
	for i := 0; i < 3; i++ {
		v[2*i] = digitOf[h[3+i]>>4]
		v[2*i+1] = digitOf[h[3+i]&0xF]
	}
	return v
}

// Frame is one terminal frame. Body (MTI onwards) is a view whose lifetime the producer states.
type Frame struct {
	TPDU   TPDU
	Header Header
	Body   []byte
}

// ParseFrame splits b — the bytes after the length prefix — into TPDU, header and body.
// Body is a view into b.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < MinFrame {
		return Frame{}, ErrFrameTooShort
	}
	if b[0] != tpduID {
		return Frame{}, ErrTPDU
	}
	var f Frame
	copy(f.TPDU[:], b[:TPDULen])
	copy(f.Header[:], b[TPDULen:TPDULen+HeaderLen])
	f.Body = b[TPDULen+HeaderLen:]
	return f, nil
}

// AppendFrame appends a whole frame carrying m — length, TPDU, header, packed message — to dst.
func AppendFrame(dst []byte, t TPDU, h Header, m *Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0)
	dst = append(dst, t[:]...)
	dst = append(dst, h[:]...)
	dst, err := m.Pack(dst)
	if err != nil {
		return dst[:start], err
	}
	return finishFrame(dst, start)
}

// AppendFrameBody appends a whole frame around an already packed body.
func AppendFrameBody(dst []byte, t TPDU, h Header, body []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0)
	dst = append(dst, t[:]...)
	dst = append(dst, h[:]...)
	dst = append(dst, body...)
	return finishFrame(dst, start)
}

func finishFrame(dst []byte, start int) ([]byte, error) {
	l := len(dst) - start - 2
	if l > 0xFFFF {
		return dst[:start], ErrFrameTooLarge
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(l))
	return dst, nil
}

// Parts says which framing parts a hex dump carries.
type Parts uint8

// Framing parts found by Detect.
const (
	PartsBare   Parts = iota // the message alone, from the MTI
	PartsTPDU                // TPDU and header, no length prefix
	PartsFramed              // length prefix, TPDU and header
)

// Detect tells which framing parts b (a terminal message as captured) carries: a length prefix
// that matches the rest with a TPDU after it, a TPDU without length, or neither. A terminal MTI
// never starts with 0x60, so the TPDU id is unambiguous.
func Detect(b []byte) Parts {
	if len(b) >= 2+MinFrame && int(binary.BigEndian.Uint16(b)) == len(b)-2 && b[2] == tpduID {
		return PartsFramed
	}
	if len(b) >= MinFrame && b[0] == tpduID {
		return PartsTPDU
	}
	return PartsBare
}

// Reader reads frames from a stream, however the bytes are split across reads. It keeps one
// buffer, grown only after a declared length has passed the maximum check, and reads ahead, so
// pipelined frames cost one read between them. Not safe for concurrent use.
type Reader struct {
	rd   io.Reader
	max  int
	buf  []byte
	r, w int
}

// NewReader returns a Reader of frames from rd whose declared length may be at most max bytes
// (DefaultMaxFrame when max <= 0).
func NewReader(rd io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	size := 512
	if size > max+2 {
		size = max + 2
	}
	return &Reader{rd: rd, max: max, buf: make([]byte, size)}
}

// Reset makes r read from rd, dropping any buffered bytes but keeping its buffer.
func (r *Reader) Reset(rd io.Reader) {
	r.rd, r.r, r.w = rd, 0, 0
}

// Buffered returns the number of bytes read ahead and not yet returned in a frame.
func (r *Reader) Buffered() int { return r.w - r.r }

// Next returns the next frame. Its Body is a view valid until the following call of Next.
// At a clean end of stream between frames it returns io.EOF; inside a frame,
// io.ErrUnexpectedEOF. A frame whose declared length exceeds the maximum or is shorter than
// MinFrame, or whose TPDU id is not 0x60, is an error before any buffer grows: the caller should
// close the connection, since the stream cannot be resynchronized.
func (r *Reader) Next() (Frame, error) {
	if err := r.fill(2); err != nil {
		return Frame{}, err
	}
	l := int(binary.BigEndian.Uint16(r.buf[r.r:]))
	if l > r.max {
		return Frame{}, ErrFrameTooLarge
	}
	if l < MinFrame {
		return Frame{}, ErrFrameTooShort
	}
	if err := r.fill(3); err != nil {
		return Frame{}, err
	}
	if r.buf[r.r+2] != tpduID {
		return Frame{}, ErrTPDU
	}
	need := 2 + l
	if err := r.fill(need); err != nil {
		return Frame{}, err
	}
	f, err := ParseFrame(r.buf[r.r+2 : r.r+need])
	r.r += need
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	return f, err
}

// fill reads until at least n bytes are buffered past r.r.
func (r *Reader) fill(n int) error {
	if r.w-r.r >= n {
		return nil
	}
	if len(r.buf)-r.r < n { // make room: compact, then grow if still short
		copy(r.buf, r.buf[r.r:r.w])
		r.w -= r.r
		r.r = 0
		if len(r.buf) < n {
			size := 2 * len(r.buf)
			if size < n {
				size = n
			}
			if size > r.max+2 {
				size = r.max + 2
			}
			nb := make([]byte, size)
			copy(nb, r.buf[:r.w])
			r.buf = nb
		}
	}
	for r.w-r.r < n {
		k, err := r.rd.Read(r.buf[r.w:])
		r.w += k
		if r.w-r.r >= n {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if r.w == r.r {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}
