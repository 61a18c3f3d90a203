package hsm_test

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/des"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
)

// readVector returns the bytes of testdata/NAME.hex (the .txt beside it says where they come from).
func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newModule(t testing.TB) *hsm.Software {
	t.Helper()
	m, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func importKey(t testing.TB, m *hsm.Software, kt hsm.KeyType, hexKey string) hsm.WrappedKey {
	t.Helper()
	wk, err := m.ImportKey(kt, unhex(t, hexKey))
	if err != nil {
		t.Fatalf("ImportKey(%v): %v", kt, err)
	}
	return wk
}

// checkMAC checks a vector MAC through the module (generate and verify) and the terminal side.
func checkMAC(t *testing.T, m *hsm.Software, makHex string, a hsm.MACAlgorithm, mab, want []byte) {
	t.Helper()
	ctx := context.Background()
	mak := importKey(t, m, hsm.KeyMAK, makHex)
	got, err := m.GenerateMAC(ctx, mak, a, mab)
	if err != nil {
		t.Fatalf("GenerateMAC: %v", err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Errorf("module %v MAC = %X, want %X", a, got[:len(want)], want)
	}
	if len(want) == 8 {
		if err := m.VerifyMAC(ctx, mak, a, mab, want); err != nil {
			t.Errorf("VerifyMAC(vector MAC): %v", err)
		}
	}
	term, err := termcrypto.MAC(unhex(t, makHex), a, mab)
	if err != nil || term != got {
		t.Errorf("terminal %v MAC = %X (%v), module %X", a, term, err, got)
	}
}

func TestVectorCnblogsPurchaseMAC(t *testing.T) {
	frame := readVector(t, "cnblogs_0200_purchase_mac_verified")
	// 2-byte length, 5-byte TPDU, 6-byte header; the MAC is the last 8 bytes.
	mab, field64 := frame[13:len(frame)-8], frame[len(frame)-8:]
	if string(field64) != "B3A092AE" {
		t.Fatalf("vector field 64 = %q", field64)
	}
	checkMAC(t, newModule(t), "0723C80DB5F4CD3D0723C80DB5F4CD3D", hsm.MACPOSECB, mab, field64)
}

func TestVectorYoukuaiyunMAB(t *testing.T) {
	mab := readVector(t, "youkuaiyun_mac_demo_mab")
	// The page gives the TAK under the TMK and in clear; check the pair with plain 3DES.
	tmk := unhex(t, "70F2A84CCBC2AE8625CBB0F2C22AB923")
	b, err := des.NewTripleDESCipher(append(bytes.Clone(tmk), tmk[:8]...))
	if err != nil {
		t.Fatal(err)
	}
	tak := make([]byte, 8)
	b.Decrypt(tak, unhex(t, "96D605EA176B7E9E"))
	if got := hex.EncodeToString(tak); got != "c24a8fb57aa20123" {
		t.Fatalf("TAK under TMK decrypts to %s", got)
	}
	checkMAC(t, newModule(t), "C24A8FB57AA20123", hsm.MACPOSECB, mab, []byte("8A9E91B8"))
}

func TestVectorUMSSignOn003(t *testing.T) {
	f62 := readVector(t, "ums_signon_0810_field62_40byte")
	tmk := bytes.Repeat([]byte{0x44}, 16)
	w, err := termcrypto.DecodeSignOn(tmk, hsm.SignOn003, f62)
	if err != nil {
		t.Fatalf("DecodeSignOn: %v", err)
	}
	if got := strings.ToUpper(hex.EncodeToString(w.PIK)); got != "B5DAD5B316436DCEDF86160B85469DE6" {
		t.Errorf("PIK = %s", got)
	}
	if got := strings.ToUpper(hex.EncodeToString(w.MAK)); got != "85E52F31E03E5ECD" {
		t.Errorf("MAK = %s", got)
	}
	for _, k := range []struct {
		key  []byte
		want string
	}{{w.PIK, "68D0648C"}, {w.MAK, "44B1EB7C"}} {
		kcv, err := termcrypto.KCV(k.key)
		if err != nil || kcv.String() != k.want {
			t.Errorf("KCV = %v (%v), want %s", kcv, err, k.want)
		}
	}
	// The module computes the same KCVs when the keys are imported.
	m := newModule(t)
	if pik := importKey(t, m, hsm.KeyPIK, "B5DAD5B316436DCEDF86160B85469DE6"); pik.KCV.String() != "68D0648C" {
		t.Errorf("module PIK KCV = %v", pik.KCV)
	}
	if mak := importKey(t, m, hsm.KeyMAK, "85E52F31E03E5ECD"); mak.KCV.String() != "44B1EB7C" {
		t.Errorf("module MAK KCV = %v", mak.KCV)
	}
	dev, err := termcrypto.NewDevice(tmk)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.SignOn(hsm.SignOn003, f62); err != nil {
		t.Errorf("Device.SignOn: %v", err)
	}
}

func TestVectorPINBlockFormat0(t *testing.T) {
	want := readVector(t, "pinblock_x98_format0")
	pan := []byte("123456789012345678")
	clearBlock, err := termcrypto.PINBlock("123456", pan)
	if err != nil || !bytes.Equal(clearBlock[:], want) {
		t.Fatalf("PINBlock = %X (%v), want %X", clearBlock, err, want)
	}
	const umsPIK = "B5DAD5B316436DCEDF86160B85469DE6"
	field52, err := termcrypto.EncryptPINBlock(unhex(t, umsPIK), "123456", pan)
	if err != nil || strings.ToUpper(hex.EncodeToString(field52[:])) != "CB70ABBCB4E1386E" {
		t.Fatalf("EncryptPINBlock = %X (%v), want CB70ABBCB4E1386E", field52, err)
	}

	// The module translates the vector block to a ZPK; the ZPK side finds the same PIN.
	ctx := context.Background()
	m := newModule(t)
	pik := importKey(t, m, hsm.KeyPIK, umsPIK)
	zpk := importKey(t, m, hsm.KeyZPK, "0123456789ABCDEFFEDCBA9876543210")
	out, err := m.TranslatePIN(ctx, pik, zpk, field52[:], pan)
	if err != nil {
		t.Fatalf("TranslatePIN: %v", err)
	}
	zb, _ := des.NewTripleDESCipher(unhex(t, "0123456789ABCDEFFEDCBA98765432100123456789ABCDEF"))
	var got [8]byte
	zb.Decrypt(got[:], out[:])
	if !bytes.Equal(got[:], want) {
		t.Errorf("translated block decrypts to %X under the ZPK, want %X", got, want)
	}
	for pin, ok := range map[string]bool{"123456": true, "123457": false, "1234": false} {
		if res, err := m.VerifyPIN(ctx, zpk, out[:], pan, pin); err != nil || res != ok {
			t.Errorf("VerifyPIN(%s) = %v, %v; want %v", pin, res, err, ok)
		}
	}
}

func TestVectorX919(t *testing.T) {
	m := newModule(t)
	const key = "0123456789ABCDEFFEDCBA9876543210"
	checkMAC(t, m, key, hsm.MACX919, []byte("Now is the time for all "), unhex(t, "A1C72E74"))
	checkMAC(t, m, key, hsm.MACX919, []byte("Now is the time for it"), unhex(t, "2E2B1428"))
}

// With a single-length key X9.19 is the DES CBC-MAC (ANSI X9.9): cross-check against the
// standard library's CBC mode.
func TestX919SingleLengthIsCBCMAC(t *testing.T) {
	key := unhex(t, "0123456789ABCDEF")
	b, _ := des.NewCipher(key)
	mab := []byte("7654321 Now is the time for \x00\x00\x00\x00")
	cbc := make([]byte, len(mab))
	cipher.NewCBCEncrypter(b, make([]byte, 8)).CryptBlocks(cbc, mab)
	checkMAC(t, newModule(t), "0123456789ABCDEF", hsm.MACX919, mab[:28], cbc[len(cbc)-8:])
	// And the double-length form with equal halves is the same MAC.
	checkMAC(t, newModule(t), "0123456789ABCDEF0123456789ABCDEF", hsm.MACX919, mab[:28], cbc[len(cbc)-8:])
}

func TestTrackWindowVector(t *testing.T) {
	// testdata/track_window_xrtinfo.txt: TDB2 of this track is 0820178199916830.
	track := unhex(t, "1234567890123456789D05082017819991683020")
	ctx := context.Background()
	m := newModule(t)
	const tdkHex = "0123456789ABCDEFFEDCBA9876543210"
	tdk := importKey(t, m, hsm.KeyTDK, tdkHex)
	enc, err := termcrypto.EncryptTrack(unhex(t, tdkHex), nil, track)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := des.NewTripleDESCipher(unhex(t, tdkHex+"0123456789ABCDEF"))
	var want [8]byte
	b.Encrypt(want[:], unhex(t, "0820178199916830"))
	if !bytes.Equal(enc[11:19], want[:]) || !bytes.Equal(enc[:11], track[:11]) || enc[19] != track[19] {
		t.Fatalf("EncryptTrack = %X; want TDB2 encrypted in bytes 11..18 only", enc)
	}
	got, err := m.DecryptTrack(ctx, nil, tdk, enc)
	if err != nil || !bytes.Equal(got, track) {
		t.Fatalf("DecryptTrack = %X, %v", got, err)
	}
	// In place.
	got, err = m.DecryptTrack(ctx, enc[:0], tdk, enc)
	if err != nil || !bytes.Equal(got, track) || !bytes.Equal(enc, track) {
		t.Fatalf("DecryptTrack in place = %X, %v", got, err)
	}
	// Under the wrong TDK the window is not track digits.
	other := importKey(t, m, hsm.KeyTDK, "FEDCBA98765432100123456789ABCDEF")
	enc, _ = termcrypto.EncryptTrack(unhex(t, tdkHex), nil, track)
	if _, err := m.DecryptTrack(ctx, nil, other, enc); !errors.Is(err, hsm.ErrTrack) {
		t.Errorf("DecryptTrack under another TDK: got %v, want ErrTrack", err)
	}
}
