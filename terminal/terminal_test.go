package terminal

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/hsm"
)

func TestBatch(t *testing.T) {
	tests := []struct {
		in      string
		want    Batch
		wantErr bool
	}{
		{"000001", 1, false},
		{"999999", 999999, false},
		{"000123", 123, false},
		{"000000", 0, true},
		{"12345", 0, true},
		{"1234567", 0, true},
		{"00012a", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseBatch(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseBatch(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), tc.in)) {
			t.Errorf("ParseBatch(%q) error %q: want ErrInvalid without the value", tc.in, err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("Batch(%d).String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	for _, c := range []struct{ b, next Batch }{{1, 2}, {999998, 999999}, {999999, 1}} {
		if got := c.b.Next(); got != c.next {
			t.Errorf("%v.Next() = %v, want %v", c.b, got, c.next)
		}
	}
	if got := string(Batch(42).AppendTo([]byte("b="))); got != "b=000042" {
		t.Errorf("AppendTo = %q", got)
	}
}

func TestOperators(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{nil, "01", false},
		{[]string{"02 ", "01", "02"}, "01,02", false},
		{[]string{"123"}, "123", false},
		{[]string{"1"}, "", true},
		{[]string{"1234"}, "", true},
		{[]string{"0 1"}, "", true},
		{[]string{"0,"}, "", true},
	}
	for _, tc := range tests {
		got, err := NormalizeOperators(tc.in)
		if (err != nil) != tc.wantErr || got.String() != tc.want {
			t.Errorf("NormalizeOperators(%q) = %q, %v; want %q, err %v", tc.in, got.String(), err, tc.want, tc.wantErr)
		}
	}
	ops, _ := ParseOperators("01,02")
	for _, c := range []struct {
		op   string
		want bool
	}{{"01 ", true}, {"01", true}, {"02", true}, {"03 ", false}, {"", false}} {
		if got := ops.Has(c.op); got != c.want {
			t.Errorf("Has(%q) = %v, want %v", c.op, got, c.want)
		}
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		field string
	}{
		{"TID ok", ValidTID("1000 001"), ""},
		{"TID short", ValidTID("1000001"), "TID"},
		{"TID brace", ValidTID("1000{01}"), "TID"},
		{"MID ok", ValidMID("898310048161234"), ""},
		{"MID long", ValidMID("8983100481612345"), "MID"},
		{"MCC ok", ValidMCC("5411"), ""},
		{"MCC letters", ValidMCC("54x1"), "MCC"},
		{"SN ok", ValidSN("000001024501ABC123"), ""},
		{"SN empty", ValidSN(""), "SN"},
		{"SN space", ValidSN("A B"), "SN"},
		{"SN 51", ValidSN(strings.Repeat("A", 51)), "SN"},
		{"SN 50", ValidSN(strings.Repeat("A", 50)), ""},
		{"version 9", ValidSoftwareVersion("123456789"), "SoftwareVersion"},
		{"verifier type", ValidVerifier(hsm.WrappedKey{Type: hsm.KeyTMK, Cipher: []byte{1}}), "Verifier"},
		{"TMK ok", ValidTMK(hsm.WrappedKey{Type: hsm.KeyTMK, Cipher: []byte{1}}), ""},
	}
	for _, tc := range tests {
		var fe *FieldError
		switch {
		case tc.field == "" && tc.err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, tc.err)
		case tc.field != "" && (!errors.As(tc.err, &fe) || fe.Field != tc.field || !errors.Is(tc.err, ErrInvalid)):
			t.Errorf("%s: got %v, want FieldError for %s", tc.name, tc.err, tc.field)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		err  error
		want error
		text string
	}{
		{&RecordError{Kind: KindTerminal, ID: "10000001", Err: ErrNotFound}, ErrNotFound, `terminal: terminal "10000001": not found`},
		{&StatusError{TID: "10000001", Status: StatusBlocked, Reason: ReasonStolen}, ErrBlocked, `terminal: terminal "10000001": blocked (stolen)`},
		{&StatusError{TID: "10000001", Status: StatusPending}, ErrNotActive, `terminal: terminal "10000001": pending`},
		{&SNBoundError{SN: "SN1", TID: "10000002"}, ErrSNBound, `terminal: serial number "SN1" bound to terminal "10000002"`},
		{&FieldError{Field: "MCC", Reason: "must be 4 digits"}, ErrInvalid, "terminal: invalid MCC: must be 4 digits"},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%T does not unwrap to %v", tc.err, tc.want)
		}
		if tc.err.Error() != tc.text {
			t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.text)
		}
	}
}

func TestNeedsSoftwareUpdate(t *testing.T) {
	tests := []struct {
		have, target string
		want         bool
	}{
		{"V1", "", false},
		{"", "V1", true},
		{"100", "99", false},
		{"99", "100", true},
		{"V1.2", "V1.10", false}, // not numeric: byte-wise
		{"V1.2", "V1.3", true},
		{"V1.3  ", "V1.3", false},
	}
	for _, tc := range tests {
		x := Terminal{SoftwareVersion: tc.have, TargetVersion: tc.target}
		if got := x.NeedsSoftwareUpdate(); got != tc.want {
			t.Errorf("have %q target %q: got %v, want %v", tc.have, tc.target, got, tc.want)
		}
	}
}

func TestClone(t *testing.T) {
	orig := Terminal{TID: "10000001", Operators: Operators{"01"},
		Keys: Keys{TMK: hsm.WrappedKey{Type: hsm.KeyTMK, Cipher: []byte{1, 2}}, MAK: hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: []byte{3}}}}
	c := orig.Clone()
	c.Operators[0] = "99"
	c.Keys.TMK.Cipher[0] = 9
	c.Keys.TMK.Cipher = append(c.Keys.TMK.Cipher, 7) // must not spill into MAK's bytes
	if orig.Operators[0] != "01" || orig.Keys.TMK.Cipher[0] != 1 || c.Keys.MAK.Cipher[0] != 3 {
		t.Errorf("Clone shares memory: orig %+v clone %+v", orig, c)
	}
	if z := (&Terminal{}).Clone(); z.Operators != nil || z.Keys.TMK.Cipher != nil {
		t.Errorf("Clone of zero terminal allocated: %+v", z)
	}
}

func TestStatusText(t *testing.T) {
	for _, s := range []Status{StatusPending, StatusActive, StatusBlocked} {
		b, err := s.MarshalText()
		var back Status
		if err != nil || back.UnmarshalText(b) != nil || back != s {
			t.Errorf("Status %v round trip: %q, %v → %v", s, b, err, back)
		}
	}
	if _, err := Status(0).MarshalText(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Status(0).MarshalText: %v", err)
	}
	for _, r := range []BlockReason{ReasonNone, ReasonLost, ReasonStolen, ReasonOther} {
		b, _ := r.MarshalText()
		var back BlockReason
		if back.UnmarshalText(b) != nil || back != r {
			t.Errorf("BlockReason %v round trip failed", r)
		}
	}
}

func TestSignOnFresh(t *testing.T) {
	for _, c := range []struct {
		next, last uint64
		want       bool
	}{
		{SignOnSeq(1, 1), 0, true},
		{SignOnSeq(1, 2), SignOnSeq(1, 1), true},
		{SignOnSeq(1, 1), SignOnSeq(1, 1), false},
		{SignOnSeq(1, 1), SignOnSeq(1, 2), false},
		{SignOnSeq(2, 1), SignOnSeq(1, 999999), true},
		{SignOnSeq(1, 999999), SignOnSeq(2, 1), false},
		// The batch counter wraps (999999 → 000001): the order survives.
		{SignOnSeq(1, 5), SignOnSeq(999999, 7), true},
		{SignOnSeq(999999, 7), SignOnSeq(1, 5), false},
	} {
		if got := SignOnFresh(c.next, c.last); got != c.want {
			t.Errorf("SignOnFresh(%d, %d) = %v, want %v", c.next, c.last, got, c.want)
		}
	}
}

func TestProofDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{
		1: 0, FreeProofs: 0, FreeProofs + 1: ProofBackoffBase,
		FreeProofs + 2: 2 * ProofBackoffBase, FreeProofs + 4: 8 * ProofBackoffBase,
		FreeProofs + 40: MaxProofBackoff, 1 << 20: MaxProofBackoff,
	} {
		if got := ProofDelay(n); got != want {
			t.Errorf("ProofDelay(%d) = %v, want %v", n, got, want)
		}
	}
}
