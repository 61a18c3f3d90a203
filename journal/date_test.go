package journal

import (
	"errors"
	"testing"
	"time"
)

func TestBusinessDate(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(loc *time.Location, y int, m time.Month, d, hh, mm, ss, ns int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, ns, loc)
	}
	tests := []struct {
		name string
		cal  Calendar
		t    time.Time
		want Date
	}{
		{"noon", Calendar{}, at(shanghai, 2026, 3, 14, 12, 0, 0, 0), NewDate(2026, 3, 14)},
		{"just before cut-off", Calendar{}, at(shanghai, 2026, 3, 14, 22, 59, 59, 999999999), NewDate(2026, 3, 14)},
		{"exactly at cut-off", Calendar{}, at(shanghai, 2026, 3, 14, 23, 0, 0, 0), NewDate(2026, 3, 15)},
		{"between cut-off and midnight", Calendar{}, at(shanghai, 2026, 3, 14, 23, 59, 59, 0), NewDate(2026, 3, 15)},
		{"exactly midnight", Calendar{}, at(shanghai, 2026, 3, 15, 0, 0, 0, 0), NewDate(2026, 3, 15)},
		{"after midnight", Calendar{}, at(shanghai, 2026, 3, 15, 0, 30, 0, 0), NewDate(2026, 3, 15)},
		{"cut-off on new year's eve", Calendar{}, at(shanghai, 2025, 12, 31, 23, 0, 0, 0), NewDate(2026, 1, 1)},
		{"cut-off on 28 Feb, non-leap", Calendar{}, at(shanghai, 2026, 2, 28, 23, 30, 0, 0), NewDate(2026, 3, 1)},
		{"cut-off on 28 Feb, leap", Calendar{}, at(shanghai, 2028, 2, 28, 23, 30, 0, 0), NewDate(2028, 2, 29)},
		// 15:00 UTC is 23:00 in Shanghai: the zone, not the instant's own zone, decides.
		{"UTC instant at Shanghai cut-off", Calendar{}, at(time.UTC, 2026, 3, 14, 15, 0, 0, 0), NewDate(2026, 3, 15)},
		{"UTC instant before Shanghai cut-off", Calendar{}, at(time.UTC, 2026, 3, 14, 14, 59, 59, 0), NewDate(2026, 3, 14)},
		{"UTC midnight is Shanghai 08:00", Calendar{}, at(time.UTC, 2026, 3, 14, 0, 0, 0, 0), NewDate(2026, 3, 14)},
		{"custom cut-off 18:00 before", Calendar{CutOff: 18 * time.Hour}, at(shanghai, 2026, 3, 14, 17, 59, 0, 0), NewDate(2026, 3, 14)},
		{"custom cut-off 18:00 at", Calendar{CutOff: 18 * time.Hour}, at(shanghai, 2026, 3, 14, 18, 0, 0, 0), NewDate(2026, 3, 15)},
		{"midnight cut-off 23:59", Calendar{CutOff: 24 * time.Hour}, at(shanghai, 2026, 3, 14, 23, 59, 59, 0), NewDate(2026, 3, 14)},
		{"midnight cut-off 00:00", Calendar{CutOff: 24 * time.Hour}, at(shanghai, 2026, 3, 15, 0, 0, 0, 0), NewDate(2026, 3, 15)},
		{"other zone, DST day", Calendar{Location: ny}, at(ny, 2026, 3, 8, 23, 0, 0, 0), NewDate(2026, 3, 9)},
		{"other zone, DST day before", Calendar{Location: ny}, at(ny, 2026, 3, 8, 22, 0, 0, 0), NewDate(2026, 3, 8)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.BusinessDate(tt.t); got != tt.want {
				t.Errorf("BusinessDate(%v) = %s, want %s", tt.t, got, tt.want)
			}
			// The cut-off times of the result bracket the instant.
			if got := tt.cal.BusinessDate(tt.t); got == tt.want {
				lo, hi := tt.cal.CutOffTime(got.AddDays(-1)), tt.cal.CutOffTime(got)
				if tt.t.Before(lo) || !tt.t.Before(hi) {
					t.Errorf("%v outside [%v, %v)", tt.t, lo, hi)
				}
			}
		})
	}
}

func TestCalendarValidate(t *testing.T) {
	tests := []struct {
		cal  Calendar
		fail bool
	}{
		{Calendar{}, false},
		{Calendar{CutOff: 24 * time.Hour}, false},
		{Calendar{CutOff: time.Minute}, false},
		{Calendar{CutOff: -time.Hour}, true},
		{Calendar{CutOff: 25 * time.Hour}, true},
	}
	for _, tt := range tests {
		err := tt.cal.Validate()
		if (err != nil) != tt.fail || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("Validate(%v) = %v, want failure %v", tt.cal.CutOff, err, tt.fail)
		}
	}
	if _, err := NewCalendar(0, "Mars/Olympus"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewCalendar(unknown zone) = %v, want ErrInvalidConfig", err)
	}
	c, err := NewCalendar(0, "")
	if err != nil || c.CutOff != DefaultCutOff || c.Location.String() != DefaultLocation {
		t.Errorf("NewCalendar defaults = %+v, %v", c, err)
	}
}

func TestDate(t *testing.T) {
	tests := []struct {
		in   string
		want Date
		fail bool
	}{
		{"20260314", NewDate(2026, 3, 14), false},
		{"20280229", NewDate(2028, 2, 29), false},
		{"20260229", Date{}, true},
		{"20261301", Date{}, true},
		{"20260100", Date{}, true},
		{"2026031", Date{}, true},
		{"2026031a", Date{}, true},
		{"00000101", Date{}, true},
	}
	for _, tt := range tests {
		got, err := ParseDate(tt.in)
		if (err != nil) != tt.fail || got != tt.want {
			t.Errorf("ParseDate(%q) = %s, %v; want %s, fail %v", tt.in, got, err, tt.want, tt.fail)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
	d := NewDate(2026, 12, 31)
	if got := d.AddDays(1); got != NewDate(2027, 1, 1) {
		t.Errorf("AddDays(1) = %s", got)
	}
	if !d.Before(d.AddDays(1)) || d.AddDays(1).Before(d) || !(Date{}).IsZero() {
		t.Error("Before/IsZero wrong")
	}
	if got := string(d.appendCompact(nil)); got != "20261231" {
		t.Errorf("appendCompact = %q", got)
	}
}
