package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// chunkReader returns its data in reads of the given sizes (cycling), so frames arrive split
// at arbitrary points.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(c.sizes) > 0 {
		n = c.sizes[c.i%len(c.sizes)]
		c.i++
	}
	if n <= 0 {
		n = 1
	}
	if n > len(p) {
		n = len(p)
	}
	if n > len(c.data) {
		n = len(c.data)
	}
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func testFrames(t testing.TB) [][]byte {
	t.Helper()
	var frames [][]byte
	for _, v := range loadVectors(t) {
		if v.framed {
			frames = append(frames, v.raw)
		}
	}
	if len(frames) < 5 {
		t.Fatalf("only %d framed vectors", len(frames))
	}
	return frames
}

func TestReaderSplitReads(t *testing.T) {
	frames := testFrames(t)
	stream := bytes.Join(frames, nil)
	for _, sizes := range [][]int{{1}, {2}, {3, 1}, {7, 13, 1}, {64}, {1 << 16}, {5, 400, 2}} {
		r := NewReader(&chunkReader{data: stream, sizes: sizes}, 0)
		for i, want := range frames {
			f, err := r.Next()
			if err != nil {
				t.Fatalf("sizes %v frame %d: %v", sizes, i, err)
			}
			got, err := AppendFrameBody(nil, f.TPDU, f.Header, f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("sizes %v frame %d:\n got %X\nwant %X", sizes, i, got, want)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("sizes %v: after the last frame: %v, want io.EOF", sizes, err)
		}
	}
}

func TestReaderRejects(t *testing.T) {
	good := testFrames(t)[0]
	tests := []struct {
		name string
		data []byte
		max  int
		want error
	}{
		{"too large", []byte{0x10, 0x01, 0x60}, 4096, ErrFrameTooLarge},
		{"too large at the configured max", append([]byte{0x00, 0x3D}, good[2:]...), 60, ErrFrameTooLarge},
		{"too short", []byte{0x00, 0x05, 0x60, 0, 0, 0, 0}, 0, ErrFrameTooShort},
		{"bad TPDU id", append([]byte{good[0], good[1], 0x61}, good[3:]...), 0, ErrTPDU},
		{"cut inside the length", good[:1], 0, io.ErrUnexpectedEOF},
		{"cut inside the frame", good[:len(good)-1], 0, io.ErrUnexpectedEOF},
		{"empty stream", nil, 0, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.data), tt.max)
			before := cap(r.buf)
			_, err := r.Next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want != io.ErrUnexpectedEOF && cap(r.buf) != before {
				t.Fatalf("buffer grew from %d to %d before the frame was rejected", before, cap(r.buf))
			}
		})
	}
}

func TestReaderGrowsOnlyToMax(t *testing.T) {
	m := terminalPurchase(t)
	frame, err := AppendFrame(nil, TPDU{0x60, 0, 1, 0, 2}, Header{0x60, 0x31}, m)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(bytes.Repeat(frame, 3)), len(frame)-2)
	for i := 0; i < 3; i++ {
		if _, err := r.Next(); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if cap(r.buf) > len(frame) {
		t.Fatalf("buffer %d bytes for frames of %d", cap(r.buf), len(frame))
	}
}

func TestTPDUAndHeader(t *testing.T) {
	tp := TPDU{0x60, 0x00, 0x03, 0x97, 0x33}
	if got := tp.Swap(); got != (TPDU{0x60, 0x97, 0x33, 0x00, 0x03}) {
		t.Fatalf("Swap = %X", got)
	}
	if tp.Destination() != 0x0003 || tp.Source() != 0x9733 {
		t.Fatalf("addresses = %04X %04X", tp.Destination(), tp.Source())
	}
	h := Header{0x60, 0x32, 0x10, 0x32, 0x00, 0x72}
	if h.Status() != 1 || h.Requirement() != 0 {
		t.Fatalf("status %d requirement %d", h.Status(), h.Requirement())
	}
	h3 := h.WithRequirement(RequireSignOn)
	if h3.Requirement() != 3 || h3.Status() != 1 || h3[3] != 0x32 {
		t.Fatalf("WithRequirement = %X", h3)
	}
	if v := h.SoftwareVersion(); string(v[:]) != "320072" {
		t.Fatalf("SoftwareVersion = %s", v)
	}
}

func TestDetect(t *testing.T) {
	frame := testFrames(t)[0]
	tests := []struct {
		name string
		b    []byte
		want Parts
	}{
		{"framed", frame, PartsFramed},
		{"TPDU and header", frame[2:], PartsTPDU},
		{"bare", frame[13:], PartsBare},
		{"length that does not match", append([]byte{0x00, 0x01}, frame[2:]...), PartsBare},
	}
	for _, tt := range tests {
		if got := Detect(tt.b); got != tt.want {
			t.Errorf("%s: Detect = %d, want %d", tt.name, got, tt.want)
		}
	}
}
