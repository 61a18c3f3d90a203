// Package settlement settles merchants T+1 from the capture journal, exactly once and to
// the fen.
//
// A run for business date D reads D's journal records (journal.Journal.ReadRaw: every stored
// record, duplicates included), spills them to temporary partition files by terminal, and
// then settles one partition at a time: duplicates (same TxnID) are dropped, reversals,
// voids and refunds are netted against their originals, fees are charged by the merchant's
// fee plan, and the rows are streamed to OUT/D/transactions.csv and batches.csv while only
// per-merchant totals stay in memory. merchants.csv and summary.json (with the SHA-256 of
// every CSV) follow; the directory appears atomically. A RunStore records finished runs so
// a date is not paid twice: settling it again needs RunOptions.Rerun.
//
// Netting rules, fee plans and file layouts are documented in docs/settlement.md. Amounts
// are int64 fen throughout; fees are computed in integer basis points, rounded half-up per
// transaction. The package imports only the journal of posgate's packages: merchant master
// data comes through the Merchants interface.
package settlement
