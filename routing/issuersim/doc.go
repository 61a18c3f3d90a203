// Package issuersim is posgate's deterministic issuer simulator: a NATS responder on
// posgate.auth.<route> (queue group posgate-issuers) that answers upstream requests the way
// development and load tests need:
//
//   - approve with a 6-digit auth code derived from the request (so the same request always gets
//     the same code, whichever instance answers);
//   - amounts ending in 51 → 51 (insufficient funds), 61 → 61 (exceeds limit), for purchases,
//     pre-authorizations and completions;
//   - configured lost and stolen test cards → 41 and 43;
//   - a PIN block (field 52) checked for real under the simulator's zone PIN key: a wrong PIN
//     → 55 (the expected PIN is 123456 unless configured);
//   - configurable latency and a fraction of requests processed but never answered, to exercise
//     timeouts and reversals;
//   - a ledger of what it approved, voided, refunded and had reversed, per route, answered as
//     JSON on posgate.sim.ledger: the independent record reliability tests reconcile against.
//
// Each instance keeps its own ledger; QueryLedgers collects every instance's and Sum adds them.
package issuersim
