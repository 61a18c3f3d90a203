// Package terminal is posgate's terminal and merchant registry: the state every gateway node
// shares about the devices it serves.
//
// A Merchant (MID) owns Terminals (TID). A terminal is bound to one device serial number (SN),
// has a status (pending activation, active, blocked for a reason), the operators allowed to sign
// on, its keys as hsm.WrappedKey (encrypted under the security module's LMK — this package never
// sees a clear key), the key generation, its MAC algorithm, the current batch number and the
// software versions it reports and should run.
//
// Activation codes are generated and hashed by the security module; the registry keeps only the
// verifier (an hsm.KeyACV wrapped key), its expiry, whether it was spent and how many wrong proofs
// were presented for the SN it was issued to.
//
// Store is the registry's abstraction. Its implementations live in sub-packages named after their
// backend (terminal/redisstore, terminal/memstore) and all pass the contract suite in
// terminal/storetest. Operations that two gateway nodes may race on (spending an activation code,
// counting wrong proofs, advancing the batch, rotating working keys, binding an SN) are atomic in
// every implementation.
//
// Errors are the sentinels below, wrapped in typed errors (FieldError, RecordError, StatusError,
// SNBoundError) that carry identifiers (TID, MID, SN) but never key material or activation
// secrets. Test them with errors.Is and errors.As.
package terminal
