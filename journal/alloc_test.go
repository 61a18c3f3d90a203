//go:build !race

package journal

import (
	"math"
	"strings"
	"testing"
	"time"
)

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

// The size bound Append reserves holds the encoding, so encoding never grows the buffer.
func TestEncodedSizeBound(t *testing.T) {
	small := testRecord(5, testDate)
	big := small
	big.Amount, big.RequestTime = math.MinInt64, time.Unix(0, math.MaxInt64)
	big.Answer, big.RequestHash = strings.Repeat("A", 1000), strings.Repeat("B", 64)
	for _, rec := range []Record{small, big, {}} {
		enc, _ := rec.AppendBinary(nil)
		if b := rec.encodedSizeBound(); b < len(enc) {
			t.Errorf("bound %d below the encoding's %d bytes", b, len(enc))
		}
	}
}
