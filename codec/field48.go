package codec

// Totals is one half (domestic or foreign cards) of the 0500 settlement totals in field 48.
// "Debit" is money to the merchant (purchases, completions), "credit" money back (voids,
// completion voids, refunds). Amounts are fen.
type Totals struct {
	DebitAmount  int64 // n12
	DebitCount   int   // n3
	CreditAmount int64 // n12
	CreditCount  int   // n3
	// Flag is 0 in a request; in a response 1 balanced, 2 not balanced, 3 error.
	Flag uint8 // n1
}

// Settlement flags of a 0510 response.
const (
	SettleBalanced    uint8 = 1
	SettleNotBalanced uint8 = 2
	SettleError       uint8 = 3
)

// SettlementTotals is field 48 of a 0500/0510: domestic totals, then foreign ones (62 digits;
// a 31-digit field with domestic totals only is accepted).
type SettlementTotals struct {
	Domestic, Foreign Totals
}

var totalsWidths = [...]int{12, 3, 12, 3, 1}

// ParseSettlementTotals reads field 48 of a 0500 or 0510.
func ParseSettlementTotals(v []byte) (SettlementTotals, error) {
	var t SettlementTotals
	if len(v) != 31 && len(v) != 62 {
		return t, fieldErr(48, ErrSubfield)
	}
	for k, dst := range []*Totals{&t.Domestic, &t.Foreign} {
		if len(v) < 31*(k+1) {
			break
		}
		part := v[31*k : 31*(k+1)]
		var vals [5]uint64
		i := 0
		for j, w := range totalsWidths {
			x, err := parseDigits(48, part[i:i+w])
			if err != nil {
				return t, err
			}
			vals[j] = x
			i += w
		}
		*dst = Totals{DebitAmount: int64(vals[0]), DebitCount: int(vals[1]), CreditAmount: int64(vals[2]),
			CreditCount: int(vals[3]), Flag: uint8(vals[4])}
	}
	return t, nil
}

// AppendSettlementTotals appends the 62 digits of t. Amounts and counts wider than their fields
// are an error (ErrNumberTooLarge), as are negative ones.
func AppendSettlementTotals(dst []byte, t SettlementTotals) ([]byte, error) {
	for _, x := range []Totals{t.Domestic, t.Foreign} {
		if x.DebitAmount < 0 || x.DebitAmount > 999999999999 || x.CreditAmount < 0 || x.CreditAmount > 999999999999 ||
			x.DebitCount < 0 || x.DebitCount > 999 || x.CreditCount < 0 || x.CreditCount > 999 || x.Flag > 9 {
			return dst, fieldErr(48, ErrNumberTooLarge)
		}
		dst = appendPadded(dst, uint64(x.DebitAmount), 12)
		dst = appendPadded(dst, uint64(x.DebitCount), 3)
		dst = appendPadded(dst, uint64(x.CreditAmount), 12)
		dst = appendPadded(dst, uint64(x.CreditCount), 3)
		dst = appendPadded(dst, uint64(x.Flag), 1)
	}
	return dst, nil
}

// UploadRecord is one transaction of a 0320 batch upload (60.3 = 201).
type UploadRecord struct {
	CardOrg uint8  // n2
	STAN    uint32 // n6
	// PAN holds the card number's digits, PANLen how many (the wire left-pads to 20 with zeros).
	PAN    [20]byte
	PANLen uint8
	Amount int64 // n12, fen
}

// BatchUpload is field 48 of a 0320 with records: a count n2 and up to 8 records of 40 digits.
type BatchUpload struct {
	Count   int
	Records [8]UploadRecord
}

const uploadRecordDigits = 2 + 6 + 20 + 12

// ParseBatchUpload reads field 48 of a 0320 carrying records.
func ParseBatchUpload(v []byte) (BatchUpload, error) {
	var u BatchUpload
	if len(v) < 2 {
		return u, fieldErr(48, ErrSubfield)
	}
	c, err := parseDigits(48, v[:2])
	if err != nil {
		return u, err
	}
	if c > 8 || len(v) != 2+int(c)*uploadRecordDigits {
		return u, fieldErr(48, ErrSubfield)
	}
	u.Count = int(c)
	for k := 0; k < u.Count; k++ {
		r := v[2+k*uploadRecordDigits : 2+(k+1)*uploadRecordDigits]
		org, err1 := parseDigits(48, r[0:2])
		stan, err2 := parseDigits(48, r[2:8])
		amt, err3 := parseDigits(48, r[28:40])
		if err1 != nil || err2 != nil || err3 != nil {
			return u, fieldErr(48, ErrInvalidChar)
		}
		rec := &u.Records[k]
		rec.CardOrg, rec.STAN, rec.Amount = uint8(org), uint32(stan), int64(amt)
		pan := r[8:28]
		for len(pan) > 0 && pan[0] == '0' {
			pan = pan[1:]
		}
		rec.PANLen = uint8(copy(rec.PAN[:], pan))
	}
	return u, nil
}

// AppendBatchUpload appends field 48 of a 0320 with u's records.
func AppendBatchUpload(dst []byte, u BatchUpload) ([]byte, error) {
	if u.Count < 0 || u.Count > 8 {
		return dst, fieldErr(48, ErrSubfield)
	}
	dst = appendPadded(dst, uint64(u.Count), 2)
	for k := 0; k < u.Count; k++ {
		r := &u.Records[k]
		if r.Amount < 0 || r.Amount > 999999999999 || r.STAN > 999999 || r.CardOrg > 99 || r.PANLen > 20 {
			return dst, fieldErr(48, ErrNumberTooLarge)
		}
		dst = appendPadded(dst, uint64(r.CardOrg), 2)
		dst = appendPadded(dst, uint64(r.STAN), 6)
		for i := int(r.PANLen); i < 20; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, r.PAN[:r.PANLen]...)
		dst = appendPadded(dst, uint64(r.Amount), 12)
	}
	return dst, nil
}

// ParseBatchEnd reads field 48 of a 0320 ending a batch upload (60.3 = 202 or 207): the total
// count n4.
func ParseBatchEnd(v []byte) (int, error) {
	if len(v) != 4 {
		return 0, fieldErr(48, ErrSubfield)
	}
	n, err := parseDigits(48, v)
	return int(n), err
}
