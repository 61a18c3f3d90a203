package hsm_test

import (
	"bytes"
	"context"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/hsmtest"
	"github.com/posgate/posgate/hsm/termcrypto"
)

func TestTamperedWrappedKey(t *testing.T) {
	ctx := context.Background()
	m := newModule(t)
	mak := importKey(t, m, hsm.KeyMAK, "0123456789ABCDEFFEDCBA9876543210")
	mab := []byte("0200 message")
	if _, err := m.GenerateMAC(ctx, mak, hsm.MACPOSECB, mab); err != nil {
		t.Fatal(err) // puts the key in the cache: tampering must be caught on a hit as well
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x01; return b }
	tests := []struct {
		name string
		key  hsm.WrappedKey
		want error
	}{
		{"cipher text bit", hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: flip(mak.Cipher, 20), KCV: mak.KCV}, hsm.ErrKeyIntegrity},
		{"tag bit", hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: flip(mak.Cipher, len(mak.Cipher)-1), KCV: mak.KCV}, hsm.ErrKeyIntegrity},
		{"nonce bit", hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: flip(mak.Cipher, 1), KCV: mak.KCV}, hsm.ErrKeyIntegrity},
		{"KCV", hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: mak.Cipher, KCV: hsm.KCV{1, 2, 3, 4}}, hsm.ErrKeyIntegrity},
		{"version", hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: flip(mak.Cipher, 0), KCV: mak.KCV}, hsm.ErrWrappedKey},
		{"truncated", hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: mak.Cipher[:20], KCV: mak.KCV}, hsm.ErrWrappedKey},
		{"empty", hsm.WrappedKey{Type: hsm.KeyMAK}, hsm.ErrWrappedKey},
		{"type relabelled", hsm.WrappedKey{Type: hsm.KeyPIK, Cipher: mak.Cipher, KCV: mak.KCV}, hsm.ErrKeyType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.GenerateMAC(ctx, tc.key, hsm.MACPOSECB, mab)
			if !errors.Is(err, tc.want) {
				t.Fatalf("GenerateMAC: got %v, want %v", err, tc.want)
			}
		})
	}
	// A PIK relabelled as a MAK passes the type check but not the AEAD (the type is bound in).
	pik := importKey(t, m, hsm.KeyPIK, "0123456789ABCDEFFEDCBA9876543210")
	if _, err := m.GenerateMAC(ctx, hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: pik.Cipher, KCV: pik.KCV}, hsm.MACPOSECB, mab); !errors.Is(err, hsm.ErrKeyIntegrity) {
		t.Errorf("PIK relabelled as MAK: got %v, want ErrKeyIntegrity", err)
	}
	// A key wrapped under another LMK.
	if _, err := newModule(t).GenerateMAC(ctx, mak, hsm.MACPOSECB, mab); !errors.Is(err, hsm.ErrKeyIntegrity) {
		t.Errorf("key from another LMK: got %v, want ErrKeyIntegrity", err)
	}
}

func TestImportKeyRejects(t *testing.T) {
	m := newModule(t)
	if _, err := m.ImportKey(hsm.KeyMAK, make([]byte, 24)); !errors.Is(err, hsm.ErrKeyLength) {
		t.Errorf("24-byte MAK: got %v, want ErrKeyLength", err)
	}
	if _, err := m.ImportKey(hsm.KeyACV, make([]byte, 32)); !errors.Is(err, hsm.ErrKeyType) {
		t.Errorf("ACV import: got %v, want ErrKeyType", err)
	}
	if _, err := m.ImportKey(hsm.KeyType(99), make([]byte, 16)); !errors.Is(err, hsm.ErrKeyType) {
		t.Errorf("unknown type: got %v, want ErrKeyType", err)
	}
}

func TestActivationRejectsNonRSA(t *testing.T) {
	ctx := context.Background()
	m := newModule(t)
	code, err := m.NewActivationCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	sn := []byte("SN1")
	proof, _ := termcrypto.ActivationProof(code.Code, sn, der)
	if _, err := m.Activate(ctx, code.Verifier, sn, der, proof); !errors.Is(err, hsm.ErrPublicKey) {
		t.Errorf("EC key: got %v, want ErrPublicKey", err)
	}
	junk := []byte("not DER")
	proof, _ = termcrypto.ActivationProof(code.Code, sn, junk)
	if _, err := m.Activate(ctx, code.Verifier, sn, junk, proof); !errors.Is(err, hsm.ErrPublicKey) {
		t.Errorf("junk key: got %v, want ErrPublicKey", err)
	}
	// A verifier cannot be used as any other key, nor another key as a verifier.
	if _, err := m.GenerateMAC(ctx, code.Verifier, hsm.MACPOSECB, sn); !errors.Is(err, hsm.ErrKeyType) {
		t.Errorf("ACV as MAK: got %v, want ErrKeyType", err)
	}
	tmk, _ := m.GenerateKey(ctx, hsm.KeyTMK)
	if _, err := m.Activate(ctx, tmk, sn, der, proof); !errors.Is(err, hsm.ErrKeyType) {
		t.Errorf("TMK as ACV: got %v, want ErrKeyType", err)
	}
	if code.Verifier.KCV != (hsm.KCV{}) {
		t.Errorf("ACV carries a KCV (%v): it would let guesses of the code be tested", code.Verifier.KCV)
	}
}

func TestActivationCodeFormat(t *testing.T) {
	ctx := context.Background()
	m := newModule(t)
	seen := map[string]bool{}
	var c hsm.ActivationCode
	for range 50 {
		var err error
		if c, err = m.NewActivationCode(ctx); err != nil {
			t.Fatal(err)
		}
		if len(c.Code) != 24 || strings.Count(c.Code, "-") != 4 || strings.Trim(c.Code, "0123456789-") != "" {
			t.Fatal("code is not of the form dddd-dddd-dddd-dddd-dddd")
		}
		if seen[c.Code] {
			t.Fatal("activation code repeated")
		}
		seen[c.Code] = true
	}
	plain := strings.ReplaceAll(c.Code, "-", "")
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %x %d", c, c, c, c, c, c)} {
		if strings.Contains(s, c.Code) || strings.Contains(s, plain) {
			t.Fatal("formatting an ActivationCode prints the code")
		}
	}
	// However the operator groups the digits, the proof is the same.
	priv := hsmtest.RSAKey(t)
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	p1, _ := termcrypto.ActivationProof(c.Code, []byte("SN"), pub)
	p2, err := termcrypto.ActivationProof(" "+plain[:10]+" "+plain[10:], []byte("SN"), pub)
	if err != nil || !bytes.Equal(p1, p2) {
		t.Fatalf("proof depends on the code's grouping (%v)", err)
	}
	for _, bad := range []string{"", "1234", "1234-5678-9012-3456-789", "1234-5678-9012-3456-78901", "1234-5678-9012-3456-789O"} {
		if _, err := m.ActivationVerifier(ctx, bad); !errors.Is(err, hsm.ErrActivationCode) {
			t.Errorf("ActivationVerifier(malformed): got %v, want ErrActivationCode", err)
		}
	}
}

func TestPINBlockErrors(t *testing.T) {
	ctx := context.Background()
	m := newModule(t)
	const pikHex = "B5DAD5B316436DCEDF86160B85469DE6"
	pik := importKey(t, m, hsm.KeyPIK, pikHex)
	zpk, _ := m.GenerateKey(ctx, hsm.KeyZPK)
	pan := []byte("123456789012345678")
	// Encrypt hand-made clear PIN fields XOR the PAN field under the PIK.
	panField := unhex(t, "0000678901234567")
	mk := func(pinField string) []byte {
		f := unhex(t, pinField)
		for i := range f {
			f[i] ^= panField[i]
		}
		b, err := des.NewTripleDESCipher(unhex(t, pikHex+pikHex[:16]))
		if err != nil {
			t.Fatal(err)
		}
		b.Encrypt(f, f)
		return f
	}
	tests := []struct {
		name     string
		pinField string
		reason   hsm.PINBlockReason
	}{
		{"format 1", "16123456FFFFFFFF", hsm.PINBlockFormat},
		{"length 3", "03123FFFFFFFFFFF", hsm.PINBlockLength},
		{"length 13", "0D123456789012FF", hsm.PINBlockLength},
		{"digit", "041A34FFFFFFFFFF", hsm.PINBlockDigit},
		{"filler", "041234FFFFFFFF0F", hsm.PINBlockFiller},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.TranslatePIN(ctx, pik, zpk, mk(tc.pinField), pan)
			var pbe *hsm.PINBlockError
			if !errors.Is(err, hsm.ErrPINBlock) || !errors.As(err, &pbe) || pbe.Reason != tc.reason {
				t.Fatalf("TranslatePIN: got %v, want PINBlockError{%v}", err, tc.reason)
			}
		})
	}
	if _, err := m.TranslatePIN(ctx, pik, zpk, mk("0C123456789012FF"), pan); err != nil {
		t.Errorf("12-digit PIN: %v", err)
	}
}

// TestNoSecretsInErrors drives every failure with known keys, PIN, PAN, blocks and track data and
// checks that no error text contains any of them, in hex of either case or as text.
func TestNoSecretsInErrors(t *testing.T) {
	ctx := context.Background()
	m := newModule(t)
	const (
		keyHex = "B5DAD5B316436DCEDF86160B85469DE6"
		pin    = "987654"
		panStr = "6222021234567890123"
	)
	pan := []byte(panStr)
	key := unhex(t, keyHex)
	pik := importKey(t, m, hsm.KeyPIK, keyHex)
	mak := importKey(t, m, hsm.KeyMAK, keyHex)
	tdk := importKey(t, m, hsm.KeyTDK, keyHex)
	tmk := importKey(t, m, hsm.KeyTMK, keyHex)
	zpk, _ := m.GenerateKey(ctx, hsm.KeyZPK)
	block, _ := termcrypto.EncryptPINBlock(key, pin, pan)
	clearBlock, _ := termcrypto.PINBlock(pin, pan)
	track := unhex(t, "6222021234567890123D25122010000012345F")
	encTrack, _ := termcrypto.EncryptTrack(key, nil, track)
	code, _ := m.NewActivationCode(ctx)
	mab := []byte("message")
	goodMAC, _ := termcrypto.MAC(key, hsm.MACPOSECB, mab)

	secrets := []string{keyHex, pin, panStr, hex.EncodeToString(block[:]), hex.EncodeToString(clearBlock[:]),
		hex.EncodeToString(track), hex.EncodeToString(encTrack), code.Code, strings.ReplaceAll(code.Code, "-", ""),
		hex.EncodeToString(mak.Cipher), string(goodMAC[:]), hex.EncodeToString(key[:8])}

	var errs []error
	add := func(_ any, err error) { errs = append(errs, err) }
	add(m.TranslatePIN(ctx, mak, zpk, block[:], pan))
	add(m.TranslatePIN(ctx, pik, zpk, block[:], []byte(panStr[:10])))
	add(m.TranslatePIN(ctx, pik, zpk, block[:], []byte("6222021234567899123")))
	add(m.TranslatePIN(ctx, tdk, zpk, block[:], pan))
	add(m.VerifyPIN(ctx, zpk, block[:], pan, pin))
	add(m.VerifyPIN(ctx, zpk, block[:], pan, pin+"x"))
	add(nil, m.VerifyMAC(ctx, mak, hsm.MACPOSECB, append(mab, '!'), goodMAC[:]))
	add(nil, m.VerifyMAC(ctx, mak, hsm.MACAlgorithm(9), mab, goodMAC[:]))
	add(m.GenerateMAC(ctx, hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: mak.Cipher[:30], KCV: mak.KCV}, hsm.MACPOSECB, mab))
	add(m.GenerateMAC(ctx, hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: append(bytes.Clone(mak.Cipher[:40]), 0, 0, 0, 0, 0), KCV: mak.KCV}, hsm.MACPOSECB, mab))
	add(m.DecryptTrack(ctx, nil, pik, encTrack))
	add(m.DecryptTrack(ctx, nil, importKey(t, m, hsm.KeyTDK, "0123456789ABCDEFFEDCBA9876543210"), encTrack))
	add(nil, m.CheckSN(ctx, tmk, []byte("SN"), []byte("123456"), []byte("ABCDEF01")))
	add(m.Activate(ctx, code.Verifier, []byte("SN"), []byte("der"), []byte("proof")))
	add(m.ActivationVerifier(ctx, code.Code+"1"))
	add(m.ImportKey(hsm.KeyMAK, append(key, 1)))
	add(termcrypto.DecodeSignOn(key, hsm.SignOn003, make([]byte, 40)))
	add(termcrypto.PINBlock(pin+"A", pan))
	add(termcrypto.OpenTMK(hsmtest.RSAKey(t), make([]byte, 256), hsm.KCV{}))
	add(hsm.ParseLMK(strings.Repeat(keyHex, 2) + "Z"))

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		text := strings.ToLower(err.Error() + fmt.Sprintf(" %v %+v %#v", err, err, err))
		for _, s := range secrets {
			if s != "" && strings.Contains(text, strings.ToLower(s)) {
				t.Errorf("case %d: error %q contains secret material", i, err)
			}
		}
	}
}
