package alg

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The youkuaiyun page (hsm/testdata/youkuaiyun_mac_demo_mab.txt) shows the first steps of the XOR
// chain of POS ECB.
func TestXORChainYoukuaiyun(t *testing.T) {
	mab := unhex(t, "0200302004C020C0981100000000000000005100183402100006324392260009942820D1312101120084393136363838303134303030303030303030303030303031313536ACF46E73838A82F92600000000000000000822000001")
	for n, want := range map[int]uint64{16: 0x9A11302004C020C0, 24: 0x9A1161201CF422D0, 32: 0x9A1753638ED222D9, len(mab): 0x4D08F434464FE7BF} {
		if got := xorBlocks(mab[:n]); got != want {
			t.Errorf("XOR of the first %d bytes = %016X, want %016X", n, got, want)
		}
	}
}

func TestSetOddParity(t *testing.T) {
	k := unhex(t, "0000FFFE0102A5")
	SetOddParity(k)
	if got := hex.EncodeToString(k); got != "0101fefe0102a4" {
		t.Errorf("SetOddParity = %s", got)
	}
}

func TestPANField(t *testing.T) {
	tests := []struct {
		pan, want string
		err       error
	}{
		{"123456789012345678", "0000678901234567", nil}, // ISO 9564 worked example (pinblock_x98_format0)
		{"4000001234562", "0000400000123456", nil},      // 13 digits: 12 before the check digit
		{"400000123456", "0000040000012345", nil},       // 12 digits: 11 before the check digit, zero-padded
		{"40000012345", "", ErrPAN},
		{"40000012345678901234", "", ErrPAN},
		{"4000001234567890D23", "", ErrPAN},
	}
	for _, tc := range tests {
		got, err := PANField([]byte(tc.pan))
		if !errors.Is(err, tc.err) {
			t.Errorf("PANField(%d digits): err %v, want %v", len(tc.pan), err, tc.err)
			continue
		}
		if err == nil && hex.EncodeToString(got[:]) != tc.want {
			t.Errorf("PANField(%s) = %X, want %s", tc.pan, got, tc.want)
		}
	}
}

func TestPINField(t *testing.T) {
	f, err := PINField([]byte("123456"))
	if err != nil || hex.EncodeToString(f[:]) != "06123456ffffffff" {
		t.Fatalf("PINField = %X, %v", f, err)
	}
	f, err = PINField([]byte("123456789012"))
	if err != nil || hex.EncodeToString(f[:]) != "0c123456789012ff" {
		t.Fatalf("PINField(12 digits) = %X, %v", f, err)
	}
	for _, bad := range []string{"", "123", "1234567890123", "12a4"} {
		if _, err := PINField([]byte(bad)); !errors.Is(err, ErrPIN) {
			t.Errorf("PINField(bad): got %v", err)
		}
	}
	if n, err := CheckPINField(f); err != nil || n != 12 {
		t.Errorf("CheckPINField(valid) = %d, %v", n, err)
	}
}

func TestTrackWindow(t *testing.T) {
	if _, _, err := TrackWindow(make([]byte, 8)); !errors.Is(err, ErrTrack) {
		t.Errorf("8 bytes: %v", err)
	}
	track := unhex(t, "1234567890123456789D05082017819991683020")
	lo, hi, err := TrackWindow(track)
	if err != nil || !bytes.Equal(track[lo:hi], unhex(t, "0820178199916830")) {
		t.Errorf("window = %X, %v", track[lo:hi], err)
	}
	if !CheckTrackDigits(track[:19]) || CheckTrackDigits([]byte{0x1A}) || CheckTrackDigits([]byte{0xF1}) {
		t.Error("CheckTrackDigits")
	}
}

func TestNormalizeActivationCode(t *testing.T) {
	for in, want := range map[string]string{
		"1234-5678-9012-3456-7890":  "12345678901234567890",
		" 1234 5678 9012 3456 7890": "12345678901234567890",
		"12345678901234567890":      "12345678901234567890",
	} {
		if got, err := NormalizeActivationCode(in); err != nil || got != want {
			t.Errorf("NormalizeActivationCode = %q, %v", got, err)
		}
	}
	if got := FormatActivationCode("12345678901234567890"); got != "1234-5678-9012-3456-7890" {
		t.Errorf("FormatActivationCode = %q", got)
	}
}

func TestX919EmptyIsOneZeroBlock(t *testing.T) {
	k1, k2, _ := X919Blocks(unhex(t, "0123456789ABCDEFFEDCBA9876543210"))
	var s Scratch
	if X919(k1, k2, nil, &s) != X919(k1, k2, make([]byte, 8), &s) {
		t.Error("empty data differs from one zero block")
	}
}
