// Package codec is posgate's ISO 8583 wire format: the performance core every message passes
// through.
//
// Two profiles are declared as data and compiled once into flat tables:
//
//   - Terminal: the UnionPay POS dialect spoken by bank-card terminals (packed BCD numerics, BCD
//     length prefixes, binary bitmap), accepting the real-world variants the terminal protocol
//     lists;
//   - Upstream: ISO 8583:1987 all-ASCII, as common open-source libraries ship it, spoken to issuer
//     connectors over NATS.
//
// A Message holds every field in its logical form, independent of the profile: numeric and track
// fields as ASCII digits (a track separator is 'D' after a terminal BCD decode), text as its bytes,
// binary as raw bytes. So a value read from a terminal message can be set on an upstream one as is.
// Unpack fills a reusable Message from wire bytes; Pack appends the wire form to the caller's
// buffer. Once a Message has grown to the size of the messages it handles, neither allocates.
//
// Views returned by a Message (Field, MTI …) point into the Message's own buffer and stay valid
// until the next Reset or Unpack of that Message. Unpack copies what it needs: the source may be
// reused as soon as it returns.
//
// Errors name the field and the problem (FieldError wraps a sentinel such as ErrTooLong) and never
// contain a value. String and the Redact helpers never print a PAN beyond its first six and last
// four digits, nor tracks, PIN blocks, ICC data or key material.
package codec
