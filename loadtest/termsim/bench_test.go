package termsim

import (
	"context"
	"testing"

	"github.com/posgate/posgate/codec"
	"github.com/posgate/posgate/hsm"
)

// offlineTerminal returns a terminal signed on with layout 003 without a network: its TMK is
// injected, the working keys come from the real module's sign-on. It returns the module and the
// wrapped MAK for checks.
func offlineTerminal(tb testing.TB, alg hsm.MACAlgorithm) (*Terminal, *hsm.Software, hsm.WrappedKey) {
	tb.Helper()
	ctx := context.Background()
	mod, err := hsm.NewSoftware(hsm.Config{LMK: hsm.GenerateLMK()})
	if err != nil {
		tb.Fatal(err)
	}
	tmk := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10}
	wtmk, err := mod.ImportKey(hsm.KeyTMK, tmk)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := mod.SignOn(ctx, wtmk, hsm.SignOn003)
	if err != nil {
		tb.Fatal(err)
	}
	term, err := New(Config{Addr: "127.0.0.1:9", SN: "000024039991810100000206", TID: "10000019",
		MID: "850100082410002", TMK: tmk, MACAlgorithm: alg})
	if err != nil {
		tb.Fatal(err)
	}
	if err := term.dev.SignOn(hsm.SignOn003, keys.Field62); err != nil {
		tb.Fatal(err)
	}
	term.signedOn = true
	return term, mod, keys.MAK
}

// buildPurchase builds and MACs the frame of a purchase with PIN, as Purchase does before
// writing it.
func buildPurchase(t *Terminal, c *Card) error {
	if err := t.buildFinancial(OpPurchase, c, 1000, nil, t.nextSTAN()); err != nil {
		return err
	}
	return t.buildFrame(t.req, true)
}

// TestBuiltFrameMAC checks offline that the frame of a purchase decodes with codec and that the
// gateway-side module accepts its MAC, for both algorithms.
func TestBuiltFrameMAC(t *testing.T) {
	for _, alg := range []hsm.MACAlgorithm{hsm.MACPOSECB, hsm.MACX919} {
		t.Run(alg.String(), func(t *testing.T) {
			term, mod, mak := offlineTerminal(t, alg)
			card := pinCard
			if err := buildPurchase(term, &card); err != nil {
				t.Fatal(err)
			}
			if l := int(term.wbuf[0])<<8 | int(term.wbuf[1]); l != len(term.wbuf)-2 {
				t.Fatalf("length prefix %d, frame %d bytes after it", l, len(term.wbuf)-2)
			}
			f, err := codec.ParseFrame(term.wbuf[2:])
			if err != nil {
				t.Fatal(err)
			}
			m := codec.NewMessage(codec.Terminal)
			if err := m.Unpack(f.Body); err != nil {
				t.Fatal(err)
			}
			if err := mod.VerifyMAC(context.Background(), mak, alg, f.Body[:m.MACOffset()], m.Field(64)); err != nil {
				t.Fatalf("the module rejects the terminal's MAC: %v", err)
			}
		})
	}
}

// BenchmarkPurchaseRequest measures building and MACing a purchase with PIN (field 52 under
// the PIK, 59 with the SN cipher, POS-ECB MAC): the terminal's per-transaction CPU cost.
func BenchmarkPurchaseRequest(b *testing.B) {
	term, _, _ := offlineTerminal(b, hsm.MACPOSECB)
	card := pinCard
	b.ReportAllocs()
	for b.Loop() {
		if err := buildPurchase(term, &card); err != nil {
			b.Fatal(err)
		}
	}
}
