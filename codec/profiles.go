package codec

// Terminal is the terminal link profile: the UnionPay POS dialect of ISO 8583
// (docs/terminal-protocol.md §3). Fields outside that table are not defined; a frame carrying one
// fails to unpack with ErrUnknownField (the gateway answers 30). Field 128 is defined (b8) so a
// frame with a secondary bitmap can be read, although this link never uses one. Field 60 accepts
// up to 19 digits (a real-world variant) and field 63 two-character operator numbers.
var Terminal = NewProfile("terminal", BCD, map[int]FieldSpec{
	2:   {Name: "PAN", Format: FormatN, Length: LL, Max: 19, Sensitivity: MaskedPAN},
	3:   {Name: "processing code", Format: FormatN, Max: 6},
	4:   {Name: "amount", Format: FormatN, Max: 12},
	11:  {Name: "STAN", Format: FormatN, Max: 6},
	12:  {Name: "local time", Format: FormatN, Max: 6},
	13:  {Name: "local date", Format: FormatN, Max: 4},
	14:  {Name: "expiry", Format: FormatN, Max: 4, Sensitivity: Redacted},
	15:  {Name: "settlement date", Format: FormatN, Max: 4},
	22:  {Name: "entry mode", Format: FormatN, Max: 3, LeftAligned: true},
	23:  {Name: "card sequence", Format: FormatN, Max: 3},
	25:  {Name: "condition code", Format: FormatN, Max: 2},
	26:  {Name: "PIN capture code", Format: FormatN, Max: 2},
	32:  {Name: "acquirer id", Format: FormatN, Length: LL, Max: 11},
	35:  {Name: "track 2", Format: FormatZ, Length: LL, Max: 37, Sensitivity: Redacted},
	36:  {Name: "track 3", Format: FormatZ, Length: LLL, Max: 104, Sensitivity: Redacted},
	37:  {Name: "RRN", Format: FormatAN, Max: 12},
	38:  {Name: "auth code", Format: FormatAN, Max: 6},
	39:  {Name: "response code", Format: FormatAN, Max: 2},
	41:  {Name: "TID", Format: FormatANS, Max: 8},
	42:  {Name: "MID", Format: FormatANS, Max: 15},
	44:  {Name: "additional response", Format: FormatANS, Length: LL, Max: 25},
	48:  {Name: "private (totals, upload)", Format: FormatN, Length: LLL, Max: 322},
	49:  {Name: "currency", Format: FormatAN, Max: 3},
	52:  {Name: "PIN block", Format: FormatB, Max: 8, Sensitivity: Redacted},
	53:  {Name: "security control", Format: FormatN, Max: 16},
	54:  {Name: "balance", Format: FormatANS, Length: LLL, Max: 20},
	55:  {Name: "ICC data", Format: FormatB, Length: LLL, Max: 255, Sensitivity: Redacted},
	59:  {Name: "terminal info", Format: FormatANS, Length: LLL, Max: 600, Sensitivity: MaskedTLV},
	60:  {Name: "reserved (60)", Format: FormatN, Length: LLL, Max: 19},
	61:  {Name: "original transaction", Format: FormatN, Length: LLL, Max: 29},
	62:  {Name: "reserved (62)", Format: FormatB, Length: LLL, Max: 999, Sensitivity: Redacted},
	63:  {Name: "reserved (63)", Format: FormatANS, Length: LLL, Max: 163},
	64:  {Name: "MAC", Format: FormatB, Max: 8},
	128: {Name: "MAC (secondary)", Format: FormatB, Max: 8},
})

// Upstream is the upstream link profile: ISO 8583:1987 all-ASCII (docs/upstream-protocol.md),
// fields 2–128 in their standard 1987 formats as common open-source libraries declare them
// (jPOS ISO87APackager), except field 55, which is binary sent as a hex string whose LLL counts
// hex characters (so at most 499 bytes).
var Upstream = NewProfile("upstream", ASCII, upstreamFields())

func upstreamFields() map[int]FieldSpec {
	n := func(name string, max int) FieldSpec { return FieldSpec{Name: name, Format: FormatN, Max: max} }
	an := func(name string, max int) FieldSpec { return FieldSpec{Name: name, Format: FormatAN, Max: max} }
	ans := func(name string, max int) FieldSpec { return FieldSpec{Name: name, Format: FormatANS, Max: max} }
	llvar := func(f FieldSpec) FieldSpec { f.Length = LL; return f }
	lllvar := func(f FieldSpec) FieldSpec { f.Length = LLL; return f }
	b := func(name string, max int) FieldSpec { return FieldSpec{Name: name, Format: FormatB, Max: max} }
	amt := func(name string, max int) FieldSpec { return FieldSpec{Name: name, Format: FormatAmount, Max: max} }

	f := map[int]FieldSpec{
		2:   {Name: "PAN", Format: FormatN, Length: LL, Max: 19, Sensitivity: MaskedPAN},
		3:   n("processing code", 6),
		4:   n("amount, transaction", 12),
		5:   n("amount, settlement", 12),
		6:   n("amount, cardholder billing", 12),
		7:   n("transmission date and time", 10),
		8:   n("amount, cardholder billing fee", 8),
		9:   n("conversion rate, settlement", 8),
		10:  n("conversion rate, cardholder billing", 8),
		11:  n("STAN", 6),
		12:  n("local time", 6),
		13:  n("local date", 4),
		14:  {Name: "expiry", Format: FormatN, Max: 4, Sensitivity: Redacted},
		15:  n("settlement date", 4),
		16:  n("conversion date", 4),
		17:  n("capture date", 4),
		18:  n("merchant category code", 4),
		19:  n("acquiring institution country", 3),
		20:  n("PAN extended country", 3),
		21:  n("forwarding institution country", 3),
		22:  n("entry mode", 3),
		23:  n("card sequence", 3),
		24:  n("network international id", 3),
		25:  n("condition code", 2),
		26:  n("PIN capture code", 2),
		27:  n("auth id response length", 1),
		28:  amt("amount, transaction fee", 9),
		29:  amt("amount, settlement fee", 9),
		30:  amt("amount, transaction processing fee", 9),
		31:  amt("amount, settlement processing fee", 9),
		32:  llvar(n("acquirer id", 11)),
		33:  llvar(n("forwarding id", 11)),
		34:  {Name: "PAN extended", Format: FormatANS, Length: LL, Max: 28, Sensitivity: Redacted},
		35:  {Name: "track 2", Format: FormatZ, Length: LL, Max: 37, Sensitivity: Redacted},
		36:  {Name: "track 3", Format: FormatANS, Length: LLL, Max: 104, Sensitivity: Redacted},
		37:  an("RRN", 12),
		38:  an("auth code", 6),
		39:  an("response code", 2),
		40:  an("service restriction code", 3),
		41:  ans("TID", 8),
		42:  ans("MID", 15),
		43:  ans("merchant name and location", 40),
		44:  llvar(ans("additional response", 25)),
		45:  {Name: "track 1", Format: FormatANS, Length: LL, Max: 76, Sensitivity: Redacted},
		49:  an("currency, transaction", 3),
		50:  an("currency, settlement", 3),
		51:  an("currency, cardholder billing", 3),
		52:  {Name: "PIN block", Format: FormatB, Max: 8, Sensitivity: Redacted},
		53:  n("security control", 16),
		54:  lllvar(ans("additional amounts", 120)),
		55:  {Name: "ICC data", Format: FormatB, Length: LLL, Max: 499, Sensitivity: Redacted},
		64:  b("MAC", 8),
		65:  b("bitmap, extended", 1),
		66:  n("settlement code", 1),
		67:  n("extended payment code", 2),
		68:  n("receiving institution country", 3),
		69:  n("settlement institution country", 3),
		70:  n("network management code", 3),
		71:  n("message number", 4),
		72:  n("message number, last", 4),
		73:  n("date, action", 6),
		90:  n("original data elements", 42),
		91:  an("file update code", 1),
		92:  an("file security code", 2),
		93:  an("response indicator", 6),
		94:  an("service indicator", 7),
		95:  an("replacement amounts", 42),
		96:  b("message security code", 16),
		97:  amt("amount, net settlement", 17),
		98:  ans("payee", 25),
		99:  llvar(n("settlement institution id", 11)),
		100: llvar(n("receiving institution id", 11)),
		101: llvar(ans("file name", 17)),
		102: llvar(ans("account id 1", 28)),
		103: llvar(ans("account id 2", 28)),
		104: lllvar(ans("transaction description", 100)),
		128: b("MAC (secondary)", 8),
	}
	for i := 46; i <= 48; i++ {
		f[i] = lllvar(ans("additional data", 999))
	}
	for i := 56; i <= 63; i++ {
		f[i] = lllvar(ans("reserved", 999))
	}
	for i := 74; i <= 81; i++ {
		f[i] = n("count", 10)
	}
	for i := 82; i <= 85; i++ {
		f[i] = n("fee amount", 12)
	}
	for i := 86; i <= 89; i++ {
		f[i] = n("amount", 16)
	}
	for i := 105; i <= 127; i++ {
		f[i] = lllvar(ans("reserved", 999))
	}
	return f
}
