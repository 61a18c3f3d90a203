package codec

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestSetValidates(t *testing.T) {
	tests := []struct {
		name string
		p    *Profile
		n    int
		v    string
		want error
	}{
		{"PAN too long", Terminal, 2, "12345678901234567890", ErrTooLong},
		{"PAN not digits", Terminal, 2, "62123400000000A", ErrInvalidChar},
		{"fixed numeric short", Terminal, 4, "1500", ErrLength},
		{"track with letter", Terminal, 35, "6212D30X", ErrInvalidChar},
		{"track too long", Terminal, 35, strings.Repeat("1", 38), ErrTooLong},
		{"undefined terminal field", Terminal, 7, "1122093015", ErrUnknownField},
		{"field 1 is the bitmap", Terminal, 1, "00", ErrUnknownField},
		{"field 129", Upstream, 129, "0", ErrUnknownField},
		{"an with control char", Terminal, 39, "0\n", ErrInvalidChar},
		{"upstream amount fee", Upstream, 28, "X00000100", ErrInvalidChar},
		{"upstream 55 too long", Upstream, 55, strings.Repeat("x", 500), ErrTooLong},
		{"60 over 19 digits", Terminal, 60, strings.Repeat("0", 20), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessage(tt.p)
			err := m.SetString(tt.n, tt.v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.n {
				t.Fatalf("err %v is not a FieldError for field %d", err, tt.n)
			}
			if strings.Contains(err.Error(), tt.v) {
				t.Fatalf("error text %q holds the value", err)
			}
			if m.Has(tt.n) {
				t.Fatalf("field %d set despite the error", tt.n)
			}
		})
	}
	m := NewMessage(Upstream)
	if err := m.SetString(28, "C00000100"); err != nil {
		t.Fatalf("valid fee amount: %v", err)
	}
}

func TestNumbers(t *testing.T) {
	m := NewMessage(Terminal)
	if err := m.SetNumber(4, 1500); err != nil {
		t.Fatal(err)
	}
	if got := string(m.Field(4)); got != "000000001500" {
		t.Fatalf("field 4 = %s", got)
	}
	if v, err := m.Number(4); v != 1500 || err != nil {
		t.Fatalf("Number(4) = %d, %v", v, err)
	}
	if err := m.SetNumber(11, 1000000); !errors.Is(err, ErrNumberTooLarge) {
		t.Fatalf("STAN 1000000: %v", err)
	}
	if err := m.SetNumber(41, 1); !errors.Is(err, ErrInvalidChar) {
		t.Fatalf("SetNumber on text: %v", err)
	}
	if _, err := m.Number(3); !errors.Is(err, ErrNotPresent) {
		t.Fatalf("Number of absent field: %v", err)
	}
}

func TestUnpackErrors(t *testing.T) {
	good, err := terminalPurchase(t).Pack(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Field 2 starts right after MTI and bitmap: LL prefix 0x19.
	badLen := bytes.Clone(good)
	badLen[10] = 0x20 // 20 digits > 19
	badBCDLen := bytes.Clone(good)
	badBCDLen[10] = 0x1A
	badDigit := bytes.Clone(good)
	badDigit[11] = 0x6A
	unknown := bytes.Clone(good)
	unknown[2] |= 0x02 // bit 7: not in the terminal profile
	tests := []struct {
		name  string
		src   []byte
		field int
		want  error
	}{
		{"empty", nil, 0, ErrEmpty},
		{"one byte", good[:1], 0, ErrTruncated},
		{"bad MTI", append([]byte{0x0A, 0x00}, good[2:]...), 0, ErrMTI},
		{"cut in bitmap", good[:6], 1, ErrTruncated},
		{"empty bitmap", append([]byte{0x02, 0x00}, make([]byte, 8)...), 1, ErrBitmap},
		{"PAN length over spec", badLen, 2, ErrTooLong},
		{"PAN length not BCD", badBCDLen, 2, ErrBadLength},
		{"PAN digit not BCD", badDigit, 2, ErrInvalidChar},
		{"undefined field", unknown, 7, ErrUnknownField},
		{"truncated last field", good[:len(good)-3], 64, ErrTruncated},
		{"trailing bytes", append(bytes.Clone(good), 0x00), 1, ErrTrailing},
	}
	m := NewMessage(Terminal)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Unpack(tt.src)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("err = %v, want field %d", err, tt.field)
			}
		})
	}
	// The message is usable again after an error.
	if err := m.Unpack(good); err != nil {
		t.Fatalf("Unpack after errors: %v", err)
	}
	if m.MACOffset() != len(good)-8 {
		t.Fatalf("MACOffset = %d, want %d", m.MACOffset(), len(good)-8)
	}
}

func TestUpstreamRoundTrip(t *testing.T) {
	m := upstreamPurchase(t)
	wire, err := m.Pack(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Spot-check the 1987 ASCII layout byte for byte.
	if !bytes.HasPrefix(wire, []byte("0200723C")) {
		t.Fatalf("MTI and bitmap: %s", wire[:20])
	}
	if !bytes.Contains(wire, []byte("19"+testPAN+"000000000000001500")) {
		t.Fatalf("LL PAN, processing code and amount not found in %s", wire)
	}
	if !bytes.Contains(wire, []byte("CB70ABBCB4E1386E")) {
		t.Fatalf("field 52 not sent as 16 upper-case hex characters")
	}
	if !bytes.Contains(wire, []byte(strconv.Itoa(2*len(iccData))+string(hexOf(iccData)))) {
		t.Fatalf("field 55 is not LLL-counted hex")
	}
	back := NewMessage(Upstream)
	if err := back.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	again, _ := back.Pack(nil)
	if !bytes.Equal(again, wire) {
		t.Fatalf("round trip differs")
	}
	for n := m.Next(0); n != 0; n = m.Next(n) {
		if !bytes.Equal(m.Field(n), back.Field(n)) {
			t.Errorf("field %d differs", n)
		}
	}
}

func TestSecondaryBitmap(t *testing.T) {
	m := NewMessage(Upstream)
	_ = m.SetMTI("0420")
	must(t, m.SetString(11, "000123"))
	must(t, m.SetString(90, "020000012311221030150000000000000000000000"))
	must(t, m.Set(128, []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	wire, err := m.Pack(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(wire[4:36]) != "80200000000000000000004000000001" {
		t.Fatalf("bitmaps = %s", wire[4:36])
	}
	back := NewMessage(Upstream)
	must(t, back.Unpack(wire))
	if got := string(back.Field(90)); got != "020000012311221030150000000000000000000000" {
		t.Fatalf("field 90 = %s", got)
	}
	if back.MACOffset() != len(wire)-16 {
		t.Fatalf("MACOffset = %d", back.MACOffset())
	}
	// The terminal profile reads a secondary bitmap too.
	tm := NewMessage(Terminal)
	_ = tm.SetMTI("0200")
	must(t, tm.SetString(3, "000000"))
	must(t, tm.Set(128, []byte{8, 7, 6, 5, 4, 3, 2, 1}))
	tw, _ := tm.Pack(nil)
	tb := NewMessage(Terminal)
	must(t, tb.Unpack(tw))
	if !bytes.Equal(tb.Field(128), []byte{8, 7, 6, 5, 4, 3, 2, 1}) || len(tw) != 2+16+3+8 {
		t.Fatalf("terminal secondary bitmap: % X", tw)
	}
}

func TestCopyAcrossProfiles(t *testing.T) {
	src := terminalPurchase(t)
	dst := NewMessage(Upstream)
	if err := dst.CopyFrom(src); err != nil {
		t.Fatal(err)
	}
	for n := src.Next(0); n != 0; n = src.Next(n) {
		if !bytes.Equal(src.Field(n), dst.Field(n)) {
			t.Errorf("field %d differs after copy", n)
		}
	}
	// Field 7 is not in the terminal profile.
	up := upstreamPurchase(t)
	if err := NewMessage(Terminal).CopyFrom(up); !errors.Is(err, ErrUnknownField) {
		t.Fatalf("copy upstream → terminal: %v", err)
	}
}

func TestNext(t *testing.T) {
	m := NewMessage(Upstream)
	_ = m.SetMTI("0800")
	for _, n := range []int{2, 63, 64, 65, 70, 127, 128} {
		if err := m.SetString(n, strings.Repeat("1", 1)); err != nil {
			if err := m.Set(n, make([]byte, mustSpec(t, Upstream, n).Max)); err != nil {
				// fixed fields need their exact length
				v := strings.Repeat("1", mustSpec(t, Upstream, n).Max)
				must(t, m.SetString(n, v))
			}
		}
	}
	var got []int
	for n := m.Next(0); n != 0; n = m.Next(n) {
		got = append(got, n)
	}
	if !equalInts(got, []int{2, 63, 64, 65, 70, 127, 128}) {
		t.Fatalf("Next walk = %v", got)
	}
	m.Unset(64)
	if m.Has(64) || m.Next(63) != 65 {
		t.Fatalf("Unset(64): Has %v, Next(63) = %d", m.Has(64), m.Next(63))
	}
}

func TestRedaction(t *testing.T) {
	m := terminalPurchase(t)
	must(t, m.Set(62, []byte{0xDE, 0xAD, 0xBE, 0xEF}))
	s := m.String()
	for _, secret := range []string{testPAN, testTrack2, "7D6A7408DFE2E9E5", "9F2608", "3012", "DEADBEEF", "000018"} {
		if strings.Contains(s, secret) {
			t.Errorf("String() holds %q: %s", secret, s)
		}
	}
	for _, shown := range []string{"621234*********0018", "0200 {2:", "41:92336787", RedactedText, "02016000002"} {
		if !strings.Contains(s, shown) {
			t.Errorf("String() lacks %q: %s", shown, s)
		}
	}
	tests := []struct{ pan, want string }{
		{"6212340000000000018", "621234*********0018"},
		{"4000123456789010", "400012******9010"},
		{"1234567890123", "123456***0123"},
		{"123456789012", "********9012"},
		{"1234", "****"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(AppendMaskedPAN(nil, []byte(tt.pan))); got != tt.want {
			t.Errorf("mask %s = %s, want %s", tt.pan, got, tt.want)
		}
	}
}

func mustSpec(t *testing.T, p *Profile, n int) FieldSpec {
	t.Helper()
	f, ok := p.Field(n)
	if !ok {
		t.Fatalf("field %d not in %s", n, p.Name())
	}
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func hexOf(b []byte) []byte {
	out := make([]byte, 2*len(b))
	encodeHex(out, b)
	return out
}

func TestUnpackErrorKeepsEarlierFields(t *testing.T) {
	good, _ := terminalPurchase(t).Pack(nil)
	m := NewMessage(Terminal)
	// Cut inside field 64: every field before it is readable, 64 is not.
	if err := m.Unpack(good[:len(good)-3]); !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
	if string(m.Field(11)) != "000105" || string(m.Field(41)) != "92336787" || m.Has(64) {
		t.Fatalf("after the error: 11=%q 41=%q has64=%v", m.Field(11), m.Field(41), m.Has(64))
	}
}

// Hex fields of an unpacked message are checked by Unpack, decoded by the first Field and
// packed as they came while nobody read them.
func TestUpstreamHexFields(t *testing.T) {
	wire, err := upstreamPurchase(t).Pack(nil)
	if err != nil {
		t.Fatal(err)
	}
	icc := string(hexOf(iccData))
	at := bytes.Index(wire, []byte(icc))
	if at < 0 {
		t.Fatal("field 55 not found in the wire form")
	}
	lower := bytes.Clone(wire)
	copy(lower[at:], strings.ToLower(icc))

	m := NewMessage(Upstream)
	for _, tt := range []struct {
		name string
		wire []byte
	}{{"upper case", wire}, {"lower case", lower}} {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Unpack(tt.wire); err != nil {
				t.Fatal(err)
			}
			again, _ := m.Pack(nil)
			if !bytes.Equal(again, tt.wire) {
				t.Fatalf("unread hex field not packed as it came")
			}
			for range 2 { // the second read finds it decoded
				if got := m.Field(55); !bytes.Equal(got, iccData) {
					t.Fatalf("Field(55) = %X, want %X", got, iccData)
				}
			}
			again, _ = m.Pack(nil)
			if !bytes.Equal(again, wire) { // re-encoded: upper case
				t.Fatalf("decoded hex field packed differently")
			}
		})
	}

	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(55, []byte{0x9F, 0x26, 0x01, 0xAB}); err != nil {
		t.Fatal(err)
	}
	if got := m.Field(55); !bytes.Equal(got, []byte{0x9F, 0x26, 0x01, 0xAB}) {
		t.Fatalf("Field(55) after Set = %X", got)
	}
	out, _ := m.Pack(nil)
	if !bytes.Contains(out, []byte("0089F2601AB")) {
		t.Fatalf("Set value of field 55 not packed: %s", out)
	}

	for _, bad := range []string{"G", "g", ":", "@", "\x00", "\xC1"} {
		b := bytes.Clone(wire)
		b[at+len(icc)-1] = bad[0]
		if err := m.Unpack(b); !errors.Is(err, ErrInvalidChar) || !isField(err, 55) {
			t.Errorf("field 55 ending %q: err = %v, want ErrInvalidChar on field 55", bad, err)
		}
	}
}

func isField(err error, n int) bool {
	var fe *FieldError
	return errors.As(err, &fe) && fe.Field == n
}
