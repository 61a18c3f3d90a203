package codec

// Format is what a field may hold.
type Format uint8

// Field formats.
const (
	FormatN      Format = iota + 1 // digits 0-9
	FormatZ                        // track data: digits, the separator 'D' (or '='), and A–F when TDK-encrypted
	FormatAN                       // printable ASCII (0x20–0x7E)
	FormatANS                      // any byte (GBK text in 62/63 included)
	FormatB                        // binary
	FormatAmount                   // x+n: 'C' or 'D' then digits (1987 fee amounts)
)

// LengthType is how a field's length is known.
type LengthType uint8

// Length types.
const (
	Fixed LengthType = iota // length is the spec's
	LL                      // 2-digit length prefix
	LLL                     // 3-digit length prefix
)

// Sensitivity says how a field's value may be shown in logs, errors and the decode command.
type Sensitivity uint8

// Sensitivities.
const (
	Clear     Sensitivity = iota // shown as is
	MaskedPAN                    // first 6 and last 4 digits shown
	Redacted                     // never shown
	MaskedTLV                    // field 59: the random factor (last digits of the PAN) is hidden
)

// FieldSpec declares one field of a profile.
type FieldSpec struct {
	Name   string
	Format Format
	Length LengthType
	// Max is the longest value: digits for N/Z, characters for AN/ANS/Amount, bytes for B.
	// For a Fixed field it is the exact length.
	Max int
	// LeftAligned marks a fixed odd-length BCD field padded on the right (terminal field 22).
	// Variable BCD fields are always left-aligned.
	LeftAligned bool
	Sensitivity Sensitivity
}

// Encoding is a profile's wire encoding.
type Encoding uint8

// Encodings.
const (
	// BCD: packed BCD numerics and lengths, binary bitmap and binary fields (terminal link).
	BCD Encoding = iota + 1
	// ASCII: ASCII numerics and lengths, hex bitmap and hex binary fields (1987 ASCII).
	ASCII
)

// fieldSpec is the compiled, flat form of a FieldSpec.
type fieldSpec struct {
	defined bool
	format  Format
	length  LengthType
	left    bool // BCD pad nibble last (fixed left-aligned fields and every variable one)
	sens    Sensitivity
	kind    wireKind
	prefix  uint8 // bytes of the length prefix on the wire (0 for fixed fields)
	max     uint16
}

// wireKind is how a field's value travels in its profile, precomputed so Unpack and Pack
// branch once per field.
type wireKind uint8

const (
	wireRaw   wireKind = iota // bytes as they are (ans, b on the BCD link)
	wireCheck                 // bytes as they are, characters checked (n, z, an, amount in ASCII)
	wireBCD                   // packed BCD (n, z on the BCD link)
	wireHex                   // binary as hex characters (b in ASCII); the prefix counts characters
)

// Profile is a compiled field table. Profiles are built once at package init and never change.
type Profile struct {
	name   string
	enc    Encoding
	fields [129]fieldSpec
	specs  [129]FieldSpec
}

// NewProfile compiles a profile from its declaration. Field numbers must be 2..128 and Max
// positive; it panics otherwise, since profiles are package-level data checked by tests.
func NewProfile(name string, enc Encoding, fields map[int]FieldSpec) *Profile {
	p := &Profile{name: name, enc: enc}
	for n, f := range fields {
		if n < 2 || n > 128 || f.Max <= 0 || f.Max > 999 || f.Format == 0 {
			panic("codec: bad field spec in profile " + name)
		}
		p.specs[n] = f
		fs := fieldSpec{defined: true, format: f.Format, length: f.Length,
			left: f.LeftAligned || f.Length != Fixed, sens: f.Sensitivity, max: uint16(f.Max)}
		numeric := f.Format == FormatN || f.Format == FormatZ
		switch {
		case enc == BCD && numeric:
			fs.kind = wireBCD
		case enc == ASCII && f.Format == FormatB:
			fs.kind = wireHex
		case f.Format == FormatANS || f.Format == FormatB:
			fs.kind = wireRaw
		default:
			fs.kind = wireCheck
		}
		if f.Length != Fixed {
			fs.prefix = uint8(f.Length) // BCD: 1 or 2 bytes
			if enc == ASCII {
				fs.prefix++ // ASCII: 2 or 3 digits
			}
		}
		p.fields[n] = fs
	}
	return p
}

// Name returns the profile's name ("terminal" or "upstream").
func (p *Profile) Name() string { return p.name }

// Encoding returns the profile's wire encoding.
func (p *Profile) Encoding() Encoding { return p.enc }

// Field returns the declaration of field n and whether the profile defines it.
func (p *Profile) Field(n int) (FieldSpec, bool) {
	if n < 2 || n > 128 || !p.fields[n].defined {
		return FieldSpec{}, false
	}
	return p.specs[n], true
}

// ProfileByName returns Terminal or Upstream.
func ProfileByName(name string) (*Profile, error) {
	switch name {
	case "terminal":
		return Terminal, nil
	case "upstream":
		return Upstream, nil
	}
	return nil, ErrNoSuchProfile
}
