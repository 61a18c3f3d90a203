//go:build !race

package journal

import "testing"

func TestCodecAllocations(t *testing.T) {
	rec := testRecord(5, testDate)
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf, _ = rec.AppendBinary(buf[:0]) }); n != 0 {
		t.Errorf("AppendBinary allocs = %v, want 0", n)
	}
	var r Record
	if n := testing.AllocsPerRun(100, func() { _ = r.UnmarshalBinary(buf) }); n != 1 {
		t.Errorf("UnmarshalBinary allocs = %v, want 1 (all strings share one)", n)
	}
}
