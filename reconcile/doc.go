// Package reconcile proves one business date's books three ways: posgate's journal (captures,
// declines, write-ahead intents and reversals, each with the upstream identifiers the issuer
// keys its records by), the issuer's clearing file, and — when given — the terminals' own books.
//
// Run compares the journal with the issuer request by request (route + upstream STAN +
// transmission time), and the terminals with the journal transaction by transaction (TID +
// batch + STAN). Every transaction lands in one class: matched, reversed at both sides,
// declined at both sides — or a difference: missing at the issuer, missing at the acquirer (or
// terminal), amount mismatch, reversed at one side only. A terminal transaction the journal
// holds standing twice is "doubled". The file formats and the meaning of each class are in
// docs/reconcile.md.
package reconcile
