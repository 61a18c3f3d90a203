package gateway

import (
	"context"
	"encoding/hex"

	"go.uber.org/zap"

	"github.com/posgate/posgate/journal"
)

// The write-ahead records of an authorization (docs/gateway.md, "Crash safety"): before a
// request that moves money leaves for the issuer, its intent is journaled; its outcome — the
// capture, a decline, or a reversal — closes it. All of them share the journal's group commit.
//
//	intent   TxnID = id + "-I"   Of, Upstream, amount …   before the request is sent
//	capture  TxnID = id          the approval and its answer
//	declined TxnID = id + "-D"   the issuer's code and its answer
//	reversal TxnID = id + "-R"   posgate's or the terminal's reversal of a request sent upstream
//	         TxnID = id + "-T"   the terminal's reversal of a request not (yet) known here
//
// Only a reversal that carries the request's upstream identifiers closes its intent: one
// queued upstream, or of a request whose outcome is known. The "-T" record of a reversal that
// overtook its request (still upstream when the 0400 came) does not: if the node dies before
// that request's answer lands and reverses itself, the restart finds the intent open and
// reverses it upstream (found by the fault suite: the approval stood at the issuer).

// Suffixes of the journal ids of an authorization's records.
const (
	intentSuffix    = "-I"
	declineSuffix   = "-D"
	reversalSuffix  = "-R"
	tombstoneSuffix = "-T"
)

// intentRecord is the write-ahead intent of rec, whose upstream identifiers are drawn.
func (p *Processor) intentRecord(t *txn, rec *TxnRecord, orig TxnRecord) journal.Record {
	jr := p.journalRecord(t, rec, orig)
	jr.Of, jr.Type = jr.Type, journal.TypeIntent
	jr.TxnID, jr.Original = rec.ID+intentSuffix, selfRef(t, rec)
	jr.ResponseTime = jr.RequestTime // not answered: the intent is written before the request leaves
	return jr
}

// journalDecline records the issuer's decline of rec with the answer in t.out: it closes the
// intent and keeps the answer for a retransmission after a restart. A failure is logged: the
// terminal is answered all the same (a restarted node then reverses the declined request,
// which the issuer acknowledges harmlessly).
func (p *Processor) journalDecline(ctx context.Context, t *txn, rec *TxnRecord, orig TxnRecord) {
	jr := p.journalRecord(t, rec, orig)
	jr.Of, jr.Type = jr.Type, journal.TypeDeclined
	jr.TxnID, jr.Original = rec.ID+declineSuffix, selfRef(t, rec)
	jr.AuthCode = ""
	jr.Answer = string(t.out)
	if err := p.d.Journal.Append(context.WithoutCancel(ctx), jr); err != nil {
		p.log.Error("decline not journaled", zap.String("txn", rec.ID), zap.Error(err))
	}
}

// selfRef is the reference an intent or decline makes to its own transaction (whose capture
// would carry rec.ID).
func selfRef(t *txn, rec *TxnRecord) journal.OriginalRef {
	return journal.OriginalRef{TxnID: rec.ID, RRN: rec.RRN, Batch: t.ids.batch, STAN: t.ids.stan, Date: rec.BusinessDate}
}

// hashHex is the request's content hash in hex ("" when none was computed), encoded once per
// transaction (its intent and its outcome both carry it).
func (t *txn) hashHex() string {
	if !t.hashed {
		return ""
	}
	if t.hashStr == "" {
		t.hashStr = hex.EncodeToString(t.hash[:])
	}
	return t.hashStr
}
