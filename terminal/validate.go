package terminal

import (
	"unicode"
	"unicode/utf8"
)

// Field sizes of the registry's identifiers (terminal protocol §3, §6).
const (
	TIDLen       = 8  // field 41, ans8
	MIDLen       = 15 // field 42, ans15
	MCCLen       = 4  // merchant category code, n4
	MaxSNLen     = 50 // field 59 tag 02
	MaxNameLen   = 100
	MaxCityLen   = 50
	MaxPlanLen   = 32
	MaxAcctLen   = 34 // the longest account number format in use (IBAN)
	MaxVerLen    = 8  // field 59 tag 05, an8
	DeviceLen    = 2  // field 59 tag 01, an2
	MaxOperators = 100
)

// ValidTID checks a terminal id: exactly 8 ans characters. Curly braces are refused because
// they delimit Redis Cluster hash tags in key names.
func ValidTID(tid string) error {
	if len(tid) != TIDLen || !ans(tid) {
		return invalid("TID", "must be 8 printable ASCII characters without braces")
	}
	return nil
}

// ValidMID checks a merchant id: exactly 15 ans characters, no curly braces.
func ValidMID(mid string) error {
	if len(mid) != MIDLen || !ans(mid) {
		return invalid("MID", "must be 15 printable ASCII characters without braces")
	}
	return nil
}

// ValidSN checks a device serial number: 1 to 50 printable ASCII characters without spaces
// or curly braces.
func ValidSN(sn string) error {
	if len(sn) == 0 || len(sn) > MaxSNLen || !ans(sn) {
		return invalid("SN", "must be 1 to 50 printable ASCII characters without spaces or braces")
	}
	for i := 0; i < len(sn); i++ {
		if sn[i] == ' ' {
			return invalid("SN", "must be 1 to 50 printable ASCII characters without spaces or braces")
		}
	}
	return nil
}

// ValidMCC checks a merchant category code: exactly 4 digits.
func ValidMCC(mcc string) error {
	if len(mcc) != MCCLen || !digits(mcc) {
		return invalid("MCC", "must be 4 digits")
	}
	return nil
}

// ans reports whether s holds only printable ASCII (0x20–0x7E) other than '{' and '}'.
func ans(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// text checks free text (names, cities): valid UTF-8, no control characters, at most max runes.
func text(field, s string, max int, required bool) error {
	if required && s == "" {
		return invalid(field, "is required")
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return invalid(field, "must be valid UTF-8 of at most "+itoa(max)+" characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// ascii checks an optional printable-ASCII token of at most max bytes.
func ascii(field, s string, max int, required bool) error {
	if (required && s == "") || len(s) > max || !ans(s) {
		r := "must be printable ASCII of at most " + itoa(max) + " characters"
		if required {
			r = "must be 1 to " + itoa(max) + " printable ASCII characters"
		}
		return invalid(field, r)
	}
	return nil
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// ValidSoftwareVersion checks a software version: at most 8 printable ASCII characters
// (field 59 tag 05, an8).
func ValidSoftwareVersion(v string) error {
	return ascii("SoftwareVersion", v, MaxVerLen, false)
}
