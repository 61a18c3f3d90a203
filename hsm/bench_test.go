package hsm_test

import (
	"context"
	"testing"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
)

// benchMAB is a 203-byte MAB, about a purchase with track 2, PIN, field 55 and 59.
func benchMAB() []byte {
	mab := make([]byte, 203)
	for i := range mab {
		mab[i] = byte(i * 7)
	}
	return mab
}

const (
	benchMAK = "0123456789ABCDEFFEDCBA9876543210" // double-length: 3DES
	benchPIK = "B5DAD5B316436DCEDF86160B85469DE6"
	benchZPK = "1C587F1C13924FEF0123456789ABCDEF"
	benchPAN = "6222021234567890123"
)

func benchVerifyMAC(b *testing.B, a hsm.MACAlgorithm) {
	m := newModule(b)
	mak := importKey(b, m, hsm.KeyMAK, benchMAK)
	mab := benchMAB()
	mac, err := termcrypto.MAC(unhex(b, benchMAK), a, mab)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.VerifyMAC(ctx, mak, a, mab, mac[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMACVerify: POS ECB, 3DES MAK, 203-byte MAB, key schedule cached.
func BenchmarkMACVerify(b *testing.B) { benchVerifyMAC(b, hsm.MACPOSECB) }

// BenchmarkMACVerifyX919: the same with ANSI X9.19 (one DES per 8 bytes of MAB).
func BenchmarkMACVerifyX919(b *testing.B) { benchVerifyMAC(b, hsm.MACX919) }

// BenchmarkMACVerifyParallel: POS ECB from all Ps, the gateway's situation (shared cache lock).
func BenchmarkMACVerifyParallel(b *testing.B) {
	m := newModule(b)
	mak := importKey(b, m, hsm.KeyMAK, benchMAK)
	mab := benchMAB()
	mac, _ := termcrypto.MAC(unhex(b, benchMAK), hsm.MACPOSECB, mab)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.VerifyMAC(ctx, mak, hsm.MACPOSECB, mab, mac[:]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMACVerifyUncached: cache disabled, so every call unwraps (AES-GCM) and builds the DES
// schedules: the cost the cache saves.
func BenchmarkMACVerifyUncached(b *testing.B) {
	m, _ := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK(), KeyCacheSize: -1})
	mak := importKey(b, m, hsm.KeyMAK, benchMAK)
	mab := benchMAB()
	mac, _ := termcrypto.MAC(unhex(b, benchMAK), hsm.MACPOSECB, mab)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.VerifyMAC(ctx, mak, hsm.MACPOSECB, mab, mac[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPINTranslate: format-0 block from a double-length PIK to a double-length ZPK.
func BenchmarkPINTranslate(b *testing.B) {
	m := newModule(b)
	pik := importKey(b, m, hsm.KeyPIK, benchPIK)
	zpk := importKey(b, m, hsm.KeyZPK, benchZPK)
	pan := []byte(benchPAN)
	block, err := termcrypto.EncryptPINBlock(unhex(b, benchPIK), "123456", pan)
	if err != nil {
		b.Fatal(err)
	}
	blk := block[:]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.TranslatePIN(ctx, pik, zpk, blk, pan); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignOn004: fresh PIK, MAK and TDK, field 62, three wraps.
func BenchmarkSignOn004(b *testing.B) {
	m := newModule(b)
	tmk, _ := m.GenerateKey(context.Background(), hsm.KeyTMK)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.SignOn(ctx, tmk, hsm.SignOn004); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckSN: field 59 tag 04 with a 24-character SN.
func BenchmarkCheckSN(b *testing.B) {
	m := newModule(b)
	const tmkHex = "0123456789ABCDEFFEDCBA9876543210"
	tmk := importKey(b, m, hsm.KeyTMK, tmkHex)
	sn, random := []byte("000024039991810100000206"), []byte("156983")
	c, _ := termcrypto.SNCipher(unhex(b, tmkHex), sn, random)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.CheckSN(ctx, tmk, sn, random, c[:]); err != nil {
			b.Fatal(err)
		}
	}
}
