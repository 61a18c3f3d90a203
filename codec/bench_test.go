package codec

import (
	"bytes"
	"testing"
)

func benchUnpack(b *testing.B, m *Message) {
	wire, err := m.Pack(nil)
	if err != nil {
		b.Fatal(err)
	}
	dst := NewMessage(m.Profile())
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if err := dst.Unpack(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPack(b *testing.B, m *Message) {
	buf := make([]byte, 0, 1024)
	wire, _ := m.Pack(nil)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = m.Pack(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// The benchmark messages: (a) a terminal purchase 0200, (b) an upstream 1987-ASCII 0200.
func BenchmarkUnpack(b *testing.B) {
	b.Run("terminal", func(b *testing.B) { benchUnpack(b, terminalPurchase(b)) })
	b.Run("upstream", func(b *testing.B) { benchUnpack(b, upstreamPurchase(b)) })
}

func BenchmarkPack(b *testing.B) {
	b.Run("terminal", func(b *testing.B) { benchPack(b, terminalPurchase(b)) })
	b.Run("upstream", func(b *testing.B) { benchPack(b, upstreamPurchase(b)) })
}

// BenchmarkFrame reads and writes whole terminal frames: length, TPDU, header, message.
func BenchmarkFrame(b *testing.B) {
	m := terminalPurchase(b)
	tpdu := TPDU{0x60, 0, 3, 0, 0}
	hdr := Header{0x60, 0x32, 0x10, 0x32, 0x00, 0x72}
	frame, err := AppendFrame(nil, tpdu, hdr, m)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		src := bytes.NewReader(frame)
		r := NewReader(src, 0)
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(frame)
			r.Reset(src)
			if _, err := r.Next(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = AppendFrame(buf[:0], tpdu, hdr, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
