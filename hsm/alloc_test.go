//go:build !race

package hsm_test

import (
	"context"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
)

// The hot-path operations allocate nothing once a key's schedule is cached.
func TestHotPathAllocs(t *testing.T) {
	ctx := context.Background()
	m := newModule(t)
	mak := importKey(t, m, hsm.KeyMAK, benchMAK)
	pik := importKey(t, m, hsm.KeyPIK, benchPIK)
	zpk := importKey(t, m, hsm.KeyZPK, benchZPK)
	tdk := importKey(t, m, hsm.KeyTDK, benchZPK)
	tmk := importKey(t, m, hsm.KeyTMK, benchMAK)
	mab := benchMAB()
	pan := []byte(benchPAN)
	block, _ := termcrypto.EncryptPINBlock(unhex(t, benchPIK), "123456", pan)
	zblock, err := m.TranslatePIN(ctx, pik, zpk, block[:], pan)
	if err != nil {
		t.Fatal(err)
	}
	track := unhex(t, "6222021234567890123D25122010000012345F")
	enc, _ := termcrypto.EncryptTrack(unhex(t, benchZPK), nil, track)
	dst := make([]byte, 0, 64)
	sn, random := []byte("000024039991810100000206"), []byte("156983")
	snc, _ := termcrypto.SNCipher(unhex(t, benchMAK), sn, random)
	macs := map[hsm.MACAlgorithm][8]byte{}
	for _, a := range []hsm.MACAlgorithm{hsm.MACPOSECB, hsm.MACX919} {
		macs[a], _ = termcrypto.MAC(unhex(t, benchMAK), a, mab)
	}
	tests := []struct {
		name string
		f    func() error
	}{
		{"VerifyMAC pos-ecb", func() error { mac := macs[hsm.MACPOSECB]; return m.VerifyMAC(ctx, mak, hsm.MACPOSECB, mab, mac[:]) }},
		{"VerifyMAC x9.19", func() error { mac := macs[hsm.MACX919]; return m.VerifyMAC(ctx, mak, hsm.MACX919, mab, mac[:]) }},
		{"GenerateMAC", func() error { _, err := m.GenerateMAC(ctx, mak, hsm.MACPOSECB, mab); return err }},
		{"TranslatePIN", func() error { _, err := m.TranslatePIN(ctx, pik, zpk, block[:], pan); return err }},
		{"VerifyPIN", func() error { _, err := m.VerifyPIN(ctx, zpk, zblock[:], pan, "123456"); return err }},
		{"DecryptTrack", func() error { _, err := m.DecryptTrack(ctx, dst[:0], tdk, enc); return err }},
		{"CheckSN", func() error { return m.CheckSN(ctx, tmk, sn, random, snc[:]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f(); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(200, func() { _ = tc.f() }); n != 0 {
				t.Errorf("%v allocs per call, want 0", n)
			}
		})
	}
}
