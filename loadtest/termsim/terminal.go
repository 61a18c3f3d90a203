package termsim

import (
	"context"
	"net"
	"time"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm/termcrypto"
)

// Terminal is one simulated POS device. Make one with New; it dials the gateway on its first
// exchange. A Terminal must be used by one goroutine at a time (it has one request outstanding,
// like a real device); Stats and the other getters may be called only from that goroutine too.
type Terminal struct {
	cfg Config
	dev *termcrypto.Device // nil until activated (or Config.TMK)

	tid, mid string
	stan     uint32 // last STAN used
	batch    uint32 // current batch (60.2)
	signedOn bool

	// What the last responses asked for (header processing requirement).
	needSignOn, needParams, updateWanted bool
	params                               Params

	// pending holds the reversal owed to the gateway (rev is its message).
	pending bool
	rev     *codec.Message
	// advice holds a refund no answer came for, however often it was repeated (adv is its
	// request, adviceRes, advicePAN and adviceSide what its book entry needs): an advice is
	// delivered, never reversed, so it is sent again, byte for byte, before the next
	// transaction or settlement until the gateway answers it.
	advice     bool
	adv        *codec.Message
	adviceRes  Result
	advicePAN  string
	adviceSide int8
	book       []bookEntry // approved transactions of the current batch that count in field 48

	conn net.Conn
	rd   *codec.Reader
	req  *codec.Message // the request being built
	resp *codec.Message // the last response
	wbuf []byte         // the frame being written
	tmp  []byte         // scratch for field values
	tmp2 []byte         // second scratch (track encryption)
	hdr  codec.Header   // the request header

	sn, devType, appVersion []byte // field 59 values, prepared once

	stats Stats
}

// Stats counts what a Terminal did on the wire.
type Stats struct {
	Sent       uint64 // request frames written
	Received   uint64 // response frames read
	Discarded  uint64 // response frames that matched no outstanding request (late or stray)
	Timeouts   uint64 // exchanges that got no response in time
	Reversals  uint64 // 0400 frames written
	Repeats    uint64 // unanswered requests that cannot be reversed (refunds), sent again
	Dials      uint64 // connections opened
	MACFailure uint64 // responses whose MAC did not verify
}

// New returns a terminal for cfg (see Config for defaults). It does not connect.
func New(cfg Config) (*Terminal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Terminal{
		cfg:   cfg,
		tid:   cfg.TID,
		mid:   cfg.MID,
		stan:  cfg.STAN - 1,
		batch: cfg.Batch,
		rev:   codec.NewMessage(codec.Terminal),
		adv:   codec.NewMessage(codec.Terminal),
		req:   codec.NewMessage(codec.Terminal),
		resp:  codec.NewMessage(codec.Terminal),
		wbuf:  make([]byte, 0, 512),
		tmp:   make([]byte, 0, 128),
		tmp2:  make([]byte, 0, 32),
	}
	t.sn = []byte(cfg.SN)
	t.devType = []byte(cfg.DeviceType)
	t.appVersion = []byte(cfg.AppVersion)
	for len(t.appVersion) < 8 {
		t.appVersion = append(t.appVersion, ' ')
	}
	t.hdr = cfg.Header.WithRequirement(0)
	sv := cfg.SoftwareVersion
	for i := 0; i < 3; i++ {
		t.hdr[3+i] = (sv[2*i]-'0')<<4 | (sv[2*i+1] - '0')
	}
	if cfg.TMK != nil {
		dev, err := termcrypto.NewDevice(cfg.TMK)
		if err != nil {
			return nil, &ConfigError{Field: "TMK", Reason: "unusable key"}
		}
		t.dev = dev
	}
	return t, nil
}

// Close closes the terminal's connection, if any. The terminal stays usable: the next exchange
// dials again.
func (t *Terminal) Close() error {
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

// TID returns the terminal id (from the configuration or the activation response).
func (t *Terminal) TID() string { return t.tid }

// MID returns the merchant id (from the configuration or the activation response).
func (t *Terminal) MID() string { return t.mid }

// SN returns the terminal's serial number.
func (t *Terminal) SN() string { return t.cfg.SN }

// Batch returns the current batch number (60.2).
func (t *Terminal) Batch() uint32 { return t.batch }

// LastSTAN returns the last trace number the terminal used (0 before the first message).
func (t *Terminal) LastSTAN() uint32 { return t.stan }

// Activated reports whether the terminal holds a TMK.
func (t *Terminal) Activated() bool { return t.dev != nil }

// SignedOn reports whether the terminal holds working keys and has not signed off.
func (t *Terminal) SignedOn() bool { return t.signedOn }

// ReversalPending reports whether a reversal is still owed to the gateway.
func (t *Terminal) ReversalPending() bool { return t.pending }

// UpdateWanted reports whether a response asked for a software update (processing
// requirement 6). It stays true: a simulated terminal cannot update itself.
func (t *Terminal) UpdateWanted() bool { return t.updateWanted }

// SignOnWanted reports whether a response asked the terminal to sign on again (requirement 3);
// the terminal does so before its next transaction.
func (t *Terminal) SignOnWanted() bool { return t.needSignOn }

// ParamsWanted reports whether a response asked for a parameter download (requirement 1); the
// terminal does it before its next transaction.
func (t *Terminal) ParamsWanted() bool { return t.needParams }

// Params returns the parameters of the last parameter download.
func (t *Terminal) Params() Params { return t.params }

// Stats returns the terminal's counters.
func (t *Terminal) Stats() Stats { return t.stats }

// Timeout returns the exchange timeout in force (Config.Timeout, or a downloaded one).
func (t *Terminal) Timeout() time.Duration { return t.cfg.Timeout }

// nextSTAN advances and returns the trace number: 1–999999, wrapping to 1.
func (t *Terminal) nextSTAN() uint32 {
	t.stan++
	if t.stan > 999999 {
		t.stan = 1
	}
	return t.stan
}

// nextBatch moves to the next batch: 1–999999, wrapping to 1.
func (t *Terminal) nextBatch() {
	t.batch++
	if t.batch > 999999 {
		t.batch = 1
	}
	t.book = t.book[:0]
}

// connect makes sure a connection is open.
func (t *Terminal) connect(ctx context.Context) error {
	if t.conn != nil {
		return nil
	}
	var conn net.Conn
	var err error
	if t.cfg.Dial != nil {
		conn, err = t.cfg.Dial(ctx, "tcp", t.cfg.Addr)
	} else {
		d := net.Dialer{Timeout: t.cfg.Timeout}
		conn, err = d.DialContext(ctx, "tcp", t.cfg.Addr)
	}
	if err != nil {
		return err
	}
	t.stats.Dials++
	t.conn = conn
	if t.rd == nil {
		t.rd = codec.NewReader(conn, t.cfg.MaxFrame)
	} else {
		t.rd.Reset(conn)
	}
	return nil
}
