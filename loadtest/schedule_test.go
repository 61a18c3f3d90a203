package loadtest

import (
	"testing"
	"time"
)

func TestScheduleCount(t *testing.T) {
	tests := []struct {
		rate     float64
		duration time.Duration
		want     int64
	}{
		{1000, 60 * time.Second, 60000},
		{3, time.Second, 3},             // 0, 1/3, 2/3
		{3, time.Second + 1, 4},         // 1 s itself is inside
		{0.5, 3 * time.Second, 2},       // 0, 2 s
		{0.5, 4 * time.Second, 2},       // 4 s is the end, not inside
		{7, time.Second, 7},             // 1/7 is not exact in float
		{1e6, time.Second, 1_000_000},   // one per microsecond
		{333.3, 10 * time.Second, 3333}, // 3333/333.3 = 10.0000…: not inside
		{100, 0, 0},
		{0, time.Second, 0},
	}
	for _, tc := range tests {
		s := Schedule{Rate: tc.rate, Duration: tc.duration}
		if got := s.Count(); got != tc.want {
			t.Errorf("Schedule{%g/s, %s}.Count() = %d, want %d", tc.rate, tc.duration, got, tc.want)
		}
		n := s.Count()
		if n > 0 && s.Offset(n-1) >= tc.duration {
			t.Errorf("%g/s %s: last request at %s is not before the end", tc.rate, tc.duration, s.Offset(n-1))
		}
		if n > 0 && s.Offset(n) < tc.duration {
			t.Errorf("%g/s %s: request %d at %s is before the end but not counted", tc.rate, tc.duration, n, s.Offset(n))
		}
	}
}

func TestScheduleOffsetAndDue(t *testing.T) {
	s := Schedule{Rate: 4, Duration: 2 * time.Second}
	for i, want := range []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second} {
		if got := s.Offset(int64(i)); got != want {
			t.Errorf("Offset(%d) = %s, want %s", i, got, want)
		}
	}
	dues := []struct {
		at   time.Duration
		want int64
	}{
		{-time.Millisecond, 0},
		{0, 1},
		{249 * time.Millisecond, 1},
		{250 * time.Millisecond, 2},
		{time.Second, 5},
		{1750 * time.Millisecond, 8},
		{time.Hour, 8},
	}
	for _, d := range dues {
		if got := s.Due(d.at); got != d.want {
			t.Errorf("Due(%s) = %d, want %d", d.at, got, d.want)
		}
	}
	// Offsets never go backwards, and consecutive ones are 1/rate apart (to the nanosecond).
	s = Schedule{Rate: 2999, Duration: time.Minute}
	prev := s.Offset(0)
	for i := int64(1); i < s.Count(); i++ {
		o := s.Offset(i)
		gap := o - prev
		if gap < time.Second/2999-1 || gap > time.Second/2999+1 {
			t.Fatalf("gap before request %d is %s", i, gap)
		}
		prev = o
	}
}
