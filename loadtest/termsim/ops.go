package termsim

// Op is an operation of the terminal: a message type of terminal-protocol §4.
type Op uint8

// Operations.
const (
	OpExchange Op = iota // a message built by the caller (Exchange, SendRaw)
	OpActivate
	OpSignOn
	OpSignOff
	OpEcho
	OpDownloadParameters
	OpBalance
	OpPurchase
	OpVoid
	OpRefund
	OpPreAuth
	OpPreAuthVoid
	OpCompletion
	OpCompletionVoid
	OpReversal
	OpSettle
	OpBatchUpload
	numOps
)

// opSpec is the dispatch key of an operation (terminal-protocol §4) and what the terminal does
// with it.
type opSpec struct {
	name       string
	mti        string
	proc       string // field 3
	cond       string // field 25
	msgType    uint8  // 60.1
	netCode    uint16 // 60.3
	reversible bool
	// side is +1 when an approval adds to the debit totals of field 48, -1 to the credit ones.
	side int8
	// card: the request carries a card (2 or 35); entry: it carries 22 (and 14, 23, 26, 52,
	// 53, 55 when the card has them) and field 59; amount: it carries 4.
	card, entry, amount bool
	// ref37, ref38: the original's RRN and auth code; ref61 is the number of digits of 61
	// (12: batch + STAN, 16: with the date), 0 for none.
	ref37, ref38 bool
	ref61        uint8
}

var ops = [numOps]opSpec{
	OpExchange:           {name: "exchange"},
	OpActivate:           {name: "activation", mti: "0800", netCode: 101},
	OpSignOn:             {name: "sign-on", mti: "0800"},
	OpSignOff:            {name: "sign-off", mti: "0820", netCode: 2},
	OpEcho:               {name: "echo test", mti: "0820", netCode: 301},
	OpDownloadParameters: {name: "parameter download", mti: "0800", netCode: 360},
	OpBalance: {name: "balance inquiry", mti: "0200", proc: "310000", cond: "00", msgType: 1,
		card: true, entry: true},
	OpPurchase: {name: "purchase", mti: "0200", proc: "000000", cond: "00", msgType: 22,
		reversible: true, side: +1, card: true, entry: true, amount: true},
	OpVoid: {name: "void", mti: "0200", proc: "200000", cond: "00", msgType: 23,
		reversible: true, side: -1, card: true, amount: true, ref37: true, ref38: true, ref61: 12},
	OpRefund: {name: "refund", mti: "0220", proc: "200000", cond: "00", msgType: 25,
		side: -1, card: true, amount: true, ref37: true, ref61: 16},
	OpPreAuth: {name: "pre-authorization", mti: "0100", proc: "030000", cond: "06", msgType: 10,
		reversible: true, card: true, entry: true, amount: true},
	OpPreAuthVoid: {name: "pre-auth void", mti: "0100", proc: "200000", cond: "06", msgType: 11,
		reversible: true, card: true, amount: true, ref38: true, ref61: 16},
	OpCompletion: {name: "pre-auth completion", mti: "0200", proc: "000000", cond: "06", msgType: 20,
		reversible: true, side: +1, card: true, amount: true, ref38: true, ref61: 16},
	OpCompletionVoid: {name: "completion void", mti: "0200", proc: "200000", cond: "06", msgType: 21,
		reversible: true, side: -1, card: true, amount: true, ref37: true, ref38: true, ref61: 12},
	OpReversal:    {name: "reversal", mti: "0400"},
	OpSettle:      {name: "settlement", mti: "0500", netCode: 201},
	OpBatchUpload: {name: "batch upload", mti: "0320", netCode: 201},
}

// String returns the operation's name ("purchase", "sign-on" …).
func (o Op) String() string {
	if o < numOps {
		return ops[o].name
	}
	return "unknown"
}

// Reversible reports whether a request of this type is reversed when its answer is lost.
func (o Op) Reversible() bool { return o < numOps && ops[o].reversible }
