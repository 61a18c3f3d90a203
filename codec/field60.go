package codec

// Field60 is terminal field 60, "reserved": 60.1 message type code n2, 60.2 batch n6, 60.3
// network management code n3, 60.4 read capability n1, 60.5 chip condition n1, 60.6 partial
// approval n1, 60.7 account type n3. Senders stop after any sub-field, and some send two more
// digits after 60.7; Digits records how many were sent so the field re-encodes as it came.
type Field60 struct {
	MessageType     uint8  // 60.1
	Batch           uint32 // 60.2
	NetworkCode     uint16 // 60.3
	ReadCapability  uint8  // 60.4
	ChipCondition   uint8  // 60.5
	PartialApproval uint8  // 60.6
	AccountType     uint16 // 60.7
	Extra           uint8  // digits 18–19 some senders append
	// Digits is the number of digits present: 2, 8, 11, 12, 13, 14, 17, 18 or 19.
	// AppendField60 writes that many (11 when zero).
	Digits uint8
}

// field60Ends are the digit counts at which a sub-field ends.
var field60Widths = [...]int{2, 6, 3, 1, 1, 1, 3, 2}

// ParseField60 reads field 60's digits (Message.Field(60)).
func ParseField60(v []byte) (Field60, error) {
	var f Field60
	var vals [8]uint32
	if err := splitDigits(60, v, field60Widths[:], vals[:]); err != nil {
		return f, err
	}
	f = Field60{MessageType: uint8(vals[0]), Batch: vals[1], NetworkCode: uint16(vals[2]),
		ReadCapability: uint8(vals[3]), ChipCondition: uint8(vals[4]), PartialApproval: uint8(vals[5]),
		AccountType: uint16(vals[6]), Extra: uint8(vals[7]), Digits: uint8(len(v))}
	return f, nil
}

// AppendField60 appends f's digits to dst.
func AppendField60(dst []byte, f Field60) []byte {
	n := int(f.Digits)
	if n == 0 {
		n = 11
	}
	vals := [8]uint32{uint32(f.MessageType), f.Batch, uint32(f.NetworkCode), uint32(f.ReadCapability),
		uint32(f.ChipCondition), uint32(f.PartialApproval), uint32(f.AccountType), uint32(f.Extra)}
	return joinDigits(dst, n, field60Widths[:], vals[:])
}

// Field61 is terminal field 61, "original transaction": 61.1 batch n6, 61.2 STAN n6, 61.3 date
// MMDD n4, then up to 13 more digits kept as they came (Rest).
type Field61 struct {
	Batch uint32 // 61.1
	STAN  uint32 // 61.2
	Date  uint16 // 61.3, MMDD as a number (0 when absent)
	// Rest holds the digits after 61.3 (up to 13), RestLen how many.
	Rest    [13]byte
	RestLen uint8
	// Digits is the number of digits present (6, 12, 16 or more); AppendField61 writes 16 when zero.
	Digits uint8
}

var field61Widths = [...]int{6, 6, 4}

// ParseField61 reads field 61's digits.
func ParseField61(v []byte) (Field61, error) {
	var f Field61
	head := v
	if len(head) > 16 {
		head = v[:16]
	}
	var vals [3]uint32
	if err := splitDigits(61, head, field61Widths[:], vals[:]); err != nil {
		return f, err
	}
	f.Batch, f.STAN, f.Date = vals[0], vals[1], uint16(vals[2])
	if len(v) > 16 {
		f.RestLen = uint8(copy(f.Rest[:], v[16:]))
	}
	f.Digits = uint8(len(v))
	return f, nil
}

// AppendField61 appends f's digits to dst.
func AppendField61(dst []byte, f Field61) []byte {
	n := int(f.Digits)
	if n == 0 {
		n = 16
	}
	head := n
	if head > 16 {
		head = 16
	}
	vals := [3]uint32{f.Batch, f.STAN, uint32(f.Date)}
	dst = joinDigits(dst, head, field61Widths[:], vals[:])
	if n > 16 {
		dst = append(dst, f.Rest[:f.RestLen]...)
	}
	return dst
}

// splitDigits cuts v into consecutive sub-fields of the given widths; v must end at a sub-field
// boundary (or inside the last sub-field list's tail when it is exhausted).
func splitDigits(field int, v []byte, widths []int, out []uint32) error {
	i := 0
	for k, w := range widths {
		if i == len(v) {
			break
		}
		if len(v)-i < w {
			return fieldErr(field, ErrSubfield)
		}
		x, err := parseDigits(field, v[i:i+w])
		if err != nil {
			return err
		}
		out[k] = uint32(x)
		i += w
	}
	if i != len(v) || i == 0 {
		return fieldErr(field, ErrSubfield)
	}
	return nil
}

// joinDigits writes the sub-fields, zero-padded to their widths, stopping after n digits.
func joinDigits(dst []byte, n int, widths []int, vals []uint32) []byte {
	written := 0
	for k, w := range widths {
		if written >= n {
			break
		}
		dst = appendPadded(dst, uint64(vals[k]), w)
		written += w
	}
	return dst
}

// appendPadded appends v as exactly w decimal digits (the high digits are dropped if v is wider).
func appendPadded(dst []byte, v uint64, w int) []byte {
	var off int
	dst, off = grow(dst, w)
	for i := off + w - 1; i >= off; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}
