package termsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"strconv"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/hsm/termcrypto"
)

// Activate activates the terminal with a one-time activation code (terminal-flows.md,
// "Activation"): it sends key's public half and the proof, opens the TMK of the answer with key
// and checks its KCV, and learns the TID and MID from 41 and 42. A nil key is drawn from
// Config.KeyPool, or generated. The terminal then holds a new TMK and no working keys: sign on
// next. A response code other than 00 is a *DeclinedError.
func (t *Terminal) Activate(ctx context.Context, code string, key *rsa.PrivateKey) (Result, error) {
	res := Result{Op: OpActivate}
	if key == nil {
		var err error
		if t.cfg.KeyPool != nil {
			key, err = t.cfg.KeyPool.Get(ctx)
		} else {
			key, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			return res, err
		}
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return res, err
	}
	proof, err := termcrypto.ActivationProof(code, t.sn, pubDER)
	if err != nil {
		return res, err
	}
	stan := t.nextSTAN()
	res.STAN = stan
	m, err := t.begin("0800", stan)
	if err != nil {
		return res, err
	}
	if t.tid != "" {
		if err := m.SetString(41, t.tid); err != nil {
			return res, err
		}
	}
	if t.mid != "" {
		if err := m.SetString(42, t.mid); err != nil {
			return res, err
		}
	}
	if err := t.set59(m, nil, false); err != nil {
		return res, err
	}
	if err := t.set60(m, 0, 0, ops[OpActivate].netCode); err != nil {
		return res, err
	}
	t.tmp = codec.AppendTLV(t.tmp[:0], codec.Tag62PublicKey, pubDER)
	t.tmp = codec.AppendTLV(t.tmp, codec.Tag62Proof, proof)
	if err := m.Set(62, t.tmp); err != nil {
		return res, err
	}
	if err := t.send(ctx, OpActivate, &res); err != nil {
		return res, err
	}
	var tk, kc []byte
	it := codec.NewTLVIter(t.resp.Field(62), 3)
	for it.Next() {
		switch string(it.Tag()) {
		case codec.Tag62TMK:
			tk = it.Value()
		case codec.Tag62KCV:
			kc = it.Value()
		}
	}
	if it.Err() != nil || tk == nil || len(kc) != 4 {
		return res, &ExchangeError{Op: OpActivate, STAN: stan, Err: ErrMalformedResponse}
	}
	tid, mid := t.resp.Field(41), t.resp.Field(42)
	if len(tid) != 8 || len(mid) != 15 {
		return res, &ExchangeError{Op: OpActivate, STAN: stan, Err: ErrMalformedResponse}
	}
	tmk, err := termcrypto.OpenTMK(key, tk, hsm.KCV(kc))
	if err != nil {
		return res, err
	}
	dev, err := termcrypto.NewDevice(tmk)
	clear(tmk)
	if err != nil {
		return res, err
	}
	t.dev = dev
	t.tid, t.mid = string(tid), string(mid)
	t.signedOn = false
	return res, nil
}

// SignOn signs on (0800, 60.3 = the configured layout) and installs the working keys of the
// answer's field 62 after checking their KCVs; the answer's 60.2 becomes the current batch. A
// response code other than 00 is a *DeclinedError.
func (t *Terminal) SignOn(ctx context.Context) (Result, error) {
	res := Result{Op: OpSignOn}
	if t.dev == nil {
		return res, ErrNotActivated
	}
	stan := t.nextSTAN()
	res.STAN, res.Batch = stan, t.batch
	m, err := t.begin("0800", stan)
	if err != nil {
		return res, err
	}
	if err := t.setIDs(m); err != nil {
		return res, err
	}
	if !t.cfg.Legacy {
		var r [6]byte
		if err := t.set59(m, stanDigits(&r, stan), true); err != nil {
			return res, err
		}
	}
	layout := t.cfg.SignOnLayout
	code, _ := strconv.Atoi(layout.String())
	if err := t.set60(m, 0, t.batch, uint16(code)); err != nil {
		return res, err
	}
	if err := m.SetString(63, t.cfg.Operator); err != nil {
		return res, err
	}
	if err := t.send(ctx, OpSignOn, &res); err != nil {
		return res, err
	}
	if err := t.dev.SignOn(layout, t.resp.Field(62)); err != nil {
		return res, err
	}
	if v := t.resp.Field(60); v != nil {
		f60, err := codec.ParseField60(v)
		if err != nil || len(v) < 8 || f60.Batch == 0 || f60.Batch > 999999 {
			return res, &ExchangeError{Op: OpSignOn, STAN: stan, Err: ErrMalformedResponse}
		}
		if f60.Batch != t.batch {
			t.batch = f60.Batch
			t.book = t.book[:0]
		}
	}
	t.signedOn = true
	t.needSignOn = false
	return res, nil
}

// SignOff signs off (0820, 60.3 = 002). The terminal then needs a sign-on before its next
// transaction.
func (t *Terminal) SignOff(ctx context.Context) (Result, error) {
	res, err := t.simple(ctx, OpSignOff)
	if err == nil {
		t.signedOn = false
	}
	return res, err
}

// Echo sends an echo test (0820, 60.3 = 301).
func (t *Terminal) Echo(ctx context.Context) (Result, error) { return t.simple(ctx, OpEcho) }

// DownloadParameters asks for the terminal parameters (0800, 60.3 = 360) and keeps them (see
// Params). Unless Config.KeepSettings is set, a downloaded timeout and reversal retry count
// replace the configured ones.
func (t *Terminal) DownloadParameters(ctx context.Context) (Result, error) {
	res, err := t.simple(ctx, OpDownloadParameters)
	if err != nil {
		return res, err
	}
	var p Params
	it := codec.NewTLVIter(t.resp.Field(62), 3)
	for it.Next() {
		v := it.Value()
		switch string(it.Tag()) {
		case "MN":
			p.MerchantName = string(v)
		case "TO":
			if n, err := strconv.Atoi(string(v)); err == nil && n > 0 {
				p.Timeout = time.Duration(n) * time.Second
			}
		case "RT":
			if n, err := strconv.Atoi(string(v)); err == nil && n >= 0 {
				p.Retries = n
			}
		}
	}
	if it.Err() != nil {
		return res, &ExchangeError{Op: OpDownloadParameters, STAN: res.STAN, Err: ErrMalformedResponse}
	}
	t.params = p
	if !t.cfg.KeepSettings {
		if p.Timeout > 0 {
			t.cfg.Timeout = p.Timeout
		}
		if p.Retries > 0 {
			t.cfg.ReversalRetries = p.Retries
		}
	}
	t.needParams = false
	return res, nil
}

// simple runs a network management message of 11, 41, 42 and 60 only.
func (t *Terminal) simple(ctx context.Context, op Op) (Result, error) {
	res := Result{Op: op}
	stan := t.nextSTAN()
	res.STAN, res.Batch = stan, t.batch
	m, err := t.begin(ops[op].mti, stan)
	if err != nil {
		return res, err
	}
	if err := t.setIDs(m); err != nil {
		return res, err
	}
	if err := t.set60(m, 0, t.batch, ops[op].netCode); err != nil {
		return res, err
	}
	return res, t.send(ctx, op, &res)
}

// send frames the unMACed request in t.req, exchanges it and fills res; a code other than 00 is
// a *DeclinedError.
func (t *Terminal) send(ctx context.Context, op Op, res *Result) error {
	if err := t.buildFrame(t.req, false); err != nil {
		return err
	}
	x, err := t.roundTrip(ctx, matchFor(t.req, false))
	if err != nil {
		return &ExchangeError{Op: op, STAN: res.STAN, Err: err}
	}
	t.fillResult(res, x)
	t.noteRequirement(x.requirement, op)
	if !res.Approved() {
		return &DeclinedError{Op: op, Code: res.Code}
	}
	return nil
}
