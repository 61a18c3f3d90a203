package termsim

import (
	"context"

	"github.com/posgate/posgate/codec"
)

// bookEntry is one approved transaction of the current batch that counts in the settlement
// totals, as the device's journal keeps it for the batch upload.
type bookEntry struct {
	stan    uint32
	amount  int64
	side    int8 // +1 debit (purchase, completion), -1 credit (void, completion void, refund)
	org     uint8
	foreign bool
	panLen  uint8
	pan     [19]byte
}

// cardOrgs maps field 63's card organisation to the n2 code of a batch-upload record (0320
// field 48), in the order of the UnionPay terminal specification's list.
var cardOrgs = [...]string{"CUP", "VIS", "MCC", "MAE", "JCB", "DCC", "AMX"}

// record adds an approved debit or credit to the book. A transaction is foreign when field 63
// names a card organisation other than CUP.
func (t *Terminal) record(side int8, pan string, res *Result) {
	e := bookEntry{stan: res.STAN, amount: res.Amount, side: side}
	for i, o := range cardOrgs {
		if res.CardOrg == o {
			e.org = uint8(i)
		}
	}
	e.foreign = res.CardOrg != "" && res.CardOrg != "CUP"
	e.panLen = uint8(copy(e.pan[:], pan))
	t.book = append(t.book, e)
}

// Totals returns the settlement totals of the current batch as the terminal would send them in
// a 0500: approved purchases and completions as debits, approved voids, completion voids and
// refunds as credits; reversed transactions never enter the book.
func (t *Terminal) Totals() codec.SettlementTotals {
	var s codec.SettlementTotals
	for i := range t.book {
		e := &t.book[i]
		x := &s.Domestic
		if e.foreign {
			x = &s.Foreign
		}
		if e.side > 0 {
			x.DebitAmount += e.amount
			x.DebitCount++
		} else {
			x.CreditAmount += e.amount
			x.CreditCount++
		}
	}
	return s
}

// BookLen returns the number of transactions in the current batch's book.
func (t *Terminal) BookLen() int { return len(t.book) }

// Settlement is the outcome of Settle.
type Settlement struct {
	Result // of the 0500
	// Totals are what the terminal sent in field 48.
	Totals codec.SettlementTotals
	// Flag and ForeignFlag are the answer's flags (codec.SettleBalanced, SettleNotBalanced,
	// SettleError) for domestic and foreign cards.
	Flag, ForeignFlag uint8
	// Uploaded is the number of records sent in the batch upload (0 when balanced).
	Uploaded int
	// SettledBatch is the batch that was settled; the terminal is now in the next one.
	SettledBatch uint32
}

// uploadPerMessage is the number of records one 0320 carries.
const uploadPerMessage = 8

// Settle settles the current batch: a 0500 with the book's totals. When the answer says not
// balanced (flag 2, domestic or foreign), the terminal uploads every transaction of its book
// (0320, 60.3 = 201, 8 records a message) and ends with a 0320 of 60.3 = 202 carrying the
// count. Then it moves to the next batch with an empty book. An error flag (3) is ErrSettlement
// and the batch stays open.
func (t *Terminal) Settle(ctx context.Context) (Settlement, error) {
	st := Settlement{Result: Result{Op: OpSettle}}
	if err := t.prepare(ctx); err != nil {
		return st, err
	}
	st.Totals = t.Totals()
	stan := t.nextSTAN()
	st.STAN, st.Batch, st.SettledBatch = stan, t.batch, t.batch
	m, err := t.begin("0500", stan)
	if err != nil {
		return st, err
	}
	if err := t.setIDs(m); err != nil {
		return st, err
	}
	t.tmp, err = codec.AppendSettlementTotals(t.tmp[:0], st.Totals)
	if err != nil {
		return st, ErrBook
	}
	if err := m.Set(48, t.tmp); err != nil {
		return st, err
	}
	if err := m.SetString(49, t.cfg.Currency); err != nil {
		return st, err
	}
	if err := t.set60(m, 0, t.batch, ops[OpSettle].netCode); err != nil {
		return st, err
	}
	if err := m.SetString(63, t.cfg.Operator); err != nil {
		return st, err
	}
	if err := t.sendMACed(ctx, OpSettle, &st.Result); err != nil {
		return st, err
	}
	got, err := codec.ParseSettlementTotals(t.resp.Field(48))
	if err != nil {
		return st, &ExchangeError{Op: OpSettle, STAN: stan, Err: ErrMalformedResponse}
	}
	st.Flag, st.ForeignFlag = got.Domestic.Flag, got.Foreign.Flag
	switch {
	case st.Flag == codec.SettleError || st.ForeignFlag == codec.SettleError:
		return st, ErrSettlement
	case st.Flag == codec.SettleNotBalanced || st.ForeignFlag == codec.SettleNotBalanced:
		n, err := t.upload(ctx)
		st.Uploaded = n
		if err != nil {
			return st, err
		}
	}
	t.nextBatch()
	return st, nil
}

// upload sends the book as 0320 records, then the closing 0320 with the count.
func (t *Terminal) upload(ctx context.Context) (int, error) {
	sent := 0
	for sent < len(t.book) {
		var u codec.BatchUpload
		for u.Count < uploadPerMessage && sent+u.Count < len(t.book) {
			e := &t.book[sent+u.Count]
			u.Records[u.Count] = codec.UploadRecord{CardOrg: e.org, STAN: e.stan, PAN: padPAN(e), PANLen: e.panLen, Amount: e.amount}
			u.Count++
		}
		if err := t.uploadMessage(ctx, ops[OpBatchUpload].netCode, func(dst []byte) ([]byte, error) {
			return codec.AppendBatchUpload(dst, u)
		}); err != nil {
			return sent, err
		}
		sent += u.Count
	}
	total := sent
	err := t.uploadMessage(ctx, 202, func(dst []byte) ([]byte, error) {
		var d [4]byte
		v := total
		for i := 3; i >= 0; i-- {
			d[i] = byte('0' + v%10)
			v /= 10
		}
		return append(dst, d[:]...), nil
	})
	return sent, err
}

func padPAN(e *bookEntry) (p [20]byte) {
	copy(p[:], e.pan[:e.panLen])
	return p
}

// uploadMessage sends one 0320 with 60.3 = code and field 48 from f.
func (t *Terminal) uploadMessage(ctx context.Context, code uint16, f func([]byte) ([]byte, error)) error {
	res := Result{Op: OpBatchUpload}
	stan := t.nextSTAN()
	res.STAN, res.Batch = stan, t.batch
	m, err := t.begin("0320", stan)
	if err != nil {
		return err
	}
	if err := t.setIDs(m); err != nil {
		return err
	}
	if t.tmp, err = f(t.tmp[:0]); err != nil {
		return ErrBook
	}
	if err := m.Set(48, t.tmp); err != nil {
		return err
	}
	if err := t.set60(m, 0, t.batch, code); err != nil {
		return err
	}
	return t.sendMACed(ctx, OpBatchUpload, &res)
}

// sendMACed frames the MACed request in t.req, exchanges it, verifies the response's MAC and
// fills res; a code other than 00 is a *DeclinedError. Used by the messages that are never
// reversed (settlement, batch upload).
func (t *Terminal) sendMACed(ctx context.Context, op Op, res *Result) error {
	if err := t.buildFrame(t.req, true); err != nil {
		return err
	}
	x, err := t.roundTrip(ctx, matchFor(t.req, true))
	if err != nil {
		return &ExchangeError{Op: op, STAN: res.STAN, Err: err}
	}
	t.fillResult(res, x)
	t.noteRequirement(x.requirement, op)
	if x.macErr != nil {
		return &ExchangeError{Op: op, STAN: res.STAN, Err: x.macErr}
	}
	if !res.Approved() {
		return &DeclinedError{Op: op, Code: res.Code}
	}
	return nil
}
