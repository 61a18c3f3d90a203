// Package faults holds posgate's fault suite (its tests only): real posgate, issuer-sim and
// nats-server processes killed with SIGKILL, stopped with SIGTERM and restarted under load
// from the load generator, each round closed by `posgate reconcile` over the journal, the
// issuer simulator's durable ledger and the terminals' books. docs/reconcile.md describes
// the rounds and how to read their table.
package faults
