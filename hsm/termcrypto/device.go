package termcrypto

import (
	"crypto/cipher"
	"crypto/subtle"
	"sync/atomic"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/internal/alg"
)

// Device is a terminal's secure element: it holds the TMK and, after a sign-on, the working keys,
// as ready key schedules, so a simulated terminal pays for DES key set-up once per sign-on rather
// than per message. A Device is safe for concurrent use; a SignOn swaps the working keys
// atomically, so a message is MACed with either the old keys or the new, never a mix.
type Device struct {
	tmk  cipher.Block
	sn   snKey
	work atomic.Pointer[workingSet]
}

type workingSet struct {
	pik, tdk cipher.Block
	mak      macKey
}

// NewDevice returns a device holding a clear TMK (8 or 16 bytes). It does not retain tmk.
func NewDevice(tmk []byte) (*Device, error) {
	b, err := alg.NewBlock(tmk)
	if err != nil {
		return nil, err
	}
	sn, err := snKeyOf(b)
	if err != nil {
		return nil, err
	}
	return &Device{tmk: b, sn: sn}, nil
}

// SignOn installs the working keys of a sign-on response's field 62 (see DecodeSignOn). On error
// the previous keys stay.
func (d *Device) SignOn(layout hsm.SignOnLayout, field62 []byte) error {
	w, err := decodeWith(d.tmk, layout, field62)
	if err != nil {
		return err
	}
	defer func() { clear(w.PIK); clear(w.MAK); clear(w.TDK) }()
	var ws workingSet
	if ws.pik, err = alg.NewBlock(w.PIK); err != nil {
		return err
	}
	if ws.mak, err = newMACKey(w.MAK); err != nil {
		return err
	}
	if w.TDK != nil {
		if ws.tdk, err = alg.NewBlock(w.TDK); err != nil {
			return err
		}
	}
	d.work.Store(&ws)
	return nil
}

// SignedOn reports whether the device holds working keys.
func (d *Device) SignedOn() bool { return d.work.Load() != nil }

// HasTDK reports whether the device's last sign-on delivered a TDK (layout 004).
func (d *Device) HasTDK() bool {
	w := d.work.Load()
	return w != nil && w.tdk != nil
}

// MAC computes field 64 of a message the device sends.
func (d *Device) MAC(a hsm.MACAlgorithm, mab []byte) ([8]byte, error) {
	w := d.work.Load()
	if w == nil {
		return [8]byte{}, ErrNotSignedOn
	}
	return w.mak.mac(a, mab)
}

// VerifyMAC checks field 64 of a response in constant time (hsm.ErrMACMismatch).
func (d *Device) VerifyMAC(a hsm.MACAlgorithm, mab, mac []byte) error {
	want, err := d.MAC(a, mab)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(want[:], mac) != 1 {
		return hsm.ErrMACMismatch
	}
	return nil
}

// EncryptPIN returns field 52 for pin and pan under the device's PIK.
func (d *Device) EncryptPIN(pin string, pan []byte) ([8]byte, error) {
	w := d.work.Load()
	if w == nil {
		return [8]byte{}, ErrNotSignedOn
	}
	return encryptPIN(w.pik, pin, pan)
}

// EncryptTrack appends to dst the track encrypted under the device's TDK (see EncryptTrack).
func (d *Device) EncryptTrack(dst, track []byte) ([]byte, error) {
	w := d.work.Load()
	if w == nil || w.tdk == nil {
		return dst, ErrNotSignedOn
	}
	return encryptTrack(w.tdk, dst, track)
}

// SNCipher computes field 59 tag 04 for the device's SN and a random factor.
func (d *Device) SNCipher(sn, random []byte) ([8]byte, error) { return d.sn.cipher(sn, random) }

// decodeWith is DecodeSignOn with a TMK schedule.
func decodeWith(tmk cipher.Block, layout hsm.SignOnLayout, field62 []byte) (WorkingKeys, error) {
	if !layout.Valid() || len(field62) != layout.Field62Len() {
		return WorkingKeys{}, hsm.ErrSignOnLayout
	}
	var w WorkingKeys
	var err error
	off := 0
	if w.PIK, err = openKey(tmk, hsm.KeyPIK, field62[off:off+layout.PIKLen()], field62[off+layout.PIKLen():]); err != nil {
		return WorkingKeys{}, err
	}
	off += layout.PIKLen() + 4
	makLen := 8
	if layout.MACSlot() == 16 && !allZero(field62[off+8:off+16]) {
		makLen = 16
	}
	if w.MAK, err = openKey(tmk, hsm.KeyMAK, field62[off:off+makLen], field62[off+layout.MACSlot():]); err != nil {
		clear(w.PIK)
		return WorkingKeys{}, err
	}
	off += layout.MACSlot() + 4
	if layout.HasTDK() {
		if w.TDK, err = openKey(tmk, hsm.KeyTDK, field62[off:off+16], field62[off+16:]); err != nil {
			clear(w.PIK)
			clear(w.MAK)
			return WorkingKeys{}, err
		}
	}
	return w, nil
}

// macKey is a MAK ready for both algorithms.
type macKey struct {
	blk, k1, k2 cipher.Block
}

func newMACKey(mak []byte) (macKey, error) {
	var k macKey
	var err error
	if k.blk, err = alg.NewBlock(mak); err != nil {
		return macKey{}, err
	}
	if k.k1, k.k2, err = alg.X919Blocks(mak); err != nil {
		return macKey{}, err
	}
	return k, nil
}

func (k macKey) mac(a hsm.MACAlgorithm, mab []byte) ([8]byte, error) {
	s := alg.GetScratch()
	defer alg.PutScratch(s)
	switch a {
	case hsm.MACPOSECB:
		return alg.POSECB(k.blk, mab, s), nil
	case hsm.MACX919:
		return alg.X919(k.k1, k.k2, mab, s), nil
	}
	return [8]byte{}, hsm.ErrMACAlgorithm
}

// snKey is the SN key derived from a TMK.
type snKey struct{ k1, k2 cipher.Block }

func newSNKey(tmk []byte) (snKey, error) {
	b, err := alg.NewBlock(tmk)
	if err != nil {
		return snKey{}, err
	}
	return snKeyOf(b)
}

func snKeyOf(tmk cipher.Block) (snKey, error) {
	s := alg.GetScratch()
	defer alg.PutScratch(s)
	k1, k2, err := alg.SNKey(tmk, s)
	return snKey{k1, k2}, err
}

func (k snKey) cipher(sn, random []byte) ([8]byte, error) {
	s := alg.GetScratch()
	defer alg.PutScratch(s)
	out, ok := alg.SNCipher(k.k1, k.k2, sn, random, s)
	if !ok {
		return out, hsm.ErrSNCipher
	}
	return out, nil
}
