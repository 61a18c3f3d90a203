// Package routing sends posgate's online authorizations upstream and owns everything between
// the gateway's decision to go online and the issuer's answer:
//
//   - Table: BIN ranges → route name and card kind (debit, credit; entry mode 03 is qr), loaded
//     from YAML or built in (DefaultTable) for the embedded mode, with per-route timeouts, an
//     in-flight limit and circuit-breaker thresholds. Lookup is a binary search that allocates
//     nothing.
//   - Request and Result: the typed transaction the gateway fills, mapped to the ISO 8583:1987
//     all-ASCII upstream message (0100/0200/0220/0400/0420 with the processing codes and field 90
//     of docs/upstream-protocol.md), and the reply mapped back after its MTI, STAN (11) and TID
//     (41) are checked against the request.
//   - Client: the NATS request/reply on posgate.auth.<route> with the Posgate-Txn,
//     Posgate-Route and Posgate-Deadline headers, a deadline capped by the route's timeout,
//     typed errors for no responders, timeout and an open breaker, and one breaker per route.
//   - Forwarder: the reversal store-and-forward on a JetStream work queue: Enqueue returns once
//     a reversal is durably stored; the forwarding loop sends 0400, then 0420 for every repeat
//     with capped exponential backoff, acknowledges the stored reversal only on a 0410/0430,
//     and raises an alert for reversals past their retry budget without ever dropping them.
//     Each delivered reversal is recorded, with the issuer's answer, in a second stream kept at
//     least 7 days before it leaves the queue; Delivered and Pending read the two streams.
//   - STANSource: upstream STANs unique per route per UTC day (MemorySTAN for one node).
//
// Errors are sentinels wrapped by typed errors (UpstreamError, TableError, MappingError); none
// carries card data. The package logs through the zap logger it is given and never logs a PAN
// beyond its first six and last four digits, a track, a PIN block or ICC data.
package routing
