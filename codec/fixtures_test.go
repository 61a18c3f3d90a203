package codec

import (
	"encoding/hex"
	"testing"
)

// Synthetic test card data: the PAN is a made-up test number, not a real card.
const (
	testPAN    = "6212340000000000018"
	testTrack2 = "6212340000000000018D30122011234567890"
)

// iccData is ~100 bytes of EMV TLV, shaped like a contactless purchase's field 55.
var iccData = mustHex("9F2608C0A057796D091E399F2701809F1013070F0103A00000010A010000005959BAF31C349F37042AE9F9B4" +
	"9F36020FCD950500000000009A032611229C01009F02060000000015005F2A0201568202" +
	"7C009F1A0201569F03060000000000009F3303E0E1C8")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// terminalPurchase builds the benchmark's terminal 0200: fields 2, 3, 4, 11, 14, 22, 23, 25, 26,
// 35, 41, 42, 49, 52, 53, 55, 59 (A2), 60, 63, 64.
func terminalPurchase(tb testing.TB) *Message {
	tb.Helper()
	m := NewMessage(Terminal)
	a2 := AppendTerminalInfo(nil, TerminalInfo{
		DeviceType: []byte("02"), SN: []byte("0000020254004318"), RandomFactor: []byte("000018"),
		SNCipher: []byte("EC7CD424"), AppVersion: []byte("32170200"),
	})
	f60 := AppendField60(nil, Field60{MessageType: 22, Batch: 1, NetworkCode: 0, ReadCapability: 6, Digits: 12})
	sets := []struct {
		n int
		v []byte
	}{
		{2, []byte(testPAN)}, {3, []byte("000000")}, {4, []byte("000000001500")}, {11, []byte("000105")},
		{14, []byte("3012")}, {22, []byte("071")}, {23, []byte("001")}, {25, []byte("00")}, {26, []byte("12")},
		{35, []byte(testTrack2)}, {41, []byte("92336787")}, {42, []byte("847100053990002")}, {49, []byte("156")},
		{52, mustHex("7D6A7408DFE2E9E5")}, {53, []byte("2600000000000000")}, {55, iccData}, {59, a2},
		{60, f60}, {63, []byte("01 ")}, {64, []byte("D37CEFE6")},
	}
	if err := m.SetMTI("0200"); err != nil {
		tb.Fatal(err)
	}
	for _, s := range sets {
		if err := m.Set(s.n, s.v); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

// upstreamPurchase builds the benchmark's 1987-ASCII 0200: fields 2, 3, 4, 7, 11, 12, 13, 14, 18,
// 22, 25, 32, 35, 37, 41, 42, 43, 49, 52, 55.
func upstreamPurchase(tb testing.TB) *Message {
	tb.Helper()
	m := NewMessage(Upstream)
	sets := []struct {
		n int
		v string
	}{
		{2, testPAN}, {3, "000000"}, {4, "000000001500"}, {7, "1122093015"}, {11, "000001"},
		{12, "173015"}, {13, "1122"}, {14, "3012"}, {18, "5812"}, {22, "071"}, {25, "00"},
		{32, "48020000"}, {35, "6212340000000000018=30122011234567890"}, {37, "632617000001"},
		{41, "92336787"}, {42, "847100053990002"}, {43, "POSGATE TEST MERCHANT    SHANGHAI    CN "},
		{49, "156"},
	}
	if err := m.SetMTI("0200"); err != nil {
		tb.Fatal(err)
	}
	for _, s := range sets {
		if err := m.SetString(s.n, s.v); err != nil {
			tb.Fatal(err)
		}
	}
	if err := m.Set(52, mustHex("CB70ABBCB4E1386E")); err != nil {
		tb.Fatal(err)
	}
	if err := m.Set(55, iccData); err != nil {
		tb.Fatal(err)
	}
	return m
}
