package hsm_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/posgate/posgate/hsm"
)

// FuzzModuleInputs feeds arbitrary wire bytes to every operation that takes them: none may panic,
// and every failure must be one of the module's errors.
func FuzzModuleInputs(f *testing.F) {
	f.Add([]byte("6222021234567890123"), []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte("000024039991810100000206"))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(bytes.Repeat([]byte("9"), 300), bytes.Repeat([]byte{0xff}, 40), bytes.Repeat([]byte("A"), 300))
	m := newModule(f)
	ctx := context.Background()
	pik, _ := m.GenerateKey(ctx, hsm.KeyPIK)
	zpk, _ := m.GenerateKey(ctx, hsm.KeyZPK)
	mak, _ := m.GenerateKey(ctx, hsm.KeyMAK)
	tdk, _ := m.GenerateKey(ctx, hsm.KeyTDK)
	tmk, _ := m.GenerateKey(ctx, hsm.KeyTMK)
	code, _ := m.NewActivationCode(ctx)
	known := []error{hsm.ErrPINBlock, hsm.ErrPAN, hsm.ErrPIN, hsm.ErrTrack, hsm.ErrSNCipher, hsm.ErrMACMismatch, hsm.ErrProof, hsm.ErrPublicKey}
	check := func(t *testing.T, op string, err error) {
		if err == nil {
			return
		}
		for _, k := range known {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("%s: unexpected error %v", op, err)
	}
	f.Fuzz(func(t *testing.T, pan, blk, sn []byte) {
		_, err := m.TranslatePIN(ctx, pik, zpk, blk, pan)
		check(t, "TranslatePIN", err)
		_, err = m.VerifyPIN(ctx, zpk, blk, pan, string(sn))
		check(t, "VerifyPIN", err)
		_, err = m.DecryptTrack(ctx, nil, tdk, blk)
		check(t, "DecryptTrack", err)
		check(t, "CheckSN", m.CheckSN(ctx, tmk, sn, pan, blk))
		check(t, "VerifyMAC", m.VerifyMAC(ctx, mak, hsm.MACX919, pan, blk))
		_, err = m.Activate(ctx, code.Verifier, sn, pan, blk)
		check(t, "Activate", err)
	})
}

// FuzzWrappedKeyText: UnmarshalText never panics, and what it accepts marshals back to the same
// key.
func FuzzWrappedKeyText(f *testing.F) {
	m := newModule(f)
	wk, _ := m.GenerateKey(context.Background(), hsm.KeyTMK)
	txt, _ := wk.MarshalText()
	f.Add(txt)
	f.Add([]byte("MAK:00000000:00"))
	f.Add([]byte("::"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var k hsm.WrappedKey
		if err := k.UnmarshalText(b); err != nil {
			return
		}
		out, err := k.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText of an accepted key: %v", err)
		}
		var k2 hsm.WrappedKey
		if err := k2.UnmarshalText(out); err != nil || !k2.Equal(k) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
