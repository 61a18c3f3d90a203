package hsm

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

// KeyType says what a key is for. A key may only be used for its own type's operations.
type KeyType uint8

// Key types known to the module.
const (
	KeyTMK KeyType = iota + 1 // terminal master key: encrypts working keys sent to the terminal
	KeyPIK                    // PIN key (terminal side of PIN translation)
	KeyMAK                    // MAC key
	KeyTDK                    // track data key
	KeyZPK                    // zone PIN key of an upstream route
	KeyACV                    // activation code verifier: derived from a one-time activation code
)

var keyTypeNames = [...]string{KeyTMK: "TMK", KeyPIK: "PIK", KeyMAK: "MAK", KeyTDK: "TDK", KeyZPK: "ZPK", KeyACV: "ACV"}

// String returns the key type's short name (TMK, PIK, MAK, TDK, ZPK, ACV).
func (t KeyType) String() string {
	if t > 0 && int(t) < len(keyTypeNames) {
		return keyTypeNames[t]
	}
	return "unknown"
}

// ParseKeyType is the inverse of KeyType.String.
func ParseKeyType(s string) (KeyType, error) {
	for t, name := range keyTypeNames {
		if name != "" && name == s {
			return KeyType(t), nil
		}
	}
	return 0, ErrKeyType
}

// MACAlgorithm is a terminal's MAC setting (terminal protocol §5.3).
type MACAlgorithm uint8

// MAC algorithms.
const (
	MACPOSECB MACAlgorithm = iota + 1 // the dialect's default "POS ECB"
	MACX919                           // ANSI X9.19 retail MAC
)

// String returns "pos-ecb" or "x9.19".
func (a MACAlgorithm) String() string {
	switch a {
	case MACPOSECB:
		return "pos-ecb"
	case MACX919:
		return "x9.19"
	}
	return "unknown"
}

// ParseMACAlgorithm is the inverse of MACAlgorithm.String.
func ParseMACAlgorithm(s string) (MACAlgorithm, error) {
	switch s {
	case "pos-ecb":
		return MACPOSECB, nil
	case "x9.19":
		return MACX919, nil
	}
	return 0, ErrMACAlgorithm
}

// Errors of key handling. Their text never holds key material. The module's other errors are in
// errors.go.
var (
	ErrKeyType      = errors.New("hsm: wrong or unknown key type")
	ErrMACAlgorithm = errors.New("hsm: unknown MAC algorithm")
	ErrWrappedKey   = errors.New("hsm: malformed wrapped key")
)

// KCV is a key check value: the first 4 bytes of the clear key encrypting eight zero bytes
// (terminal protocol §5.1). It identifies a key without revealing it.
type KCV [4]byte

// String returns the KCV as 8 upper-case hex characters.
func (k KCV) String() string { return strings.ToUpper(hex.EncodeToString(k[:])) }

// Equal compares two KCVs in constant time.
func (k KCV) Equal(o KCV) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// WrappedKey is a key encrypted under the module's LMK: the only form in which a key leaves the
// module, safe to store in the terminal registry. Cipher is opaque outside the module that made
// it (its format is that module's) and includes whatever integrity protection the module adds.
type WrappedKey struct {
	Type   KeyType
	Cipher []byte
	KCV    KCV
}

// IsZero reports whether k holds no key.
func (k WrappedKey) IsZero() bool { return k.Type == 0 && len(k.Cipher) == 0 }

// String prints only the key's type and KCV, never its cipher text.
func (k WrappedKey) String() string {
	if k.IsZero() {
		return "<no key>"
	}
	return k.Type.String() + " KCV " + k.KCV.String()
}

// Equal reports whether two wrapped keys are the same, comparing in constant time.
func (k WrappedKey) Equal(o WrappedKey) bool {
	return k.Type == o.Type && k.KCV.Equal(o.KCV) && subtle.ConstantTimeCompare(k.Cipher, o.Cipher) == 1
}

// MarshalText encodes k as "TYPE:KCV:CIPHER" (hex) for stores. The empty key encodes as "".
func (k WrappedKey) MarshalText() ([]byte, error) {
	if k.IsZero() {
		return []byte{}, nil
	}
	if k.Type.String() == "unknown" {
		return nil, ErrKeyType
	}
	s := k.Type.String() + ":" + k.KCV.String() + ":" + strings.ToUpper(hex.EncodeToString(k.Cipher))
	return []byte(s), nil
}

// UnmarshalText decodes what MarshalText wrote.
func (k *WrappedKey) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*k = WrappedKey{}
		return nil
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 {
		return ErrWrappedKey
	}
	t, err := ParseKeyType(parts[0])
	if err != nil {
		return err
	}
	kcv, err := hex.DecodeString(parts[1])
	if err != nil || len(kcv) != len(KCV{}) {
		return ErrWrappedKey
	}
	cipher, err := hex.DecodeString(parts[2])
	if err != nil || len(cipher) == 0 {
		return ErrWrappedKey
	}
	*k = WrappedKey{Type: t, Cipher: cipher}
	copy(k.KCV[:], kcv)
	return nil
}
