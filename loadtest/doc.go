// Package loadtest is posgate's load generator: a fleet of simulated terminals (termsim) that
// provisions itself through the admin API, activates with RSA and signs on like real devices,
// then sends an open-loop mix of transactions at a target rate and settles every batch.
//
// Open loop: request i is due at start + i/rate whatever happened before (Schedule). The
// scheduler hands each due request to an idle terminal (a terminal has one request
// outstanding, like a device); when none is idle the request waits, and its latency — always
// measured from its scheduled time, into an HdrHistogram — includes the wait. So a slow
// gateway shows up as latency, never as a politely lowered send rate (no coordinated omission).
//
// Follow-ups are a terminal's own: a void or a partial refund takes one of its earlier approved
// purchases, a completion one of its approved pre-authorizations. Reversal on timeout is
// termsim's. At the end each terminal settles (0500) and uploads its batch when the gateway's
// totals differ. The outcome is a report.Report (package report writes it as JSON, HTML and a
// table).
//
// posgate is a black box: the package talks to it over TCP and the admin API only, and imports
// nothing of it but codec, hsm (through termsim) and adminapi (internal/deptest). Targets off
// loopback are refused unless Config.AllowRemote.
package loadtest
