// Package hsm is posgate's security module: every operation that touches key material goes
// through its Module interface, so that the software implementation in this package (Software)
// can be replaced by a network HSM without touching the gateway.
//
// Key material leaves the module only as a WrappedKey: the key encrypted under the module's
// local master key (LMK), plus its key check value (KCV). Clear keys, PINs and PIN blocks never
// leave it, never reach an error text and never print: a key's String is its type and KCV.
//
// The terminal side of the same protocol — what a POS terminal's secure element does with the
// clear keys it holds — is package hsm/termcrypto; hsm/hsmtest is the contract suite every Module
// implementation passes. docs/hsm.md describes the formats and algorithms, including the ones
// posgate defines itself (wrapped-key format, SN ciphertext, activation).
package hsm
