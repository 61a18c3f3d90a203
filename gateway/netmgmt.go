package gateway

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// activate answers 0800/101: posgate's remote TMK delivery (terminal protocol §5.2).
func (p *Processor) activate(ctx context.Context, t *txn) ([]byte, error) {
	ti, err := codec.ParseTerminalInfo(t.req.Field(59))
	if err != nil || len(ti.SN) == 0 {
		return p.reject(ctx, t, "30")
	}
	var pub, proof []byte
	it := codec.NewTLVIter(t.req.Field(62), 3)
	for it.Next() {
		switch string(it.Tag()) {
		case codec.Tag62PublicKey:
			pub = it.Value()
		case codec.Tag62Proof:
			proof = it.Value()
		}
	}
	if it.Err() != nil || pub == nil || proof == nil {
		return p.reject(ctx, t, "30")
	}
	stan, err := t.req.Number(11)
	if err != nil {
		return p.reject(ctx, t, "30")
	}
	// An activation that succeeded is answered once: the same request again — the terminal
	// missed the 0810, or a replay — gets the recorded answer (the TMK under the terminal's own
	// public key) and changes nothing. Only successes are recorded, and only an exact copy is
	// answered from the record: the proof claim, not the cache, orders concurrent activations.
	bound, err := p.d.Registry.GetTerminalBySN(ctx, string(ti.SN))
	if err != nil {
		return p.activateOnce(ctx, t, ti.SN, pub, proof) // answers 97 or 96 as it finds
	}
	key := RetransmitKey{TID: bound.TID, Batch: t.cls.f60.Batch, STAN: uint32(stan), MTI: activationMTI}
	hash := p.contentHash(t.frame.Body)
	switch res, cached, err := p.d.State.Reserve(ctx, key, hash, 2*p.cfg.TxnTimeout); {
	case err == nil && res == ReserveDone:
		return p.answerStored(t, cached), nil
	case err == nil && res == ReserveNew:
		_ = p.d.State.Release(context.WithoutCancel(ctx), key)
	}
	t.term.TID = bound.TID // names the terminal in security events
	out, err := p.activateOnce(ctx, t, ti.SN, pub, proof)
	if err == nil && out != nil && t.rc == [2]byte{'0', '0'} {
		if err := p.d.State.Restore(context.WithoutCancel(ctx), key, hash, out, p.cfg.RetransmitTTL); err != nil {
			p.log.Error("cannot store an activation's answer for retransmissions", zap.Error(err))
		}
	}
	return out, err
}

// activationMTI keeps activations' retransmission keys apart from sign-ons' (both 0800).
const activationMTI = "0800/101"

// activateOnce checks the proof and installs a new TMK.
func (p *Processor) activateOnce(ctx context.Context, t *txn, snBytes, pub, proof []byte) ([]byte, error) {
	sn := string(snBytes)
	// The proof is counted before it is checked (one atomic claim), so parallel guesses
	// cannot outrun the back-off; a claim that cannot be recorded checks nothing.
	code, err := p.d.Registry.ClaimProof(ctx, sn)
	switch {
	case errors.Is(err, terminal.ErrLocked):
		p.security(t, secProofDelay)
		return p.reject(ctx, t, "A7")
	case errors.Is(err, terminal.ErrInvalid), errors.Is(err, terminal.ErrNotFound), errors.Is(err, terminal.ErrCodeSpent),
		errors.Is(err, terminal.ErrCodeExpired):
		p.security(t, secUnknown)
		return p.reject(ctx, t, "97")
	case err != nil:
		return p.systemError(ctx, t, "activation proof claim", err)
	}
	t.term.TID = code.TID
	act, err := p.d.HSM.Activate(ctx, code.Verifier, snBytes, pub, proof)
	switch {
	case errors.Is(err, hsm.ErrProof):
		p.security(t, secProof)
		p.log.Warn("wrong activation proof", zap.String("tid", code.TID), zap.Int("proofs", code.WrongProofs),
			zap.Timep("next_proof_at", optTime(code.LockedUntil)))
		return p.reject(ctx, t, "A7")
	case errors.Is(err, hsm.ErrPublicKey):
		return p.reject(ctx, t, "A7")
	case err != nil:
		return p.systemError(ctx, t, "activation", err)
	}
	term, err := p.d.Registry.Activate(ctx, sn, code.Verifier, act.TMK)
	var se *terminal.StatusError
	switch {
	case errors.As(err, &se):
		p.security(t, secBlocked)
		return p.reject(ctx, t, "58")
	case errors.Is(err, terminal.ErrCodeSpent), errors.Is(err, terminal.ErrConflict), errors.Is(err, terminal.ErrCodeExpired):
		return p.reject(ctx, t, "97")
	case err != nil:
		return p.systemError(ctx, t, "activation", err)
	}
	p.begin(t, echoNetMgmt[:])
	_ = t.resp.SetString(41, term.TID)
	_ = t.resp.SetString(42, term.MID)
	t.buf = codec.AppendTLV(t.buf[:0], codec.Tag62TMK, act.EncryptedTMK)
	t.buf = codec.AppendTLV(t.buf, codec.Tag62KCV, act.KCV[:])
	_ = t.resp.Set(62, t.buf)
	t.setCode("00")
	p.log.Info("terminal activated", zap.String("tid", term.TID), zap.Stringer("tmk", act.TMK))
	return p.finish(ctx, t, false)
}

// signOn answers 0800/001/003/004 with fresh working keys (terminal protocol §5.1). A sign-on
// is answered once per (TID, batch, STAN): an honest retransmission — or a replay of the
// latest sign-on — gets the recorded 0810 byte for byte and rotates nothing; a sign-on whose
// batch and STAN do not come after the last accepted one is a replay and is refused (A7).
// Legacy terminals (no 59, operator-enabled) may rotate at most once per
// LegacySignOnInterval (docs/security.md).
func (p *Processor) signOn(ctx context.Context, t *txn) ([]byte, error) {
	if code := p.identify(ctx, t); code != "" {
		return p.reject(ctx, t, code)
	}
	stan, err := t.req.Number(11)
	if err != nil || !t.cls.has60 {
		return p.reject(ctx, t, "30")
	}
	if op := bytes.TrimRight(t.req.Field(63), " "); !t.term.Operators.Has(string(op)) {
		p.security(t, secOperator)
		return p.reject(ctx, t, "05")
	}
	if code := p.checkSN(ctx, t, t.req.Field(11), true); code != "" {
		return p.reject(ctx, t, code)
	}
	key := RetransmitKey{TID: t.term.TID, Batch: t.cls.f60.Batch, STAN: uint32(stan), MTI: "0800"}
	if out, answered, err := p.reserve(ctx, t, key, p.contentHash(t.frame.Body), p.reject); answered {
		return out, err
	}
	out, err := p.rotate(ctx, t, terminal.SignOnSeq(t.cls.f60.Batch, uint32(stan)))
	return p.store(ctx, key, out, err)
}

// rotate issues and installs the working keys of a sign-on numbered seq and answers it.
func (p *Processor) rotate(ctx context.Context, t *txn, seq uint64) ([]byte, error) {
	legacy := t.req.Field(59) == nil
	reported := t.term.SoftwareVersion // from 59/05, before the rotation re-reads the terminal
	layout, err := hsm.ParseSignOnLayout(threeDigits(t.cls.netCode))
	if err != nil {
		return p.reject(ctx, t, "40")
	}
	var keys hsm.SignOnKeys
	for attempt := 0; ; attempt++ {
		if !terminal.SignOnFresh(seq, t.term.SignOnSeq) {
			p.security(t, secReplay)
			p.log.Warn("stale sign-on refused (replay)", zap.String("tid", t.term.TID))
			return p.reject(ctx, t, "A7")
		}
		if legacy && !t.term.LastSignOn.IsZero() && p.cfg.Now().Sub(t.term.LastSignOn) < p.cfg.LegacySignOnInterval {
			p.security(t, secLegacyRate)
			p.log.Warn("legacy sign-on refused: too soon after the last one", zap.String("tid", t.term.TID))
			return p.reject(ctx, t, "A7")
		}
		keys, err = p.d.HSM.SignOn(ctx, t.term.Keys.TMK, layout)
		if err != nil {
			return p.systemError(ctx, t, "sign-on keys", err)
		}
		next := terminal.Keys{PIK: keys.PIK, MAK: keys.MAK, TDK: keys.TDK}
		t.term, err = p.d.Registry.RotateKeys(ctx, t.term.TID, t.term.KeyGeneration, next, seq)
		if (errors.Is(err, terminal.ErrConflict) || errors.Is(err, terminal.ErrStale)) && attempt == 0 {
			// Another node signed this terminal on at the same time: decide again from the
			// stored record (generation and last sign-on), so terminal and registry agree.
			if t.term, err = p.d.Registry.GetTerminal(ctx, t.term.TID); err == nil {
				continue
			}
		}
		break
	}
	switch {
	case errors.Is(err, terminal.ErrStale):
		p.security(t, secReplay)
		return p.reject(ctx, t, "A7")
	case err != nil:
		return p.systemError(ctx, t, "key rotation", err)
	}
	t.term.SoftwareVersion = reported
	p.begin(t, echoNetMgmt[:])
	_ = t.resp.SetString(32, p.cfg.AcquirerID)
	_ = t.resp.Set(37, p.newRRN(t))
	t.buf = codec.AppendField60(t.buf[:0], codec.Field60{Batch: uint32(t.term.Batch), NetworkCode: t.cls.netCode, Digits: 11})
	_ = t.resp.Set(60, t.buf)
	_ = t.resp.Set(62, keys.Field62)
	t.setCode("00")
	p.requirementFor(t)
	p.seen(ctx, t)
	return p.finish(ctx, t, false)
}

// netMgmt answers sign-off and echo test: the terminal must be known and not blocked.
func (p *Processor) netMgmt(ctx context.Context, t *txn) ([]byte, error) {
	if code := p.identify(ctx, t); code != "" {
		return p.reject(ctx, t, code)
	}
	p.begin(t, echoNetMgmt[:])
	t.setCode("00")
	p.requirementFor(t)
	return p.finish(ctx, t, false)
}

// parameters answers 0800/360 with the terminal's parameters in 62 (docs/terminal-flows.md).
func (p *Processor) parameters(ctx context.Context, t *txn) ([]byte, error) {
	if code := p.identify(ctx, t); code != "" {
		return p.reject(ctx, t, code)
	}
	mer, err := p.d.Registry.GetMerchant(ctx, t.term.MID)
	if err != nil {
		return p.systemError(ctx, t, "merchant lookup", err)
	}
	p.begin(t, echoNetMgmt[:])
	t.buf = codec.AppendTLV(t.buf[:0], "MN", []byte(mer.Name))
	t.buf = codec.AppendTLV(t.buf, "TO", []byte(threeDigits(uint16(p.cfg.TxnTimeout.Seconds())*2)))
	t.buf = codec.AppendTLV(t.buf, "RT", []byte("3"))
	_ = t.resp.Set(62, t.buf)
	t.setCode("00")
	p.requirementFor(t)
	return p.finish(ctx, t, false)
}

// identify loads the terminal of 41 and checks 42 and its status. It returns a response code
// to refuse with, or "".
func (p *Processor) identify(ctx context.Context, t *txn) string {
	tid := t.req.Field(41)
	if tid == nil || t.req.Field(42) == nil {
		return "30"
	}
	term, err := p.d.Registry.GetTerminal(ctx, string(tid))
	if err != nil {
		if errors.Is(err, terminal.ErrNotFound) || errors.Is(err, terminal.ErrInvalid) {
			p.security(t, secUnknown)
			return "97"
		}
		p.log.Error("registry unavailable", zap.Error(err))
		return "96"
	}
	t.term, t.hasTerm = term, true
	if string(t.req.Field(42)) != term.MID {
		p.security(t, secMerchant)
		return "03"
	}
	switch term.Status {
	case terminal.StatusBlocked:
		p.security(t, secBlocked)
		p.log.Warn("blocked terminal refused", zap.String("tid", term.TID), zap.Stringer("reason", term.BlockReason))
		return "58"
	case terminal.StatusActive:
		return ""
	}
	return "97" // pending activation: no TMK yet
}

// checkSN authenticates field 59 (terminal protocol §6): the A2 SN must be the terminal's, the
// random factor the given one, and the SN cipher must verify. required: a missing 59 is
// refused unless the terminal is legacy and this is a sign-on (legacyOK).
func (p *Processor) checkSN(ctx context.Context, t *txn, random []byte, legacyOK bool) string {
	f59 := t.req.Field(59)
	if f59 == nil {
		if legacyOK && t.term.Legacy {
			return ""
		}
		p.security(t, secSN)
		return "A7"
	}
	ti, err := codec.ParseTerminalInfo(f59)
	if err != nil {
		return "30"
	}
	if string(ti.SN) != t.term.SN || t.term.SN == "" {
		p.security(t, secSN)
		p.log.Warn("SN does not match the terminal", zap.String("tid", t.term.TID))
		return "A7"
	}
	if len(random) < 6 || !bytes.Equal(ti.RandomFactor, random[len(random)-6:]) {
		p.security(t, secRandom)
		return "A7"
	}
	if err := p.d.HSM.CheckSN(ctx, t.term.Keys.TMK, ti.SN, ti.RandomFactor, ti.SNCipher); err != nil {
		p.security(t, secSNCipher)
		p.log.Warn("SN cipher does not verify", zap.String("tid", t.term.TID))
		return "A7"
	}
	if v := bytes.TrimSpace(ti.AppVersion); len(v) > 0 && string(v) != t.term.SoftwareVersion {
		t.term.SoftwareVersion = string(v)
	}
	return ""
}

// requirementFor sets the response header's processing requirement: 3 after an operator
// forced re-sign-on, 6 when the reported software is older than the target.
func (p *Processor) requirementFor(t *txn) {
	switch {
	case !t.hasTerm:
	case t.term.ForceSignOn:
		t.requirement = codec.RequireSignOn
	case t.term.TargetVersion != "" && t.term.SoftwareVersion != "" && t.term.SoftwareVersion < t.term.TargetVersion:
		t.requirement = codec.RequireTMSUpdate
	}
}

// seen records the terminal's activity and reported version (best effort).
func (p *Processor) seen(ctx context.Context, t *txn) {
	if err := p.d.Registry.Seen(ctx, t.term.TID, t.term.SoftwareVersion); err != nil {
		p.log.Debug("cannot record last seen", zap.Error(err))
	}
}

// systemError logs what failed (never a value) and answers 96.
func (p *Processor) systemError(ctx context.Context, t *txn, what string, err error) ([]byte, error) {
	p.log.Error(what+" failed", zap.String("kind", t.kind.String()), zap.Error(err))
	if t.kind.Financial() || t.kind == KindSettlement || t.kind == KindBatchUpload {
		return p.decline(ctx, t, "96")
	}
	return p.reject(ctx, t, "96")
}

func threeDigits(n uint16) string {
	b := [3]byte{byte('0' + n/100%10), byte('0' + n/10%10), byte('0' + n%10)}
	return string(b[:])
}

// optTime returns nil for the zero time (a log field that is left out).
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
