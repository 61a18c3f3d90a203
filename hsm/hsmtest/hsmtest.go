// Package hsmtest is the contract suite every hsm.Module implementation must pass. It drives the
// module only through the interface, with package termcrypto playing the terminal: activation
// delivers a TMK to an RSA key pair, the terminal decodes sign-on keys from field 62, and every
// MAC, PIN block, track and SN ciphertext one side makes is checked by the other.
package hsmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"sync"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// RSAKey returns an RSA-2048 key pair shared by the tests of one process (generating one costs
// tens of milliseconds).
func RSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

// Terminal is a terminal activated against a module: the clear TMK the device recovered, the
// device itself, and the TMK as the registry stores it.
type Terminal struct {
	SN     []byte
	TMK    hsm.WrappedKey
	Device *termcrypto.Device
	Clear  []byte // the device's clear TMK
}

// Activate runs the activation of §5.2 end to end: code, proof, TMK delivery, KCV check.
func Activate(t testing.TB, m hsm.Module, sn string) Terminal {
	t.Helper()
	ctx := context.Background()
	code, err := m.NewActivationCode(ctx)
	if err != nil {
		t.Fatalf("NewActivationCode: %v", err)
	}
	if code.Verifier.Type != hsm.KeyACV {
		t.Fatalf("verifier type = %v, want ACV", code.Verifier.Type)
	}
	priv := RSAKey(t)
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := termcrypto.ActivationProof(code.Code, []byte(sn), pub)
	if err != nil {
		t.Fatalf("ActivationProof: %v", err)
	}
	act, err := m.Activate(ctx, code.Verifier, []byte(sn), pub, proof)
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if act.TMK.Type != hsm.KeyTMK || !act.KCV.Equal(act.TMK.KCV) {
		t.Fatalf("Activate returned %v with KCV %v", act.TMK, act.KCV)
	}
	tmk, err := termcrypto.OpenTMK(priv, act.EncryptedTMK, act.KCV)
	if err != nil {
		t.Fatalf("OpenTMK: %v", err)
	}
	dev, err := termcrypto.NewDevice(tmk)
	if err != nil {
		t.Fatalf("NewDevice: %v", err)
	}
	return Terminal{SN: []byte(sn), TMK: act.TMK, Device: dev, Clear: tmk}
}

// Run runs the contract suite against m.
func Run(t *testing.T, m hsm.Module) {
	ctx := context.Background()

	t.Run("activation", func(t *testing.T) {
		term := Activate(t, m, "000002020254004318")
		if len(term.Clear) != 16 {
			t.Fatalf("TMK length = %d, want 16", len(term.Clear))
		}
	})

	t.Run("activation rejects", func(t *testing.T) {
		code, err := m.NewActivationCode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sn := []byte("000002020254004318")
		priv := RSAKey(t)
		pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		proof, _ := termcrypto.ActivationProof(code.Code, sn, pub)

		other, _ := m.NewActivationCode(ctx)
		wrongCode, _ := termcrypto.ActivationProof(other.Code, sn, pub)
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
		smallProof, _ := termcrypto.ActivationProof(code.Code, sn, smallDER)
		tests := []struct {
			name   string
			sn     []byte
			pub    []byte
			proof  []byte
			wantIs error
		}{
			{"proof from another code", sn, pub, wrongCode, hsm.ErrProof},
			{"proof for another SN", []byte("000002020254004319"), pub, proof, hsm.ErrProof},
			{"truncated proof", sn, pub, proof[:16], hsm.ErrProof},
			{"RSA-1024 key", sn, smallDER, smallProof, hsm.ErrPublicKey},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := m.Activate(ctx, code.Verifier, tc.sn, tc.pub, tc.proof)
				if !errors.Is(err, tc.wantIs) {
					t.Fatalf("Activate: got %v, want %v", err, tc.wantIs)
				}
			})
		}
		// A known code, as the demo seeding uses it.
		acv, err := m.ActivationVerifier(ctx, code.Code)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Activate(ctx, acv, sn, pub, proof); err != nil {
			t.Fatalf("Activate with ActivationVerifier(code): %v", err)
		}
	})

	term := Activate(t, m, "000002020254004318")
	for _, layout := range []hsm.SignOnLayout{hsm.SignOn001, hsm.SignOn003, hsm.SignOn004} {
		t.Run("sign-on "+layout.String(), func(t *testing.T) {
			testSignOn(t, m, term, layout)
		})
	}

	t.Run("SN ciphertext", func(t *testing.T) {
		random := []byte("345678")
		c, err := term.Device.SNCipher(term.SN, random)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.CheckSN(ctx, term.TMK, term.SN, random, c[:]); err != nil {
			t.Fatalf("CheckSN(device's value): %v", err)
		}
		for _, ch := range c {
			if !(ch >= '0' && ch <= '9' || ch >= 'A' && ch <= 'F') {
				t.Fatalf("SN ciphertext %q is not 8 upper-case hex characters", c[:])
			}
		}
		if err := m.CheckSN(ctx, term.TMK, term.SN, random, bytes.ToLower(c[:])); err != nil {
			t.Errorf("CheckSN(lower-case value): %v", err)
		}
		if err := m.CheckSN(ctx, term.TMK, term.SN, nil, mustSN(t, term.Device, term.SN, nil)); err != nil {
			t.Errorf("CheckSN without a random factor (sign-on): %v", err)
		}
		for name, args := range map[string][3][]byte{
			"other random": {term.SN, []byte("345679"), c[:]},
			"other SN":     {[]byte("000002020254004319"), random, c[:]},
			"short":        {term.SN, random, c[:7]},
		} {
			if err := m.CheckSN(ctx, term.TMK, args[0], args[1], args[2]); !errors.Is(err, hsm.ErrSNCipher) {
				t.Errorf("CheckSN with %s: got %v, want ErrSNCipher", name, err)
			}
		}
	})

	t.Run("wrong key type", func(t *testing.T) {
		keys, err := m.SignOn(ctx, term.TMK, hsm.SignOn004)
		if err != nil {
			t.Fatal(err)
		}
		var kte *hsm.KeyTypeError
		if _, err := m.GenerateMAC(ctx, keys.PIK, hsm.MACPOSECB, []byte("x")); !errors.Is(err, hsm.ErrKeyType) || !errors.As(err, &kte) || kte.Want != hsm.KeyMAK || kte.Got != hsm.KeyPIK {
			t.Errorf("GenerateMAC with a PIK: got %v, want KeyTypeError{MAK, PIK}", err)
		}
		if _, err := m.TranslatePIN(ctx, keys.MAK, keys.PIK, make([]byte, 8), []byte("6222020000000000000")); !errors.Is(err, hsm.ErrKeyType) {
			t.Errorf("TranslatePIN with a MAK: got %v, want ErrKeyType", err)
		}
		if _, err := m.SignOn(ctx, keys.TDK, hsm.SignOn001); !errors.Is(err, hsm.ErrKeyType) {
			t.Errorf("SignOn with a TDK: got %v, want ErrKeyType", err)
		}
		if _, err := m.DecryptTrack(ctx, nil, keys.PIK, make([]byte, 19)); !errors.Is(err, hsm.ErrKeyType) {
			t.Errorf("DecryptTrack with a PIK: got %v, want ErrKeyType", err)
		}
		if _, err := m.GenerateKey(ctx, hsm.KeyACV); !errors.Is(err, hsm.ErrKeyType) {
			t.Errorf("GenerateKey(ACV): got %v, want ErrKeyType", err)
		}
	})
}

func testSignOn(t *testing.T, m hsm.Module, term Terminal, layout hsm.SignOnLayout) {
	ctx := context.Background()
	keys, err := m.SignOn(ctx, term.TMK, layout)
	if err != nil {
		t.Fatalf("SignOn: %v", err)
	}
	if len(keys.Field62) != layout.Field62Len() {
		t.Fatalf("field 62 length = %d, want %d", len(keys.Field62), layout.Field62Len())
	}
	if keys.PIK.Type != hsm.KeyPIK || keys.MAK.Type != hsm.KeyMAK || keys.TDK.IsZero() == layout.HasTDK() {
		t.Fatalf("SignOn keys: PIK %v, MAK %v, TDK %v", keys.PIK, keys.MAK, keys.TDK)
	}
	w, err := termcrypto.DecodeSignOn(term.Clear, layout, keys.Field62)
	if err != nil {
		t.Fatalf("DecodeSignOn: %v", err)
	}
	if len(w.PIK) != layout.PIKLen() || len(w.MAK) != 8 || (w.TDK != nil) != layout.HasTDK() {
		t.Fatalf("decoded key lengths PIK %d MAK %d TDK %d", len(w.PIK), len(w.MAK), len(w.TDK))
	}
	for _, k := range []struct {
		clear []byte
		wk    hsm.WrappedKey
	}{{w.PIK, keys.PIK}, {w.MAK, keys.MAK}, {w.TDK, keys.TDK}} {
		if k.clear == nil {
			continue
		}
		if kcv, _ := termcrypto.KCV(k.clear); !kcv.Equal(k.wk.KCV) {
			t.Errorf("%v: terminal's KCV %v differs", k.wk, kcv)
		}
	}
	dev := term.Device
	if err := dev.SignOn(layout, keys.Field62); err != nil {
		t.Fatalf("Device.SignOn: %v", err)
	}

	// A KCV that does not match is refused by the terminal.
	bad := bytes.Clone(keys.Field62)
	bad[layout.PIKLen()] ^= 1
	if _, err := termcrypto.DecodeSignOn(term.Clear, layout, bad); !errors.Is(err, hsm.ErrKCV) {
		t.Errorf("DecodeSignOn with a wrong PIK KCV: got %v, want ErrKCV", err)
	}
	if _, err := termcrypto.DecodeSignOn(term.Clear, layout, keys.Field62[1:]); !errors.Is(err, hsm.ErrSignOnLayout) {
		t.Errorf("DecodeSignOn of a short field 62: got %v, want ErrSignOnLayout", err)
	}

	t.Run("MAC", func(t *testing.T) {
		mab := make([]byte, 203)
		_, _ = rand.Read(mab)
		for _, a := range []hsm.MACAlgorithm{hsm.MACPOSECB, hsm.MACX919} {
			got, err := m.GenerateMAC(ctx, keys.MAK, a, mab)
			if err != nil {
				t.Fatalf("%v: GenerateMAC: %v", a, err)
			}
			want, err := dev.MAC(a, mab)
			if err != nil || got != want {
				t.Fatalf("%v: module MAC %X, terminal MAC %X (%v)", a, got, want, err)
			}
			if err := m.VerifyMAC(ctx, keys.MAK, a, mab, want[:]); err != nil {
				t.Errorf("%v: VerifyMAC: %v", a, err)
			}
			if err := dev.VerifyMAC(a, mab, got[:]); err != nil {
				t.Errorf("%v: Device.VerifyMAC: %v", a, err)
			}
			mab[100] ^= 0x10
			if err := m.VerifyMAC(ctx, keys.MAK, a, mab, want[:]); !errors.Is(err, hsm.ErrMACMismatch) {
				t.Errorf("%v: VerifyMAC of an altered message: got %v, want ErrMACMismatch", a, err)
			}
			mab[100] ^= 0x10
			if err := m.VerifyMAC(ctx, keys.MAK, a, mab, want[:4]); !errors.Is(err, hsm.ErrMACMismatch) {
				t.Errorf("%v: VerifyMAC of a short MAC: got %v, want ErrMACMismatch", a, err)
			}
		}
	})

	t.Run("PIN", func(t *testing.T) {
		zpk, err := m.GenerateKey(ctx, hsm.KeyZPK)
		if err != nil {
			t.Fatal(err)
		}
		pan := []byte("6222021234567890123")
		for _, pin := range []string{"1234", "123456", "000000000000"} {
			block, err := dev.EncryptPIN(pin, pan)
			if err != nil {
				t.Fatalf("EncryptPIN: %v", err)
			}
			out, err := m.TranslatePIN(ctx, keys.PIK, zpk, block[:], pan)
			if err != nil {
				t.Fatalf("TranslatePIN: %v", err)
			}
			if ok, err := m.VerifyPIN(ctx, zpk, out[:], pan, pin); err != nil || !ok {
				t.Errorf("VerifyPIN(right PIN) = %v, %v; want true", ok, err)
			}
			if ok, err := m.VerifyPIN(ctx, zpk, out[:], pan, "9999"); err != nil || ok {
				t.Errorf("VerifyPIN(wrong PIN) = %v, %v; want false", ok, err)
			}
		}
		// A block under another key, or for another PAN, is not a valid format-0 block here
		// (the odds of a random block passing are below 2^-20).
		junk, _ := termcrypto.EncryptPINBlock(bytes.Repeat([]byte{0x5A}, 16), "1234", pan)
		var pbe *hsm.PINBlockError
		if _, err := m.TranslatePIN(ctx, keys.PIK, zpk, junk[:], pan); !errors.Is(err, hsm.ErrPINBlock) || !errors.As(err, &pbe) {
			t.Errorf("TranslatePIN of a block under another key: got %v, want *PINBlockError", err)
		}
		if _, err := m.TranslatePIN(ctx, keys.PIK, zpk, junk[:7], pan); !errors.Is(err, hsm.ErrPINBlock) {
			t.Errorf("TranslatePIN of a 7-byte block: got %v, want ErrPINBlock", err)
		}
		block, _ := dev.EncryptPIN("1234", pan)
		if _, err := m.TranslatePIN(ctx, keys.PIK, zpk, block[:], []byte("62220212")); !errors.Is(err, hsm.ErrPAN) {
			t.Errorf("TranslatePIN with an 8-digit PAN: got %v, want ErrPAN", err)
		}
		if _, err := m.VerifyPIN(ctx, zpk, block[:], pan, "12a4"); !errors.Is(err, hsm.ErrPIN) {
			t.Errorf("VerifyPIN with a non-digit expected PIN: got %v, want ErrPIN", err)
		}
	})

	if !layout.HasTDK() {
		return
	}
	t.Run("track", func(t *testing.T) {
		// 6222021234567890123=2512 201 0000012345 (37 digits), packed left-aligned.
		track := []byte{0x62, 0x22, 0x02, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x3D, 0x25, 0x12, 0x20, 0x10, 0x00, 0x00, 0x01, 0x23, 0x45}
		enc, err := dev.EncryptTrack(nil, track)
		if err != nil {
			t.Fatalf("EncryptTrack: %v", err)
		}
		if bytes.Equal(enc, track) || !bytes.Equal(enc[:len(enc)-9], track[:len(track)-9]) || enc[len(enc)-1] != track[len(track)-1] {
			t.Fatalf("encrypted window is not the 8 bytes before the last byte")
		}
		got, err := m.DecryptTrack(ctx, nil, keys.TDK, enc)
		if err != nil || !bytes.Equal(got, track) {
			t.Fatalf("DecryptTrack = %v; round trip differs", err)
		}
		if _, err := m.DecryptTrack(ctx, nil, keys.TDK, track[:8]); !errors.Is(err, hsm.ErrTrack) {
			t.Errorf("DecryptTrack of 8 bytes: got %v, want ErrTrack", err)
		}
	})
}

func mustSN(t *testing.T, d *termcrypto.Device, sn, random []byte) []byte {
	t.Helper()
	c, err := d.SNCipher(sn, random)
	if err != nil {
		t.Fatal(err)
	}
	return c[:]
}
