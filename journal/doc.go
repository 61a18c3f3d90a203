// Package journal is posgate's capture journal: the book of record of every
// captured transaction, kept on a JetStream stream and read back by business date
// for settlement.
//
// One Record is written per captured event (purchase, completion, void, refund,
// reversal, pre-authorization and their voids). A Record holds only masked and
// tokenized card data; it has no field for track data, PIN blocks, CVV or ICC
// data, and Validate rejects a MaskedPAN that shows more than the first 6 and last
// 4 digits.
//
// Durability and throughput: Append returns only once the record is on disk
// (the server must run with fsync-before-ack, `sync_interval: always`, or the
// stream must be replicated). To keep fsync from capping throughput, Append group
// commits: concurrent appends are packed into one JetStream message (a segment)
// per business date, so one fsync covers many records. De-duplication by
// transaction id is therefore done by the journal itself on write (in process) and
// exactly on Read. docs/journal.md explains the design and its limits.
//
// The package also owns business dates (Date) and the cut-off Calendar, because
// both the gateway and settlement import it. It imports nothing else of posgate.
package journal
