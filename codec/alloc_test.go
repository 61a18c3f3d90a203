//go:build !race

package codec

import (
	"bytes"
	"testing"
)

// Allocation counts are part of the codec's contract: once a Message, a Reader and the caller's
// buffers have grown, a message costs no allocation in either profile.
func TestZeroAllocs(t *testing.T) {
	term, up := terminalPurchase(t), upstreamPurchase(t)
	tw, _ := term.Pack(nil)
	uw, _ := up.Pack(nil)
	tm, um := NewMessage(Terminal), NewMessage(Upstream)
	buf := make([]byte, 0, 2048)
	tpdu, hdr := TPDU{0x60, 0, 3, 0, 0}, Header{0x60, 0x32}
	frame, _ := AppendFrame(nil, tpdu, hdr, term)
	src := bytes.NewReader(frame)
	r := NewReader(src, 0)
	var ti TerminalInfo
	cases := []struct {
		name string
		fn   func()
	}{
		{"Unpack terminal", func() { must(t, tm.Unpack(tw)) }},
		{"Unpack upstream", func() { must(t, um.Unpack(uw)) }},
		{"Pack terminal", func() { buf, _ = term.Pack(buf[:0]) }},
		{"Pack upstream", func() { buf, _ = up.Pack(buf[:0]) }},
		{"read frame", func() {
			src.Reset(frame)
			r.Reset(src)
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		}},
		{"write frame", func() { buf, _ = AppendFrame(buf[:0], tpdu, hdr, term) }},
		{"set fields", func() {
			tm.Reset()
			_ = tm.SetMTI("0210")
			must(t, tm.SetString(39, "00"))
			must(t, tm.SetNumber(4, 1500))
			must(t, tm.Set(64, tw[len(tw)-8:]))
		}},
		{"field 59", func() {
			var err error
			ti, err = ParseTerminalInfo(term.Field(59))
			must(t, err)
		}},
		{"field 60", func() { _, _ = ParseField60(term.Field(60)) }},
		{"display PAN", func() { buf = term.AppendDisplay(buf[:0], 2) }},
	}
	for _, c := range cases {
		c.fn() // warm up
		if n := testing.AllocsPerRun(200, c.fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", c.name, n)
		}
	}
	_ = ti
}
