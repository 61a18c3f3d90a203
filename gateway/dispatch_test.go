package gateway

import (
	"testing"

	"github.com/posgate/posgate/codec"
)

func msg(t *testing.T, mti string, fields map[int]string) *codec.Message {
	t.Helper()
	m := codec.NewMessage(codec.Terminal)
	if err := m.SetMTI(mti); err != nil {
		t.Fatal(err)
	}
	for n, v := range fields {
		if err := m.SetString(n, v); err != nil {
			t.Fatalf("field %d: %v", n, err)
		}
	}
	return m
}

func TestClassify(t *testing.T) {
	tests := []struct {
		mti        string
		proc, cond string
		f60        string
		want       Kind
	}{
		{"0800", "", "", "00000001101", KindActivation},
		{"0800", "", "", "00000001001", KindSignOn},
		{"0800", "", "", "00000001003", KindSignOn},
		{"0800", "", "", "00000001004", KindSignOn},
		{"0800", "", "", "00000001360", KindParameters},
		{"0800", "", "", "00000001005", KindUnsupported},
		{"0820", "", "", "00000001002", KindSignOff},
		{"0820", "", "", "00000001301", KindEcho},
		{"0200", "310000", "00", "01000001000", KindBalance},
		{"0200", "000000", "00", "22000001000", KindPurchase},
		{"0200", "000000", "", "22000001", KindPurchase},
		{"0200", "200000", "00", "23000001000", KindVoid},
		{"0220", "200000", "00", "25000001000", KindRefund},
		{"0100", "030000", "06", "10000001000", KindPreAuth},
		{"0100", "200000", "06", "11000001000", KindPreAuthVoid},
		{"0200", "000000", "06", "20000001000", KindCompletion},
		{"0200", "200000", "06", "21000001000", KindCompletionVoid},
		{"0400", "000000", "00", "22000001000", KindReversal},
		{"0500", "", "", "00000001201", KindSettlement},
		{"0320", "", "", "00000001201", KindBatchUpload},
		{"0320", "", "", "00000001202", KindBatchUpload},
		{"0320", "", "", "00000001207", KindBatchUpload},
		{"0200", "000000", "06", "22000001000", KindUnsupported}, // purchase with a pre-auth condition code
		{"0200", "000000", "00", "", KindUnsupported},            // no field 60
		{"0600", "", "", "00000001201", KindUnsupported},
		{"0220", "000000", "00", "25000001000", KindUnsupported},
	}
	for _, tt := range tests {
		f := map[int]string{}
		if tt.proc != "" {
			f[3] = tt.proc
		}
		if tt.cond != "" {
			f[25] = tt.cond
		}
		if tt.f60 != "" {
			f[60] = tt.f60
		}
		m := msg(t, tt.mti, f)
		if got := classify(m).kind; got != tt.want {
			t.Errorf("%s %s/%s/%s: %v, want %v", tt.mti, tt.proc, tt.cond, tt.f60, got, tt.want)
		}
	}
	rev := msg(t, "0400", map[int]string{3: "030000", 25: "06", 60: "10000001000"})
	if got := originalKind(rev, classify(rev)); got != KindPreAuth {
		t.Errorf("reversal of a pre-auth: %v", got)
	}
}

func TestResponseMTI(t *testing.T) {
	for req, want := range map[string]string{"0200": "0210", "0800": "0810", "0320": "0330", "0400": "0410", "0220": "0230"} {
		if got := responseMTI([]byte(req)); string(got[:]) != want {
			t.Errorf("responseMTI(%s) = %s", req, got)
		}
	}
}
