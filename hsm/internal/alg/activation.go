package alg

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
)

// ActivationCodeDigits is the number of decimal digits of an activation code: 10^20 ≈ 2^66.4.
const ActivationCodeDigits = 20

// activationDomain separates the activation key derivation from any other use of SHA-256.
const activationDomain = "posgate-activation-v1"

// NormalizeActivationCode strips the spaces and dashes an operator may type and checks that 20
// decimal digits remain. The result is the canonical form every derivation uses.
func NormalizeActivationCode(code string) (string, error) {
	var d [ActivationCodeDigits]byte
	n := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c < '0' || c > '9' || n == len(d):
			return "", ErrActivationCode
		}
		d[n] = c
		n++
	}
	if n != len(d) {
		return "", ErrActivationCode
	}
	return string(d[:]), nil
}

// FormatActivationCode groups a canonical code in fives of four digits: 1234-5678-9012-3456-7890.
func FormatActivationCode(canonical string) string {
	b := make([]byte, 0, len(canonical)+len(canonical)/4)
	for i := 0; i < len(canonical); i++ {
		if i > 0 && i%4 == 0 {
			b = append(b, '-')
		}
		b = append(b, canonical[i])
	}
	return string(b)
}

// ActivationKey derives the proof key from a canonical activation code:
// SHA-256("posgate-activation-v1" ‖ code digits in ASCII).
func ActivationKey(canonical string) [32]byte {
	h := sha256.New()
	h.Write([]byte(activationDomain))
	h.Write([]byte(canonical))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// ActivationProof is HMAC-SHA256(key, SN ‖ pubDER).
func ActivationProof(key, sn, pubDER []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(sn)
	m.Write(pubDER)
	return m.Sum(nil)
}

// ParseRSA2048 parses a PKIX (SubjectPublicKeyInfo) DER public key and requires RSA with a
// 2048-bit modulus.
func ParseRSA2048(der []byte) (*rsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, ErrPublicKey
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		return nil, ErrPublicKey
	}
	return pub, nil
}
