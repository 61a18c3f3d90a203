package routing

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posgate/posgate/codec"
)

var testTime = time.Date(2026, 3, 7, 21, 4, 5, 0, time.FixedZone("CST", 8*3600)) // 13:04:05 UTC

func baseRequest(typ TxnType) *Request {
	r := &Request{
		Type: typ, Txn: "txn-1",
		PAN: []byte("6212345678901234"), Amount: 12345, LocalTime: []byte("210405"), LocalDate: []byte("0307"),
		Expiry: []byte("2912"), MCC: []byte("5411"), EntryMode: []byte("051"), CardSequence: []byte("001"),
		AcquirerID: []byte("48021000"), Track2: []byte("6212345678901234=29121011234"), RRN: []byte("000000000042"),
		TID: []byte("10400067"), MID: []byte("000000000000004"), MerchantName: []byte("Posgate Demo Shop Shanghai"),
		PINBlock: []byte{1, 2, 3, 4, 5, 6, 7, 8}, SecurityInfo: []byte("2600000000000000"), ICC: []byte{0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8},
	}
	if typ.needsOriginal() {
		r.Original = &Original{MTI: "0200", STAN: 17, Transmission: "0307130000"}
		r.AuthCode = []byte("123456")
	}
	switch typ {
	case TxnPreAuthVoid:
		r.Original.MTI = "0100"
	case TxnReversal:
		r.ProcessingCode = []byte("000000")
		r.PAN, r.Track2, r.PINBlock, r.ICC, r.Expiry = nil, nil, nil, nil, nil
	case TxnBalance:
		r.Amount = 0
	}
	return r
}

func TestMappingRoundTrip(t *testing.T) {
	tests := []struct {
		typ    TxnType
		repeat bool
		mti    string
		proc   string
		cond   string
		has90  bool
		has4   bool
	}{
		{TxnPurchase, false, "0200", "000000", "00", false, true},
		{TxnCompletion, false, "0200", "000000", "06", true, true},
		{TxnPreAuth, false, "0100", "030000", "06", false, true},
		{TxnBalance, false, "0100", "310000", "00", false, false},
		{TxnVoid, false, "0200", "200000", "00", true, true},
		{TxnPreAuthVoid, false, "0200", "200000", "06", true, true},
		{TxnCompletionVoid, false, "0200", "200000", "06", true, true},
		{TxnRefund, false, "0220", "200000", "00", true, true},
		{TxnReversal, false, "0400", "000000", "00", true, true},
		{TxnReversal, true, "0420", "000000", "00", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.mti+"-"+tt.typ.String(), func(t *testing.T) {
			req := baseRequest(tt.typ)
			req.Repeat = tt.repeat
			m := codec.NewMessage(codec.Upstream)
			if err := BuildMessage(m, req, 4711, testTime); err != nil {
				t.Fatalf("BuildMessage: %v", err)
			}
			wire, err := m.Pack(nil)
			if err != nil {
				t.Fatalf("Pack: %v", err)
			}
			got := codec.NewMessage(codec.Upstream)
			if err := got.Unpack(wire); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if !got.IsMTI(tt.mti) {
				t.Errorf("MTI = %s, want %s", got.MTI(), tt.mti)
			}
			typ, repeat, ok := Classify(got)
			if !ok || typ != tt.typ || repeat != tt.repeat {
				t.Errorf("Classify = %v %v %v, want %v %v", typ, repeat, ok, tt.typ, tt.repeat)
			}
			want := map[int]string{3: tt.proc, 7: "0307130405", 11: "004711", 25: tt.cond, 41: "10400067",
				42: "000000000000004", 49: "156", 32: "48021000", 37: "000000000042",
				43: "Posgate Demo Shop Shanghai              "}
			if tt.has4 {
				want[4] = "000000012345"
			}
			if tt.has90 {
				o := req.Original.MTI
				want[90] = o + "000017" + "0307130000" + "00048021000" + "00000000000"
				want[38] = "123456"
			}
			for n, v := range want {
				if string(got.Field(n)) != v {
					t.Errorf("field %d = %q, want %q", n, got.Field(n), v)
				}
			}
			if !tt.has4 && got.Has(4) {
				t.Error("balance inquiry carries field 4")
			}
			if tt.typ == TxnReversal {
				for _, n := range []int{2, 14, 35, 52, 55} {
					if got.Has(n) {
						t.Errorf("reversal carries card field %d", n)
					}
				}
			} else {
				for n, v := range map[int][]byte{2: req.PAN, 35: req.Track2, 52: req.PINBlock, 55: req.ICC, 14: req.Expiry} {
					if !bytes.Equal(got.Field(n), v) {
						t.Errorf("field %d not carried over", n)
					}
				}
			}
			if tt.has90 {
				o, ok := ParseField90(got.Field(90))
				if !ok || o.MTI != req.Original.MTI || o.STAN != 17 || o.Transmission != "0307130000" {
					t.Errorf("ParseField90 = %+v %v", o, ok)
				}
			}
		})
	}
}

func TestMappingErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *Request)
		stan  uint32
		field int
		want  error
	}{
		{"unknown type", func(r *Request) { r.Type = 0 }, 1, 0, ErrTxnType},
		{"void without original", func(r *Request) { r.Type = TxnVoid; r.Original = nil }, 1, 90, ErrMissing},
		{"reversal without processing code", func(r *Request) {
			r.Type = TxnReversal
			r.Original = &Original{MTI: "0200", STAN: 1, Transmission: "0307130000"}
		}, 1, 3, ErrMissing},
		{"processing code of another type", func(r *Request) { r.ProcessingCode = []byte("200000") }, 1, 3, ErrInvalidValue},
		{"negative amount", func(r *Request) { r.Amount = -1 }, 1, 4, ErrInvalidValue},
		{"amount too large", func(r *Request) { r.Amount = MaxAmount + 1 }, 1, 4, ErrInvalidValue},
		{"STAN zero", func(r *Request) {}, 0, 11, ErrInvalidValue},
		{"STAN too large", func(r *Request) {}, 1_000_000, 11, ErrInvalidValue},
		{"PAN not digits", func(r *Request) { r.PAN = []byte("62123456789012X4") }, 1, 2, ErrInvalidValue},
		{"TID too long", func(r *Request) { r.TID = []byte("123456789") }, 1, 41, ErrInvalidValue},
		{"bad original STAN", func(r *Request) {
			r.Type = TxnVoid
			r.Original = &Original{MTI: "0200", STAN: 0, Transmission: "0307130000"}
		}, 1, 90, ErrInvalidValue},
		{"bad original time", func(r *Request) {
			r.Type = TxnRefund
			r.Original = &Original{MTI: "0200", STAN: 5, Transmission: "03071300"}
		}, 1, 90, ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseRequest(TxnPurchase)
			tt.edit(r)
			err := BuildMessage(codec.NewMessage(codec.Upstream), r, tt.stan, testTime)
			var me *MappingError
			if !errors.Is(err, tt.want) || !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("error = %v, want %v on field %d", err, tt.want, tt.field)
			}
			if bytes.Contains([]byte(err.Error()), r.PAN) && len(r.PAN) > 0 {
				t.Error("error text contains the PAN")
			}
		})
	}
}

func TestMerchantNameCut(t *testing.T) {
	r := baseRequest(TxnPurchase)
	r.MerchantName = []byte("上海浦东新区世纪大道一百号测试商户名称很长") // 63 bytes of UTF-8
	m := codec.NewMessage(codec.Upstream)
	if err := BuildMessage(m, r, 1, testTime); err != nil {
		t.Fatal(err)
	}
	f43 := m.Field(43)
	if len(f43) != 40 || !bytes.HasPrefix(r.MerchantName, bytes.TrimRight(f43, " ")) {
		t.Errorf("field 43 = %q", f43)
	}
}

// reply builds an answer to req with the given edits.
func reply(t *testing.T, req *codec.Message, mti, rc string, edit func(m *codec.Message)) *codec.Message {
	t.Helper()
	m := codec.NewMessage(codec.Upstream)
	_ = m.SetMTI(mti)
	for _, n := range []int{3, 4, 7, 11, 41} {
		if v := req.Field(n); v != nil {
			_ = m.Set(n, v)
		}
	}
	if rc != "" {
		_ = m.SetString(39, rc)
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func TestParseReply(t *testing.T) {
	req := codec.NewMessage(codec.Upstream)
	if err := BuildMessage(req, baseRequest(TxnBalance), 99, testTime); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rep     *codec.Message
		want    error
		field   int
		balance int64
	}{
		{"approved with balance", reply(t, req, "0110", "00", func(m *codec.Message) {
			_ = m.SetString(38, "654321")
			_ = m.SetString(54, "0001156C000000099999"+"0002156D000000001234")
		}), nil, 0, -1234},
		{"available balance", reply(t, req, "0110", "00", func(m *codec.Message) {
			_ = m.Set(54, AppendBalance(nil, "156", 5000))
		}), nil, 0, 5000},
		{"declined", reply(t, req, "0110", "51", nil), nil, 0, 0},
		{"wrong MTI", reply(t, req, "0210", "00", nil), ErrReplyMismatch, 0, 0},
		{"wrong STAN", reply(t, req, "0110", "00", func(m *codec.Message) { _ = m.SetString(11, "000100") }), ErrReplyMismatch, 11, 0},
		{"missing STAN", reply(t, req, "0110", "00", func(m *codec.Message) { m.Unset(11) }), ErrReplyMismatch, 11, 0},
		{"wrong TID", reply(t, req, "0110", "00", func(m *codec.Message) { _ = m.SetString(41, "99999999") }), ErrReplyMismatch, 41, 0},
		{"no response code", reply(t, req, "0110", "", nil), ErrBadReply, 39, 0},
		{"bad balance", reply(t, req, "0110", "00", func(m *codec.Message) { _ = m.SetString(54, "0002156X000000001234") }), ErrBadReply, 54, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ParseReply(req, tt.rep)
			if tt.want != nil {
				var me *MappingError
				if !errors.Is(err, tt.want) || !errors.As(err, &me) || me.Field != tt.field {
					t.Fatalf("error = %v, want %v on field %d", err, tt.want, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReply: %v", err)
			}
			if res.ResponseCode != string(tt.rep.Field(39)) || res.STAN != 99 || res.RequestMTI != "0100" ||
				res.Transmission != "0307130405" || res.MTI != "0110" {
				t.Errorf("Result = %+v", res)
			}
			if tt.balance != 0 && (!res.HasBalance || res.Balance != tt.balance || res.BalanceCurrency != "156") {
				t.Errorf("balance = %v %d %s, want %d", res.HasBalance, res.Balance, res.BalanceCurrency, tt.balance)
			}
			if res.Approved() != (res.ResponseCode == "00") {
				t.Error("Approved disagrees with the response code")
			}
		})
	}
}

func TestReplyMTI(t *testing.T) {
	for in, want := range map[string]string{"0100": "0110", "0200": "0210", "0220": "0230", "0400": "0410", "0420": "0430", "0210": "", "02": ""} {
		if got := ReplyMTI([]byte(in)); got != want {
			t.Errorf("ReplyMTI(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestMemorySTAN(t *testing.T) {
	ctx := context.Background()
	s := NewMemorySTAN()
	day1 := time.Date(2026, 3, 7, 23, 59, 59, 0, time.UTC)
	day2 := day1.Add(time.Second)
	next := func(route string, at time.Time) uint32 {
		n, err := s.NextSTAN(ctx, route, at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, b, c := next("cup", day1), next("cup", day1), next("visa", day1); a != 1 || b != 2 || c != 1 {
		t.Errorf("STANs %d %d %d, want 1 2 1", a, b, c)
	}
	if n := next("cup", day2); n != 1 {
		t.Errorf("first STAN of a new UTC day = %d, want 1", n)
	}
	for i := 2; i <= maxSTAN; i++ {
		next("cup", day2)
	}
	if n := next("cup", day2); n != 1 {
		t.Errorf("STAN after 999999 = %d, want 1", n)
	}
}
