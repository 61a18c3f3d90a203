package termcrypto_test

import (
	"bytes"
	"crypto/des"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// field62 builds a field 62 by hand with 3DES-ECB under tmk: each key encrypted, then its KCV;
// outside 001 an 8-byte MAK (the second key) is followed by 8 zero bytes.
func field62(t *testing.T, tmk []byte, layout hsm.SignOnLayout, keys ...[]byte) []byte {
	t.Helper()
	b, err := des.NewTripleDESCipher(append(bytes.Clone(tmk), tmk[:8]...))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i, k := range keys {
		enc := make([]byte, len(k))
		for i := 0; i < len(k); i += 8 {
			b.Encrypt(enc[i:i+8], k[i:i+8])
		}
		kcv, err := termcrypto.KCV(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, enc...)
		if i == 1 && layout != hsm.SignOn001 && len(k) == 8 {
			out = append(out, make([]byte, 8)...)
		}
		out = append(out, kcv[:]...)
	}
	return out
}

func TestDecodeSignOnLayouts(t *testing.T) {
	tmk := bytes.Repeat([]byte{0x44}, 16)
	pik8, pik16 := unhex(t, "0123456789ABCDEF"), unhex(t, "B5DAD5B316436DCEDF86160B85469DE6")
	mak, tdk := unhex(t, "85E52F31E03E5ECD"), unhex(t, "FEDCBA98765432100123456789ABCDEF")

	f001 := field62(t, tmk, hsm.SignOn001, pik8, mak)
	f003 := field62(t, tmk, hsm.SignOn003, pik16, mak)
	f004 := field62(t, tmk, hsm.SignOn004, pik16, mak, tdk)
	ums := unhex(t, "84772DAE453EC6D67583327B0237513268D0648C90F1788856631952000000000000000044B1EB7C")
	if !bytes.Equal(field62(t, tmk, hsm.SignOn003, unhex(t, "B5DAD5B316436DCEDF86160B85469DE6"), mak), ums) {
		t.Fatal("hand-built 003 differs from the UMS vector")
	}
	for _, tc := range []struct {
		layout hsm.SignOnLayout
		f      []byte
		want   termcrypto.WorkingKeys
	}{
		{hsm.SignOn001, f001, termcrypto.WorkingKeys{PIK: pik8, MAK: mak}},
		{hsm.SignOn003, f003, termcrypto.WorkingKeys{PIK: pik16, MAK: mak}},
		{hsm.SignOn004, f004, termcrypto.WorkingKeys{PIK: pik16, MAK: mak, TDK: tdk}},
	} {
		if len(tc.f) != tc.layout.Field62Len() {
			t.Fatalf("%v: built %d bytes, want %d", tc.layout, len(tc.f), tc.layout.Field62Len())
		}
		w, err := termcrypto.DecodeSignOn(tmk, tc.layout, tc.f)
		if err != nil {
			t.Fatalf("%v: %v", tc.layout, err)
		}
		if !bytes.Equal(w.PIK, tc.want.PIK) || !bytes.Equal(w.MAK, tc.want.MAK) || !bytes.Equal(w.TDK, tc.want.TDK) {
			t.Errorf("%v: decoded keys differ", tc.layout)
		}
		if _, err := termcrypto.DecodeSignOn(tmk, tc.layout, append(tc.f, 0)); !errors.Is(err, hsm.ErrSignOnLayout) {
			t.Errorf("%v with a byte too many: got %v", tc.layout, err)
		}
		bad := bytes.Clone(tc.f)
		bad[len(bad)-1] ^= 0x80
		var ke *termcrypto.KCVError
		if _, err := termcrypto.DecodeSignOn(tmk, tc.layout, bad); !errors.Is(err, hsm.ErrKCV) || !errors.As(err, &ke) {
			t.Errorf("%v with the last KCV altered: got %v", tc.layout, err)
		}
	}

	// Some acquirers fill the 16-byte MAK slot of 003 with a double-length MAK: accepted.
	mak16 := unhex(t, "85E52F31E03E5ECD0123456789ABCDEF")
	b, _ := des.NewTripleDESCipher(append(bytes.Clone(tmk), tmk[:8]...))
	f := bytes.Clone(f003)
	for i := 0; i < 16; i += 8 {
		b.Encrypt(f[20+i:28+i], mak16[i:i+8])
	}
	kcv, _ := termcrypto.KCV(mak16)
	copy(f[36:], kcv[:])
	w, err := termcrypto.DecodeSignOn(tmk, hsm.SignOn003, f)
	if err != nil || !bytes.Equal(w.MAK, mak16) {
		t.Fatalf("003 with a double-length MAK: %X, %v", w.MAK, err)
	}
}

func TestDeviceBeforeSignOn(t *testing.T) {
	d, err := termcrypto.NewDevice(bytes.Repeat([]byte{0x44}, 16))
	if err != nil {
		t.Fatal(err)
	}
	if d.SignedOn() {
		t.Fatal("new device reports working keys")
	}
	if _, err := d.MAC(hsm.MACPOSECB, []byte("x")); !errors.Is(err, termcrypto.ErrNotSignedOn) {
		t.Errorf("MAC: %v", err)
	}
	if _, err := d.EncryptPIN("1234", []byte("6222021234567890123")); !errors.Is(err, termcrypto.ErrNotSignedOn) {
		t.Errorf("EncryptPIN: %v", err)
	}
	if _, err := d.EncryptTrack(nil, make([]byte, 19)); !errors.Is(err, termcrypto.ErrNotSignedOn) {
		t.Errorf("EncryptTrack: %v", err)
	}
	if _, err := termcrypto.NewDevice(make([]byte, 24)); !errors.Is(err, hsm.ErrKeyLength) {
		t.Errorf("NewDevice(24 bytes): %v", err)
	}
	// A failed sign-on keeps the device as it was.
	if err := d.SignOn(hsm.SignOn003, make([]byte, 40)); !errors.Is(err, hsm.ErrKCV) || d.SignedOn() {
		t.Errorf("SignOn(zero field 62) = %v, signed on %v", err, d.SignedOn())
	}
}

// MACs computed while sign-ons swap the keys are made with one key set or the other, never a mix.
func TestDeviceConcurrentSignOn(t *testing.T) {
	tmk := bytes.Repeat([]byte{0x44}, 16)
	d, _ := termcrypto.NewDevice(tmk)
	mak1, mak2 := unhex(t, "85E52F31E03E5ECD"), unhex(t, "0123456789ABCDEF")
	pik := unhex(t, "B5DAD5B316436DCEDF86160B85469DE6")
	f1, f2 := field62(t, tmk, hsm.SignOn003, pik, mak1), field62(t, tmk, hsm.SignOn003, pik, mak2)
	if err := d.SignOn(hsm.SignOn003, f1); err != nil {
		t.Fatal(err)
	}
	mab := []byte("0200 message body")
	m1, _ := termcrypto.MAC(mak1, hsm.MACPOSECB, mab)
	m2, _ := termcrypto.MAC(mak2, hsm.MACPOSECB, mab)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			f := f1
			if i%2 == 0 {
				f = f2
			}
			if err := d.SignOn(hsm.SignOn003, f); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 500 {
				got, err := d.MAC(hsm.MACPOSECB, mab)
				if err != nil || (got != m1 && got != m2) {
					t.Errorf("MAC during sign-on = %q, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestOpenTMK(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmk := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	kcv, _ := termcrypto.KCV(tmk)
	enc, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, tmk, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := termcrypto.OpenTMK(priv, enc, kcv)
	if err != nil || !bytes.Equal(got, tmk) {
		t.Fatalf("OpenTMK = %v", err)
	}
	if _, err := termcrypto.OpenTMK(priv, enc, hsm.KCV{1, 2, 3, 4}); !errors.Is(err, hsm.ErrKCV) {
		t.Errorf("wrong KCV: %v", err)
	}
	enc[10] ^= 1
	if _, err := termcrypto.OpenTMK(priv, enc, kcv); !errors.Is(err, hsm.ErrKCV) {
		t.Errorf("corrupted cipher text: %v", err)
	}
}

func FuzzDecodeSignOn(f *testing.F) {
	f.Add(uint8(2), unhex(f, "84772DAE453EC6D67583327B0237513268D0648C90F1788856631952000000000000000044B1EB7C"))
	f.Add(uint8(1), make([]byte, 24))
	f.Add(uint8(3), make([]byte, 60))
	tmk := bytes.Repeat([]byte{0x44}, 16)
	f.Fuzz(func(t *testing.T, layout uint8, b []byte) {
		w, err := termcrypto.DecodeSignOn(tmk, hsm.SignOnLayout(layout), b)
		if err == nil && (len(w.PIK) == 0 || len(w.MAK) == 0) {
			t.Fatal("success without keys")
		}
	})
}

// The worked examples of docs/hsm.md. They are posgate's own algorithms, so the values were
// computed here; they were cross-checked with openssl (des-ede, des-cbc, des-ecb, dgst -hmac) and
// sha256sum, as docs/hsm.md shows.
func TestDocExamples(t *testing.T) {
	tmk := unhex(t, "0123456789ABCDEFFEDCBA9876543210")
	sn := []byte("000024039991810100000206")
	for random, want := range map[string]string{"156983": "7D768798", "": "11F4CADF"} {
		c, err := termcrypto.SNCipher(tmk, sn, []byte(random))
		if err != nil || string(c[:]) != want {
			t.Errorf("SNCipher(random %q) = %s, %v; want %s", random, c[:], err, want)
		}
	}
	proof, err := termcrypto.ActivationProof("1234-5678-9012-3456-7890", sn, []byte{0x30, 0x00})
	if err != nil || hex.EncodeToString(proof) != "abea6253089dd1467156a0cb6581c3544e3d5935cadcf2fffec062ad6b571550" {
		t.Errorf("ActivationProof = %x, %v", proof, err)
	}
	if kcv, _ := termcrypto.KCV(tmk); kcv.String() != "08D7B4FB" {
		t.Errorf("KCV = %v", kcv)
	}
}
