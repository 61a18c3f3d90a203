package gateway

import "github.com/posgate/posgate/codec"

// Kind is a terminal transaction as the gateway dispatches it (terminal protocol §4).
type Kind uint8

// Transaction kinds. KindUnsupported gets response code 40.
const (
	KindUnsupported Kind = iota
	KindActivation
	KindSignOn
	KindSignOff
	KindEcho
	KindParameters
	KindBalance
	KindPurchase
	KindVoid
	KindRefund
	KindPreAuth
	KindPreAuthVoid
	KindCompletion
	KindCompletionVoid
	KindReversal
	KindSettlement
	KindBatchUpload
	kindEnd
)

var kindNames = [...]string{
	KindUnsupported: "unsupported", KindActivation: "activation", KindSignOn: "sign_on",
	KindSignOff: "sign_off", KindEcho: "echo", KindParameters: "parameters", KindBalance: "balance",
	KindPurchase: "purchase", KindVoid: "void", KindRefund: "refund", KindPreAuth: "preauth",
	KindPreAuthVoid: "preauth_void", KindCompletion: "completion", KindCompletionVoid: "completion_void",
	KindReversal: "reversal", KindSettlement: "settlement", KindBatchUpload: "batch_upload",
}

// String returns the kind's metric label (sign_on, purchase, …).
func (k Kind) String() string {
	if k < kindEnd {
		return kindNames[k]
	}
	return "unsupported"
}

// Financial reports whether the kind carries card data and a MAC.
func (k Kind) Financial() bool { return k >= KindBalance && k <= KindReversal }

// MACed reports whether requests of this kind must carry a MAC (terminal protocol §4).
func (k Kind) MACed() bool { return k.Financial() || k == KindSettlement || k == KindBatchUpload }

// classification holds the dispatch fields of one request.
type classification struct {
	kind    Kind
	f60     codec.Field60
	has60   bool
	netCode uint16 // 60.3
}

// financialKinds is the transaction table of terminal protocol §4 for financial messages: the
// request MTI, processing code, condition code and 60.1 of each kind. A reversal (0400) carries
// its original's 3, 25 and 60.1, so the same table tells what it reverses.
var financialKinds = [...]struct {
	mti, proc, cond string
	msgType         uint8
	kind            Kind
}{
	{"0200", "310000", "00", 1, KindBalance},
	{"0200", "000000", "00", 22, KindPurchase},
	{"0200", "200000", "00", 23, KindVoid},
	{"0220", "200000", "00", 25, KindRefund},
	{"0100", "030000", "06", 10, KindPreAuth},
	{"0100", "200000", "06", 11, KindPreAuthVoid},
	{"0200", "000000", "06", 20, KindCompletion},
	{"0200", "200000", "06", 21, KindCompletionVoid},
}

// financialKind looks up (MTI, 3, 25, 60.1); a nil mti matches any (for reversals). A missing
// field 25 counts as 00.
func financialKind(mti []byte, m *codec.Message, msgType uint8) Kind {
	proc, cond := m.Field(3), m.Field(25)
	for _, f := range financialKinds {
		if (mti == nil || f.mti == string(mti)) && string(proc) == f.proc && f.msgType == msgType &&
			(string(cond) == f.cond || cond == nil && f.cond == "00") {
			return f.kind
		}
	}
	return KindUnsupported
}

// classify dispatches on (MTI, 3, 25, 60.1, 60.3). It allocates nothing.
func classify(m *codec.Message) classification {
	var c classification
	if v := m.Field(60); v != nil {
		if f, err := codec.ParseField60(v); err == nil {
			c.f60, c.has60 = f, true
			if f.Digits >= 11 {
				c.netCode = f.NetworkCode
			}
		}
	}
	mt := c.f60.MessageType
	mti := m.MTI()
	switch {
	case m.IsMTI("0400"):
		c.kind = KindReversal
	case !c.has60:
	case m.IsMTI("0800") && mt == 0:
		switch c.netCode {
		case 101:
			c.kind = KindActivation
		case 1, 3, 4:
			c.kind = KindSignOn
		case 360:
			c.kind = KindParameters
		}
	case m.IsMTI("0820") && mt == 0:
		switch c.netCode {
		case 2:
			c.kind = KindSignOff
		case 301:
			c.kind = KindEcho
		}
	case m.IsMTI("0500") && mt == 0 && c.netCode == 201:
		c.kind = KindSettlement
	case m.IsMTI("0320") && mt == 0 && (c.netCode == 201 || c.netCode == 202 || c.netCode == 207):
		c.kind = KindBatchUpload
	case m.IsMTI("0200"), m.IsMTI("0220"), m.IsMTI("0100"):
		c.kind = financialKind(mti, m, mt)
	}
	return c
}

// originalKind is the kind a reversal reverses, from the reversal's own 3, 25 and 60.1.
func originalKind(m *codec.Message, c classification) Kind {
	return financialKind(nil, m, c.f60.MessageType)
}

// responseMTI returns the MTI of the response to a request MTI (0200 → 0210): the third digit
// plus one.
func responseMTI(req []byte) [4]byte {
	var r [4]byte
	copy(r[:], req)
	if len(req) == 4 && r[2] < '9' {
		r[2]++
	}
	return r
}
