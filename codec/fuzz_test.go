package codec

import (
	"bytes"
	"testing"
)

// seedBodies adds every vector's message body and the benchmark messages to a fuzz corpus.
func seedBodies(f *testing.F, p *Profile) {
	if p == Terminal {
		for _, v := range loadVectors(f) {
			if Detect(v.raw) == PartsFramed {
				fr, _ := ParseFrame(v.raw[2:])
				f.Add(fr.Body)
			} else {
				f.Add(v.raw)
			}
		}
		b, _ := terminalPurchase(f).Pack(nil)
		f.Add(b)
		return
	}
	b, _ := upstreamPurchase(f).Pack(nil)
	f.Add(b)
	f.Add([]byte("0800822000000000000004000000000000001122093015000001301"))
}

// checkRoundTrip: whatever unpacks must pack, and what it packs must unpack to the same
// fields and pack to the same bytes again (a stable round trip). It must never panic.
func checkRoundTrip(t *testing.T, p *Profile, data []byte) {
	m := NewMessage(p)
	if err := m.Unpack(data); err != nil {
		return
	}
	_ = m.String()
	first, err := m.Pack(nil)
	if err != nil {
		t.Fatalf("Pack after a good Unpack: %v", err)
	}
	m2 := NewMessage(p)
	if err := m2.Unpack(first); err != nil {
		t.Fatalf("re-Unpack of packed bytes: %v", err)
	}
	for n := m.Next(0); n != 0; n = m.Next(n) {
		if !bytes.Equal(m.Field(n), m2.Field(n)) {
			t.Fatalf("field %d changed in the round trip", n)
		}
	}
	second, _ := m2.Pack(nil)
	if !bytes.Equal(first, second) {
		t.Fatalf("unstable round trip:\n%X\n%X", first, second)
	}
}

func FuzzUnpackTerminal(f *testing.F) {
	seedBodies(f, Terminal)
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, Terminal, data) })
}

func FuzzUnpackUpstream(f *testing.F) {
	seedBodies(f, Upstream)
	f.Fuzz(func(t *testing.T, data []byte) { checkRoundTrip(t, Upstream, data) })
}

// FuzzReader feeds a stream split at fuzzer-chosen points: the frames read must be the same as
// when the stream arrives in one piece, and the reader must never panic or hang.
func FuzzReader(f *testing.F) {
	for _, fr := range testFrames(f) {
		f.Add(fr, []byte{1, 7, 3})
	}
	f.Add(append(testFrames(f)[0], testFrames(f)[1]...), []byte{2})
	f.Fuzz(func(t *testing.T, stream, splits []byte) {
		sizes := make([]int, len(splits))
		for i, s := range splits {
			sizes[i] = int(s)
		}
		whole := NewReader(bytes.NewReader(stream), 0)
		split := NewReader(&chunkReader{data: stream, sizes: sizes}, 0)
		for i := 0; i < 64; i++ {
			a, errA := whole.Next()
			b, errB := split.Next()
			if (errA == nil) != (errB == nil) {
				t.Fatalf("frame %d: whole %v, split %v", i, errA, errB)
			}
			if errA != nil {
				return
			}
			if a.TPDU != b.TPDU || a.Header != b.Header || !bytes.Equal(a.Body, b.Body) {
				t.Fatalf("frame %d differs when split", i)
			}
			checkRoundTrip(t, Terminal, a.Body)
		}
	})
}

func FuzzTerminalInfo(f *testing.F) {
	f.Add([]byte("A2065010020202016000002025400431803006000052040083EC7CD42405008321702  "))
	f.Add([]byte("1220898606170800025839931311HFT17080301A2600102020216000029021001570803060001130408042472920508H7062801"))
	f.Fuzz(func(t *testing.T, v []byte) {
		ti, err := ParseTerminalInfo(v)
		if err != nil {
			return
		}
		for _, part := range [][]byte{ti.DeviceType, ti.SN, ti.RandomFactor, ti.SNCipher, ti.AppVersion} {
			if len(part) > 999 {
				return // AppendTLV cuts at 999; such a block is not a round-trip candidate
			}
		}
		back, err := ParseTerminalInfo(AppendTerminalInfo(nil, ti))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !bytes.Equal(back.SN, ti.SN) || !bytes.Equal(back.RandomFactor, ti.RandomFactor) ||
			!bytes.Equal(back.SNCipher, ti.SNCipher) {
			t.Fatalf("A2 changed in the round trip")
		}
	})
}
