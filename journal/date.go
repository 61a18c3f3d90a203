package journal

import (
	"time"
	_ "time/tzdata" // Calendar's default zone must resolve on hosts without zoneinfo.
)

// Date is a calendar date without time or zone, used as a business date. The zero
// Date means "no date". Dates are comparable with == and ordered by Before.
type Date struct {
	year  int16
	month uint8
	day   uint8
}

// NewDate returns the date y-m-d, normalizing out-of-range values the way
// time.Date does (NewDate(2026, 1, 32) is 2026-02-01).
func NewDate(y int, m time.Month, d int) Date {
	return DateOf(time.Date(y, m, d, 12, 0, 0, 0, time.UTC))
}

// DateOf returns the calendar date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{year: int16(y), month: uint8(m), day: uint8(d)}
}

// ParseDate parses the compact form YYYYMMDD (as used in journal subjects and
// settlement file names).
func ParseDate(s string) (Date, error) {
	if len(s) != 8 {
		return Date{}, ErrInvalidDate
	}
	n := 0
	for i := 0; i < 8; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Date{}, ErrInvalidDate
		}
		n = n*10 + int(c-'0')
	}
	y, m, d := n/10000, time.Month(n/100%100), n%100
	dt := NewDate(y, m, d)
	if dt.Year() != y || dt.Month() != m || dt.Day() != d || y < 1 {
		return Date{}, ErrInvalidDate
	}
	return dt, nil
}

// MarshalText encodes d as String does (YYYYMMDD); the zero Date as "".
func (d Date) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return nil, nil
	}
	return []byte(d.String()), nil
}

// UnmarshalText parses what MarshalText wrote.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Year returns the year.
func (d Date) Year() int { return int(d.year) }

// Month returns the month.
func (d Date) Month() time.Month { return time.Month(d.month) }

// Day returns the day of the month.
func (d Date) Day() int { return int(d.day) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.Compact() < e.Compact() }

// AddDays returns d plus n days (n may be negative).
func (d Date) AddDays(n int) Date { return NewDate(d.Year(), d.Month(), d.Day()+n) }

// Compact returns d as the integer YYYYMMDD (0 for the zero Date).
func (d Date) Compact() uint32 {
	return uint32(d.year)*10000 + uint32(d.month)*100 + uint32(d.day)
}

// dateFromCompact is the inverse of Compact; it reports false for values that are
// not a valid date (used when decoding).
func dateFromCompact(n uint64) (Date, bool) {
	if n == 0 {
		return Date{}, true
	}
	if n > 99991231 {
		return Date{}, false
	}
	y, m, d := int(n/10000), time.Month(n/100%100), int(n%100)
	dt := NewDate(y, m, d)
	if y < 1 || dt.Year() != y || dt.Month() != m || dt.Day() != d {
		return Date{}, false
	}
	return dt, true
}

// String returns YYYYMMDD, the form used in subjects and file names.
func (d Date) String() string {
	var b [8]byte
	return string(d.appendCompact(b[:0]))
}

// appendCompact appends YYYYMMDD to dst without allocating.
func (d Date) appendCompact(dst []byte) []byte {
	n := d.Compact()
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[:]...)
}

// Start returns midnight at the beginning of d in loc.
func (d Date) Start(loc *time.Location) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
}

// Defaults of Calendar.
const (
	// DefaultCutOff is the time of day (23:00) from which transactions belong to
	// the next business date.
	DefaultCutOff = 23 * time.Hour
	// DefaultLocation is the IANA zone business dates are reckoned in.
	DefaultLocation = "Asia/Shanghai"
)

// Calendar maps instants to business dates. A transaction at or after CutOff
// (local wall-clock time of day in Location) belongs to the next calendar date.
// The zero Calendar uses the defaults (23:00, Asia/Shanghai).
type Calendar struct {
	// CutOff is the time of day at which the business date rolls over, as an
	// offset from local midnight. Zero means DefaultCutOff (23:00). To roll over
	// at midnight (business date = calendar date) set 24h.
	CutOff time.Duration
	// Location is the zone of the cut-off. Nil means DefaultLocation, which is
	// embedded in the binary (time/tzdata).
	Location *time.Location
}

// NewCalendar returns a Calendar with cutOff and the named IANA zone; empty or
// zero arguments take the defaults.
func NewCalendar(cutOff time.Duration, zone string) (Calendar, error) {
	c := Calendar{CutOff: cutOff}
	if zone != "" {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return Calendar{}, &ConfigError{Field: "Calendar.Location", Err: err}
		}
		c.Location = loc
	}
	c = c.withDefaults()
	return c, c.Validate()
}

var defaultLocation = func() *time.Location {
	loc, err := time.LoadLocation(DefaultLocation)
	if err != nil {
		// Unreachable: time/tzdata is linked in.
		panic("journal: load " + DefaultLocation + ": " + err.Error())
	}
	return loc
}()

func (c Calendar) withDefaults() Calendar {
	if c.CutOff == 0 {
		c.CutOff = DefaultCutOff
	}
	if c.Location == nil {
		c.Location = defaultLocation
	}
	return c
}

// Validate checks that CutOff (after defaults) lies in (0, 24h].
func (c Calendar) Validate() error {
	c = c.withDefaults()
	if c.CutOff < 0 || c.CutOff > 24*time.Hour {
		return &ConfigError{Field: "Calendar.CutOff", Err: ErrOutOfRange}
	}
	return nil
}

// BusinessDate returns the business date of instant t: its calendar date in
// Location, or the next date when its local time of day is at or after CutOff.
func (c Calendar) BusinessDate(t time.Time) Date {
	c = c.withDefaults()
	lt := t.In(c.Location)
	h, m, s := lt.Clock()
	tod := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(lt.Nanosecond())
	d := DateOf(lt)
	if tod >= c.CutOff {
		return d.AddDays(1)
	}
	return d
}

// CutOffTime returns the end of business date d: the first instant that
// belongs to d.AddDays(1), i.e. CutOff wall-clock time on calendar day d in
// Location. Business date d covers [CutOffTime(d.AddDays(-1)), CutOffTime(d)).
func (c Calendar) CutOffTime(d Date) time.Time {
	c = c.withDefaults()
	// Nanoseconds beyond a day normalize as wall-clock time, like time.Date does.
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, int(c.CutOff), c.Location)
}
