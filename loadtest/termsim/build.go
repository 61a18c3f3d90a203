package termsim

import (
	"context"
	"errors"

	"github.com/posgate/posgate/codec"
)

// begin resets the request message to an empty one of type mti carrying the STAN.
func (t *Terminal) begin(mti string, stan uint32) (*codec.Message, error) {
	m := t.req
	m.Reset()
	if err := m.SetMTI(mti); err != nil {
		return nil, err
	}
	if err := m.SetNumber(11, uint64(stan)); err != nil {
		return nil, err
	}
	return m, nil
}

// setIDs sets 41 and 42; both must be known (ErrNotActivated otherwise).
func (t *Terminal) setIDs(m *codec.Message) error {
	if t.tid == "" || t.mid == "" {
		return ErrNotActivated
	}
	if err := m.SetString(41, t.tid); err != nil {
		return err
	}
	return m.SetString(42, t.mid)
}

// set60 sets field 60 = 60.1 message type, 60.2 batch, 60.3 network management code.
func (t *Terminal) set60(m *codec.Message, msgType uint8, batch uint32, netCode uint16) error {
	t.tmp = codec.AppendField60(t.tmp[:0], codec.Field60{MessageType: msgType, Batch: batch, NetworkCode: netCode, Digits: 11})
	return m.Set(60, t.tmp)
}

// set59 sets field 59: the A2 block with device type, SN, the random factor (when not nil), the
// SN cipher (when cipher is set) and the application version.
func (t *Terminal) set59(m *codec.Message, random []byte, cipher bool) error {
	ti := codec.TerminalInfo{DeviceType: t.devType, SN: t.sn, RandomFactor: random, AppVersion: t.appVersion}
	var c [8]byte
	if cipher {
		if t.dev == nil {
			return ErrNotActivated
		}
		var err error
		if c, err = t.dev.SNCipher(t.sn, random); err != nil {
			return err
		}
		ti.SNCipher = c[:]
	}
	t.tmp = codec.AppendTerminalInfo(t.tmp[:0], ti)
	return m.Set(59, t.tmp)
}

// stanDigits writes stan as the 6 digits of a card-less random factor.
func stanDigits(dst *[6]byte, stan uint32) []byte {
	for i := 5; i >= 0; i-- {
		dst[i] = byte('0' + stan%10)
		stan /= 10
	}
	return dst[:]
}

// noteRequirement records what a response header asks for. A sign-on answer asking for a
// sign-on, or a parameter download answer asking for a download, is not obeyed again (it would
// loop): the request just did it.
func (t *Terminal) noteRequirement(r byte, op Op) {
	switch r {
	case codec.RequireSignOn:
		if op != OpSignOn {
			t.needSignOn = true
		}
	case codec.RequireParams:
		if op != OpDownloadParameters {
			t.needParams = true
		}
	case codec.RequireTMSUpdate:
		t.updateWanted = true
	}
}

// fillResult copies the response in t.resp into res.
func (t *Terminal) fillResult(res *Result, x exchange) {
	r := t.resp
	res.Code = string(r.Field(39))
	res.AuthCode = string(r.Field(38))
	res.RRN = string(r.Field(37))
	res.Date = string(r.Field(13))
	res.SettlementDate = string(r.Field(15))
	if v := r.Field(63); len(v) >= 3 {
		res.CardOrg = string(v[:3])
	}
	if v := r.Field(54); v != nil {
		res.Balance, res.HasBalance = parseBalance(v)
	}
	res.Latency = x.latency
	res.Requirement = x.requirement
}

// parseBalance reads field 54: account type n2, amount type n2, currency an3, sign C/D,
// amount n12 (the first such block).
func parseBalance(v []byte) (int64, bool) {
	if len(v) < 20 || (v[7] != 'C' && v[7] != 'D') {
		return 0, false
	}
	var a int64
	for _, c := range v[8:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
		a = a*10 + int64(c-'0')
	}
	if v[7] == 'D' {
		a = -a
	}
	return a, true
}

// reversalReason is field 39 of the 0400 owed after err: 98 no answer, 96 unreadable answer,
// A0 bad response MAC, 06 the caller gave up (context cancelled).
func reversalReason(err error) string {
	switch {
	case errors.Is(err, ErrResponseMAC):
		return "A0"
	case errors.Is(err, ErrMalformedResponse):
		return "96"
	case errors.Is(err, context.Canceled):
		return "06"
	}
	return "98"
}
