package gateway

import (
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/routing"
	"github.com/posgate/posgate/terminal"
)

// txn is the working memory of one request, pooled: the request and response messages, the
// response frame, and what the flow learns on the way.
type txn struct {
	frame codec.Frame
	start time.Time
	req   *codec.Message
	resp  *codec.Message
	out   []byte // response frame
	buf   []byte // scratch: clear track, PIN block …

	kind        Kind
	cls         classification
	term        terminal.Terminal
	hasTerm     bool
	rc          [2]byte // response code
	requirement byte    // header processing requirement

	// authenticated: the terminal is identified and the request's MAC verified (once, before
	// the retransmission cache).
	authenticated bool

	pan          []byte // view of the PAN (field 2, or the track's PAN part in buf)
	track        []byte // clear track 2 (field 35 or decrypted into buf), nil when absent
	bizDate      journal.Date
	id           string // transaction id
	rrn          [12]byte
	upstreamTime time.Duration
	upReq        routing.Request // the upstream request, reused
	pin          [8]byte         // the PIN block translated to the route's zone key
	ids          idStrings       // the transaction's strings, one allocation (identify2)
	strs         []byte          // scratch for ids
	// owed is the reversal to queue if the approval cannot be delivered to the terminal (when
	// owes is set).
	owed routing.Reversal
	owes bool
	// epoch is the node lease's epoch the request went upstream under (Deps.Lease).
	epoch uint64
	// hash is the request's content hash (hashed: computed, by once).
	hash    ContentHash
	hashed  bool
	hashStr string // hashHex's cache
}

func newTxn() *txn {
	return &txn{req: codec.NewMessage(codec.Terminal), resp: codec.NewMessage(codec.Terminal),
		out: make([]byte, 0, 512), buf: make([]byte, 0, 128), strs: make([]byte, 0, 160)}
}

// idStrings are the strings a financial transaction is recorded under.
type idStrings struct {
	id, masked, rrn, token, batch, stan string
}

func (t *txn) reset(f codec.Frame, start time.Time) {
	t.frame, t.start = f, start
	t.resp.Reset()
	t.out, t.buf = t.out[:0], t.buf[:0]
	t.kind, t.cls, t.hasTerm, t.authenticated = KindUnsupported, classification{}, false, false
	t.term = terminal.Terminal{}
	t.rc, t.requirement = [2]byte{}, 0
	t.pan, t.track, t.bizDate, t.id = nil, nil, journal.Date{}, ""
	t.upstreamTime, t.owes, t.hashed, t.hashStr = 0, false, false, ""
	t.upReq = routing.Request{}
	t.ids = idStrings{}
}

func (t *txn) setCode(code string) { copy(t.rc[:], code) }

func (t *txn) code() string {
	if t.rc == [2]byte{} {
		return "none"
	}
	return string(t.rc[:])
}

// procCode is the request's processing code (field 3), or purchase's when absent.
func (t *txn) procCode() string {
	switch v := t.req.Field(3); string(v) {
	case "000000", "":
		return "000000"
	case "200000":
		return "200000"
	case "030000":
		return "030000"
	default:
		return string(v)
	}
}
