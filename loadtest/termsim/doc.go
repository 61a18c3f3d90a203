// Package termsim simulates a Chinese bank-card POS terminal talking to posgate over TCP, as
// docs/terminal-protocol.md and docs/terminal-flows.md describe it: activation with an RSA key
// and a one-time code, sign-on (layouts 001, 003, 004), the financial transactions, reversal on
// timeout, batch settlement with batch upload, and the bookkeeping a real device does (STAN,
// batch, its own book of transactions for the settlement totals).
//
// posgate is a black box on the wire: the package imports only codec and hsm (the terminal-side
// crypto in hsm/termcrypto), never the gateway. It drives the gateway's end-to-end tests and is
// the core of the load generator, so a Terminal is cheap: it reuses its messages and buffers,
// starts no goroutine of its own, and holds one TCP connection at most.
//
// A Terminal is used by one goroutine at a time: like a real device it has one request
// outstanding and runs its transactions one after the other. Many Terminals may run in
// parallel; a KeyPool may be shared by all of them.
//
// Errors never hold card data, PINs or keys. A transaction that the gateway answers with a
// response code other than 00 returns its Result together with a *DeclinedError.
package termsim
