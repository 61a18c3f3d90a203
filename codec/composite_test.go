package codec

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestField60(t *testing.T) {
	tests := []struct {
		in   string
		want Field60
	}{
		{"00000001003", Field60{MessageType: 0, Batch: 1, NetworkCode: 3, Digits: 11}},
		{"22000001", Field60{MessageType: 22, Batch: 1, Digits: 8}},
		{"220000010006", Field60{MessageType: 22, Batch: 1, NetworkCode: 0, ReadCapability: 6, Digits: 12}},
		{"22000024000600", Field60{MessageType: 22, Batch: 24, ReadCapability: 6, Digits: 14}},
		{"2600000100060000000", Field60{MessageType: 26, Batch: 1, ReadCapability: 6, Digits: 19}},
		{"2300012320100000512", Field60{MessageType: 23, Batch: 123, NetworkCode: 201, ChipCondition: 0,
			AccountType: 5, Extra: 12, Digits: 19}},
		{"00", Field60{Digits: 2}},
	}
	for _, tt := range tests {
		got, err := ParseField60([]byte(tt.in))
		if err != nil {
			t.Fatalf("ParseField60(%s): %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseField60(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
		if back := string(AppendField60(nil, got)); back != tt.in {
			t.Errorf("AppendField60 = %s, want %s", back, tt.in)
		}
	}
	for _, bad := range []string{"", "0", "000", "0000000100", "00000001003A"} {
		if _, err := ParseField60([]byte(bad)); !errors.Is(err, ErrSubfield) && !errors.Is(err, ErrInvalidChar) {
			t.Errorf("ParseField60(%q) err = %v, want a sub-field error", bad, err)
		}
	}
	if got := string(AppendField60(nil, Field60{Batch: 7, NetworkCode: 4})); got != "00000007004" {
		t.Errorf("default width: %s", got)
	}
}

func TestField61(t *testing.T) {
	for _, in := range []string{"000001", "000001000123", "0000010001231122", "00000100012311221234567890123"} {
		f, err := ParseField61([]byte(in))
		if err != nil {
			t.Fatalf("ParseField61(%s): %v", in, err)
		}
		if back := string(AppendField61(nil, f)); back != in {
			t.Errorf("round trip %s → %s", in, back)
		}
	}
	f, _ := ParseField61([]byte("0000010001231122"))
	if f.Batch != 1 || f.STAN != 123 || f.Date != 1122 {
		t.Errorf("ParseField61 = %+v", f)
	}
	if _, err := ParseField61([]byte("0000010001")); !errors.Is(err, ErrSubfield) {
		t.Errorf("cut inside 61.2: %v", err)
	}
}

func TestSettlementTotals(t *testing.T) {
	in := SettlementTotals{
		Domestic: Totals{DebitAmount: 1234567, DebitCount: 12, CreditAmount: 1500, CreditCount: 1},
		Foreign:  Totals{DebitAmount: 999999999999, DebitCount: 999},
	}
	b, err := AppendSettlementTotals(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 62 || string(b[:31]) != "0000012345670120000000015000010" {
		t.Fatalf("AppendSettlementTotals = %s", b)
	}
	out, err := ParseSettlementTotals(b)
	if err != nil || out != in {
		t.Fatalf("ParseSettlementTotals = %+v, %v", out, err)
	}
	dom, err := ParseSettlementTotals(b[:31])
	if err != nil || dom.Domestic != in.Domestic || dom.Foreign != (Totals{}) {
		t.Fatalf("domestic only: %+v %v", dom, err)
	}
	if _, err := AppendSettlementTotals(nil, SettlementTotals{Domestic: Totals{DebitAmount: -1}}); !errors.Is(err, ErrNumberTooLarge) {
		t.Fatalf("negative amount: %v", err)
	}
	if _, err := ParseSettlementTotals(b[:40]); !errors.Is(err, ErrSubfield) {
		t.Fatalf("40 digits: %v", err)
	}
	// The request and response both travel in field 48 of the terminal profile.
	m := NewMessage(Terminal)
	if err := m.Set(48, b); err != nil {
		t.Fatal(err)
	}
}

func TestBatchUpload(t *testing.T) {
	var u BatchUpload
	u.Count = 2
	u.Records[0] = UploadRecord{CardOrg: 0, STAN: 105, Amount: 1500}
	u.Records[0].PANLen = uint8(copy(u.Records[0].PAN[:], testPAN))
	u.Records[1] = UploadRecord{CardOrg: 1, STAN: 106, Amount: 99}
	u.Records[1].PANLen = uint8(copy(u.Records[1].PAN[:], "6212340000000026"))
	b, err := AppendBatchUpload(nil, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2+2*40 {
		t.Fatalf("length %d", len(b))
	}
	if want := "02" + "00" + "000105" + "0" + testPAN + "000000001500"; string(b[:42]) != want {
		t.Fatalf("first record %s, want %s", b[:42], want)
	}
	got, err := ParseBatchUpload(b)
	if err != nil || got != u {
		t.Fatalf("ParseBatchUpload = %+v, %v", got, err)
	}
	m := NewMessage(Terminal)
	if err := m.Set(48, b); err != nil {
		t.Fatalf("a full upload must fit field 48: %v", err)
	}
	if n, err := ParseBatchEnd([]byte("0042")); n != 42 || err != nil {
		t.Fatalf("ParseBatchEnd = %d, %v", n, err)
	}
	if _, err := ParseBatchUpload(b[:50]); !errors.Is(err, ErrSubfield) {
		t.Fatalf("short upload: %v", err)
	}
}

func TestTerminalInfo(t *testing.T) {
	// field59_A2_tusn_3digit_len: an A2 block with 3-digit lengths (source in testdata).
	raw := mustReadHex(t, "testdata/field59_A2_tusn_3digit_len.hex")
	ti, err := ParseTerminalInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"device type": {string(ti.DeviceType), "02"}, "SN": {string(ti.SN), "0000020254004318"},
		"random factor": {string(ti.RandomFactor), "000052"}, "SN cipher": {string(ti.SNCipher), "EC7CD424"},
		"app version": {string(ti.AppVersion), "321702  "},
	}
	for k, v := range want {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", k, v[0], v[1])
		}
	}
	if back := AppendTerminalInfo(nil, ti); string(back) != string(raw) {
		t.Errorf("AppendTerminalInfo = %s, want %s", back, raw)
	}

	// codetd purchase: acquirer tags before A2, all with 2-digit lengths.
	m := NewMessage(Terminal)
	for _, v := range loadVectors(t) {
		if v.name == "codetd_0200_purchase_contactless_tusn" {
			f, _ := ParseFrame(v.raw[2:])
			if err := m.Unpack(f.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	ti, err = ParseTerminalInfo(m.Field(59))
	if err != nil {
		t.Fatal(err)
	}
	if string(ti.SN) != "0000290210015708" || string(ti.RandomFactor) != "000113" ||
		string(ti.SNCipher) != "04247292" || string(ti.AppVersion) != "H7062801" || string(ti.DeviceType) != "02" {
		t.Errorf("codetd A2 = %q %q %q %q %q", ti.DeviceType, ti.SN, ti.RandomFactor, ti.SNCipher, ti.AppVersion)
	}
	// The random factor is the PAN's last six digits.
	if pan := m.Field(2); string(pan[len(pan)-6:]) != string(ti.RandomFactor) {
		t.Errorf("random factor %s does not end the PAN", ti.RandomFactor)
	}

	// tusn_mpos_ios_sample: the four values an mPOS returns, built into an A2 block and read back.
	parts := strings.Fields(string(mustRead(t, "testdata/tusn_mpos_ios_sample.hex")))
	vals := make([][]byte, len(parts))
	for i, p := range parts {
		vals[i] = mustHex(p)
	}
	built := AppendTerminalInfo(nil, TerminalInfo{DeviceType: []byte("03"), SN: vals[0], RandomFactor: vals[1],
		SNCipher: vals[2], AppVersion: vals[3]})
	ti, err = ParseTerminalInfo(built)
	if err != nil {
		t.Fatal(err)
	}
	if string(ti.SN) != "000024039991810100000206" || string(ti.RandomFactor) != "156983" ||
		string(ti.SNCipher) != "01E08FEC" || string(ti.AppVersion) != "V3.0    " {
		t.Errorf("mPOS A2 = %q %q %q %q", ti.SN, ti.RandomFactor, ti.SNCipher, ti.AppVersion)
	}

	for _, bad := range []string{"A2", "A2099010", "XX003abc", "A2010" + "01002"} {
		if _, err := ParseTerminalInfo([]byte(bad)); err == nil {
			t.Errorf("ParseTerminalInfo(%q) accepted", bad)
		}
	}
	if _, err := ParseTerminalInfo([]byte("12003abc")); !errors.Is(err, ErrNotPresent) {
		t.Errorf("no A2: %v", err)
	}
}

func TestTLV62(t *testing.T) {
	pub := make([]byte, 294)
	for i := range pub {
		pub[i] = byte(i)
	}
	proof := make([]byte, 32)
	v := AppendTLV(AppendTLV(nil, Tag62PublicKey, pub), Tag62Proof, proof)
	m := NewMessage(Terminal)
	if err := m.Set(62, v); err != nil {
		t.Fatalf("activation request must fit field 62: %v", err)
	}
	it := NewTLVIter(m.Field(62), 3)
	var tags []string
	for it.Next() {
		tags = append(tags, string(it.Tag()))
		if string(it.Tag()) == Tag62PublicKey && len(it.Value()) != 294 {
			t.Errorf("public key length %d", len(it.Value()))
		}
	}
	if it.Err() != nil || strings.Join(tags, ",") != "PK,PF" {
		t.Fatalf("tags %v, err %v", tags, it.Err())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustReadHex(t *testing.T, path string) []byte {
	t.Helper()
	return mustHex(strings.Join(strings.Fields(string(mustRead(t, path))), ""))
}

func TestPackedBCDHelpers(t *testing.T) {
	for _, s := range []string{"6212340000000000018D30122011234567890", "12", "ABCDEF0123", ""} {
		packed := AppendPackedBCD(nil, []byte(s))
		if len(packed) != (len(s)+1)/2 {
			t.Fatalf("%s: %d bytes", s, len(packed))
		}
		back, ok := AppendUnpackedBCD(nil, packed, len(s))
		if !ok || string(back) != s {
			t.Fatalf("round trip %s → %X → %s", s, packed, back)
		}
	}
	if _, ok := AppendUnpackedBCD(nil, []byte{0x12}, 3); ok {
		t.Fatal("3 nibbles from one byte")
	}
	// An encrypted track decodes as hex letters and packs back to the same bytes.
	m := NewMessage(Terminal)
	if err := m.Set(35, []byte("9F3A00C1D2E4B5")); err != nil {
		t.Fatalf("encrypted-looking track refused: %v", err)
	}
}
