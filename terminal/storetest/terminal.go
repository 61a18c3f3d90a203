package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

func testTerminalCreateDefaults(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	got, err := e.CreateTerminal(e.ctx, terminal.Terminal{
		TID: tid1, MID: mid1, SN: sn1, DeviceType: "04", Legacy: true, TargetVersion: "V2.1",
		// Ignored on create: working keys, counters, telemetry.
		Keys:          terminal.Keys{PIK: key(hsm.KeyPIK, 1, 16)},
		KeyGeneration: 9, SoftwareVersion: "V1", Status: terminal.StatusBlocked, Revision: 7,
	})
	if err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	now := e.clock.Now()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Status", got.Status, terminal.StatusPending},
		{"BlockReason", got.BlockReason, terminal.ReasonNone},
		{"Operators", got.Operators.String(), "01"},
		{"MACAlgorithm", got.MACAlgorithm, hsm.MACPOSECB},
		{"Batch", got.Batch, terminal.FirstBatch},
		{"KeyGeneration", got.KeyGeneration, uint64(0)},
		{"Keys zero", sameKeys(got.Keys, terminal.Keys{}), true},
		{"SoftwareVersion", got.SoftwareVersion, ""},
		{"Revision", got.Revision, uint64(1)},
		{"CreatedAt", got.CreatedAt.Equal(now), true},
		{"Legacy", got.Legacy, true},
		{"DeviceType", got.DeviceType, "04"},
		{"TargetVersion", got.TargetVersion, "V2.1"},
		{"SN", got.SN, sn1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("created terminal %s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	read, err := e.GetTerminal(e.ctx, tid1)
	if err != nil {
		t.Fatalf("GetTerminal: %v", err)
	}
	if !equalTerminal(read, got) {
		t.Errorf("GetTerminal:\n got %+v\nwant %+v", read, got)
	}
	bySN, err := e.GetTerminalBySN(e.ctx, sn1)
	if err != nil || !equalTerminal(bySN, got) {
		t.Errorf("GetTerminalBySN: got %+v, %v; want %+v", bySN, err, got)
	}

	// A terminal with an injected TMK starts active.
	tmk := key(hsm.KeyTMK, 3, 16)
	inj, err := e.CreateTerminal(e.ctx, terminal.Terminal{TID: tid2, MID: mid1, Keys: terminal.Keys{TMK: tmk},
		Operators: terminal.Operators{"02 ", "01", "02"}, MACAlgorithm: hsm.MACX919, Batch: 42})
	if err != nil {
		t.Fatalf("CreateTerminal with TMK: %v", err)
	}
	if inj.Status != terminal.StatusActive || !inj.Keys.TMK.Equal(tmk) || inj.Operators.String() != "01,02" ||
		inj.MACAlgorithm != hsm.MACX919 || inj.Batch != 42 || inj.SN != "" {
		t.Errorf("CreateTerminal with TMK: got %+v", inj)
	}
}

// equalTerminal compares every field.
func equalTerminal(a, b terminal.Terminal) bool {
	return a.TID == b.TID && a.MID == b.MID && a.SN == b.SN && a.DeviceType == b.DeviceType && a.Status == b.Status &&
		a.BlockReason == b.BlockReason && a.Legacy == b.Legacy && slices.Equal(a.Operators, b.Operators) &&
		a.MACAlgorithm == b.MACAlgorithm && sameKeys(a.Keys, b.Keys) && a.KeyGeneration == b.KeyGeneration &&
		a.Batch == b.Batch && a.SoftwareVersion == b.SoftwareVersion && a.TargetVersion == b.TargetVersion &&
		a.ForceSignOn == b.ForceSignOn && a.LastSeen.Equal(b.LastSeen) && a.LastSignOn.Equal(b.LastSignOn) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && a.Revision == b.Revision
}

func testTerminalCreateErrors(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, sn1)
	tests := []struct {
		name string
		in   terminal.Terminal
		want error
	}{
		{"duplicate TID", terminal.Terminal{TID: tid1, MID: mid1}, terminal.ErrExists},
		{"unknown merchant", terminal.Terminal{TID: tid2, MID: mid2}, terminal.ErrNotFound},
		{"SN bound elsewhere", terminal.Terminal{TID: tid2, MID: mid1, SN: sn1}, terminal.ErrSNBound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.CreateTerminal(e.ctx, tc.in)
			wantErr(t, "CreateTerminal", err, tc.want)
		})
	}
	var sb *terminal.SNBoundError
	_, err := e.CreateTerminal(e.ctx, terminal.Terminal{TID: tid2, MID: mid1, SN: sn1})
	if !errors.As(err, &sb) || sb.TID != tid1 || sb.SN != sn1 {
		t.Errorf("SNBoundError: got %#v, want holder %s", err, tid1)
	}
	// The failed creates left nothing behind.
	if _, err := e.GetTerminal(e.ctx, tid2); !errors.Is(err, terminal.ErrNotFound) {
		t.Errorf("GetTerminal(%s) after failed creates: got %v, want ErrNotFound", tid2, err)
	}
	if got, err := e.GetTerminalBySN(e.ctx, sn1); err != nil || got.TID != tid1 {
		t.Errorf("GetTerminalBySN(sn1): got %s, %v; want %s", got.TID, err, tid1)
	}
	_, err = e.GetTerminal(e.ctx, "99999999")
	wantErr(t, "GetTerminal missing", err, terminal.ErrNotFound)
	_, err = e.GetTerminalBySN(e.ctx, sn2)
	wantErr(t, "GetTerminalBySN missing", err, terminal.ErrNotFound)
}

func testTerminalValidation(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	secret := key(hsm.KeyPIK, 0xA7, 16) // a TMK of the wrong type: must not show up in errors
	tests := []struct {
		name  string
		edit  func(x *terminal.Terminal)
		field string
	}{
		{"short TID", func(x *terminal.Terminal) { x.TID = "1234567" }, "TID"},
		{"long TID", func(x *terminal.Terminal) { x.TID = "123456789" }, "TID"},
		{"non-ASCII TID", func(x *terminal.Terminal) { x.TID = "1234567é" }, "TID"},
		{"brace TID", func(x *terminal.Terminal) { x.TID = "{1234567" }, "TID"},
		{"bad MID", func(x *terminal.Terminal) { x.MID = "123" }, "MID"},
		{"SN too long", func(x *terminal.Terminal) { x.SN = string(make([]byte, 51)) }, "SN"},
		{"SN with space", func(x *terminal.Terminal) { x.SN = "ABC 123" }, "SN"},
		{"device type", func(x *terminal.Terminal) { x.DeviceType = "123" }, "DeviceType"},
		{"operator too long", func(x *terminal.Terminal) { x.Operators = terminal.Operators{"0001"} }, "Operators"},
		{"operator too short", func(x *terminal.Terminal) { x.Operators = terminal.Operators{"1"} }, "Operators"},
		{"MAC algorithm", func(x *terminal.Terminal) { x.MACAlgorithm = 9 }, "MACAlgorithm"},
		{"batch too big", func(x *terminal.Terminal) { x.Batch = 1000000 }, "Batch"},
		{"target version", func(x *terminal.Terminal) { x.TargetVersion = "123456789" }, "TargetVersion"},
		{"TMK of wrong type", func(x *terminal.Terminal) { x.Keys.TMK = secret }, "TMK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := terminal.Terminal{TID: tid1, MID: mid1}
			tc.edit(&in)
			_, err := e.CreateTerminal(e.ctx, in)
			var fe *terminal.FieldError
			if !errors.Is(err, terminal.ErrInvalid) || !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("CreateTerminal: got %v, want FieldError for %s", err, tc.field)
			}
			noSecret(t, "CreateTerminal", err, secret)
		})
	}
	for _, tid := range []string{"", "1", "123456789", "1234{67}"} {
		_, err := e.GetTerminal(e.ctx, tid)
		wantErr(t, "GetTerminal("+tid+")", err, terminal.ErrInvalid)
	}
}

// testTerminalCopies checks that callers cannot change the store through returned values.
func testTerminalCopies(t *testing.T, e *env) {
	e.activated(t, tid1, mid1, sn1)
	if _, err := e.RotateKeys(e.ctx, tid1, 0, workingKeys(0x30), terminal.SignOnSeq(1, 1)); err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	got, _ := e.GetTerminal(e.ctx, tid1)
	want := got.Clone()
	got.Operators[0] = "99"
	got.Keys.TMK.Cipher[0] ^= 0xff
	got.Keys.MAK.Cipher[0] ^= 0xff
	again, err := e.GetTerminal(e.ctx, tid1)
	if err != nil {
		t.Fatalf("GetTerminal: %v", err)
	}
	if !equalTerminal(again, want) {
		t.Errorf("store changed through a returned value:\n got %+v\nwant %+v", again, want)
	}
	// Nor through values passed in.
	keys := workingKeys(0x40)
	rotated, err := e.RotateKeys(e.ctx, tid1, 1, keys, terminal.SignOnSeq(1, 2))
	if err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	keys.PIK.Cipher[0] ^= 0xff
	again, _ = e.GetTerminal(e.ctx, tid1)
	if !again.Keys.PIK.Equal(rotated.Keys.PIK) || again.Keys.PIK.Equal(keys.PIK) {
		t.Error("store changed through a key passed to RotateKeys")
	}
}

func testTerminalUpdate(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustMerchant(t, mid2)
	orig := e.mustTerminal(t, tid1, mid1, sn1)
	e.clock.Advance(time.Hour)

	in := orig
	in.MID, in.Legacy, in.ForceSignOn, in.TargetVersion = mid2, true, true, "V3"
	in.Operators = terminal.Operators{"03", "01 "}
	in.MACAlgorithm = hsm.MACX919
	in.DeviceType = "03"
	// Fields UpdateTerminal must not touch.
	in.Status, in.SN, in.Batch, in.KeyGeneration = terminal.StatusActive, sn2, 77, 5
	in.Keys.TMK = key(hsm.KeyTMK, 9, 16)

	got, err := e.UpdateTerminal(e.ctx, in)
	if err != nil {
		t.Fatalf("UpdateTerminal: %v", err)
	}
	want := orig
	want.MID, want.Legacy, want.ForceSignOn, want.TargetVersion = mid2, true, true, "V3"
	want.Operators, want.MACAlgorithm, want.DeviceType = terminal.Operators{"01", "03"}, hsm.MACX919, "03"
	want.UpdatedAt, want.Revision = e.clock.Now(), 2
	if !equalTerminal(got, want) {
		t.Errorf("UpdateTerminal:\n got %+v\nwant %+v", got, want)
	}
	if read, _ := e.GetTerminal(e.ctx, tid1); !equalTerminal(read, want) {
		t.Errorf("GetTerminal after update:\n got %+v\nwant %+v", read, want)
	}
	// The merchant index follows the move.
	for _, c := range []struct {
		mid  string
		want int
	}{{mid1, 0}, {mid2, 1}} {
		p, err := e.ListTerminals(e.ctx, terminal.TerminalQuery{MID: c.mid})
		if err != nil || len(p.Terminals) != c.want {
			t.Errorf("ListTerminals(MID %s): got %d terminals, %v; want %d", c.mid, len(p.Terminals), err, c.want)
		}
	}

	_, err = e.UpdateTerminal(e.ctx, orig) // revision 1 is stale
	wantErr(t, "UpdateTerminal stale revision", err, terminal.ErrConflict)
	in = got
	in.MID = "000000000000000"
	_, err = e.UpdateTerminal(e.ctx, in)
	wantErr(t, "UpdateTerminal to unknown merchant", err, terminal.ErrNotFound)
	in = got
	in.TID = tid2
	_, err = e.UpdateTerminal(e.ctx, in)
	wantErr(t, "UpdateTerminal missing terminal", err, terminal.ErrNotFound)
	in = got
	in.Operators = terminal.Operators{"x"}
	_, err = e.UpdateTerminal(e.ctx, in)
	wantErr(t, "UpdateTerminal bad operator", err, terminal.ErrInvalid)
}

func testTerminalList(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustMerchant(t, mid2)
	type row struct {
		mid    string
		status terminal.Status
	}
	fleet := map[string]row{}
	for i := 12; i >= 1; i-- {
		tid, mid := tidN(i), mid1
		if i%3 == 0 {
			mid = mid2
		}
		e.mustTerminal(t, tid, mid, "")
		st := terminal.StatusPending
		if i%4 == 0 {
			if _, err := e.Block(e.ctx, tid, terminal.ReasonStolen); err != nil {
				t.Fatalf("Block: %v", err)
			}
			st = terminal.StatusBlocked
		}
		fleet[tid] = row{mid, st}
	}
	tests := []struct {
		name string
		q    terminal.TerminalQuery
	}{
		{"all", terminal.TerminalQuery{}},
		{"all pages of 5", terminal.TerminalQuery{Page: terminal.Page{Limit: 5}}},
		{"merchant 1 pages of 2", terminal.TerminalQuery{MID: mid1, Page: terminal.Page{Limit: 2}}},
		{"merchant 2", terminal.TerminalQuery{MID: mid2}},
		{"blocked pages of 1", terminal.TerminalQuery{Status: terminal.StatusBlocked, Page: terminal.Page{Limit: 1}}},
		{"pending of merchant 2", terminal.TerminalQuery{MID: mid2, Status: terminal.StatusPending}},
		{"after 20000006", terminal.TerminalQuery{Page: terminal.Page{After: tidN(6), Limit: 4}}},
		{"active (none)", terminal.TerminalQuery{Status: terminal.StatusActive}},
		{"unknown merchant", terminal.TerminalQuery{MID: "000000000000000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for i := 1; i <= 12; i++ {
				r := fleet[tidN(i)]
				if (tc.q.MID == "" || r.mid == tc.q.MID) && (tc.q.Status == 0 || r.status == tc.q.Status) &&
					tidN(i) > tc.q.After {
					want = append(want, tidN(i))
				}
			}
			var got []string
			q := tc.q
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("pagination does not end")
				}
				p, err := e.ListTerminals(e.ctx, q)
				if err != nil {
					t.Fatalf("ListTerminals: %v", err)
				}
				if q.Limit > 0 && len(p.Terminals) > q.Limit {
					t.Fatalf("page of %d, limit %d", len(p.Terminals), q.Limit)
				}
				for _, x := range p.Terminals {
					if r := fleet[x.TID]; x.MID != r.mid || x.Status != r.status {
						t.Errorf("terminal %s: got MID %s status %v, want %s %v", x.TID, x.MID, x.Status, r.mid, r.status)
					}
					got = append(got, x.TID)
				}
				if p.Next == "" {
					break
				}
				q.After = p.Next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	_, err := e.ListTerminals(e.ctx, terminal.TerminalQuery{MID: "bad"})
	wantErr(t, "ListTerminals bad MID", err, terminal.ErrInvalid)
	_, err = e.ListTerminals(e.ctx, terminal.TerminalQuery{Status: 9})
	wantErr(t, "ListTerminals bad status", err, terminal.ErrInvalid)
}

func testSNBinding(t *testing.T, e *env) {
	act := e.activated(t, tid1, mid1, sn1)
	e.mustTerminal(t, tid2, mid1, sn2)
	if act.Status != terminal.StatusActive {
		t.Fatalf("activated terminal status %v", act.Status)
	}
	// Binding the same SN again changes nothing.
	same, err := e.BindSN(e.ctx, tid1, sn1)
	if err != nil || !equalTerminal(same, act) {
		t.Fatalf("BindSN same SN: got %+v, %v; want unchanged %+v", same, err, act)
	}
	// Another terminal's SN is refused and nothing changes.
	_, err = e.BindSN(e.ctx, tid1, sn2)
	wantErr(t, "BindSN taken", err, terminal.ErrSNBound)
	if got, _ := e.GetTerminal(e.ctx, tid1); !equalTerminal(got, act) {
		t.Errorf("terminal changed by refused bind: %+v", got)
	}
	if got, err := e.GetTerminalBySN(e.ctx, sn2); err != nil || got.TID != tid2 {
		t.Errorf("GetTerminalBySN(sn2) after refused bind: %s, %v", got.TID, err)
	}
	// Replacing the device: old SN released, keys and code dropped, back to pending.
	if _, err := e.IssueActivationCode(e.ctx, tid1, key(hsm.KeyACV, 0x55, 32), 0); err != nil {
		t.Fatalf("IssueActivationCode: %v", err)
	}
	const sn3 = "000001024501NEW999"
	e.clock.Advance(time.Minute)
	got, err := e.BindSN(e.ctx, tid1, sn3)
	if err != nil {
		t.Fatalf("BindSN new device: %v", err)
	}
	if got.SN != sn3 || got.Status != terminal.StatusPending || !sameKeys(got.Keys, terminal.Keys{}) ||
		got.Revision != act.Revision+1 || !got.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("BindSN new device: got %+v", got)
	}
	_, err = e.GetTerminalBySN(e.ctx, sn1)
	wantErr(t, "GetTerminalBySN(old SN)", err, terminal.ErrNotFound)
	if bySN, err := e.GetTerminalBySN(e.ctx, sn3); err != nil || bySN.TID != tid1 {
		t.Errorf("GetTerminalBySN(new SN): %s, %v", bySN.TID, err)
	}
	_, err = e.GetActivationCode(e.ctx, sn1)
	wantErr(t, "code of the replaced device", err, terminal.ErrNotFound)
	_, err = e.GetActivationCode(e.ctx, sn3)
	wantErr(t, "code of the new device", err, terminal.ErrNotFound)
	// The released SN can be bound elsewhere.
	if _, err := e.UnbindSN(e.ctx, tid2); err != nil {
		t.Fatalf("UnbindSN: %v", err)
	}
	if got, err := e.BindSN(e.ctx, tid2, sn1); err != nil || got.SN != sn1 {
		t.Fatalf("BindSN released SN: %+v, %v", got, err)
	}
	_, err = e.GetTerminalBySN(e.ctx, sn2)
	wantErr(t, "GetTerminalBySN(unbound)", err, terminal.ErrNotFound)
	// Unbinding twice is a no-op; unknown terminals are not found.
	un, err := e.UnbindSN(e.ctx, tid1)
	if err != nil || un.SN != "" {
		t.Fatalf("UnbindSN: %+v, %v", un, err)
	}
	again, err := e.UnbindSN(e.ctx, tid1)
	if err != nil || again.Revision != un.Revision {
		t.Errorf("UnbindSN twice: revision %d, %v; want %d", again.Revision, err, un.Revision)
	}
	_, err = e.BindSN(e.ctx, "99999999", sn2)
	wantErr(t, "BindSN unknown terminal", err, terminal.ErrNotFound)
	if _, err := e.GetTerminalBySN(e.ctx, sn2); !errors.Is(err, terminal.ErrNotFound) {
		t.Errorf("failed bind left SN %s bound: %v", sn2, err)
	}
	// sn2 is free again: bindable.
	if _, err := e.BindSN(e.ctx, tid1, sn2); err != nil {
		t.Errorf("BindSN after failed bind elsewhere: %v", err)
	}
	_, err = e.BindSN(e.ctx, tid1, "bad sn")
	wantErr(t, "BindSN invalid SN", err, terminal.ErrInvalid)
}

func testBlockUnblock(t *testing.T, e *env) {
	act := e.activated(t, tid1, mid1, sn1)
	e.mustTerminal(t, tid2, mid1, sn2)
	tests := []struct {
		tid        string
		reason     terminal.BlockReason
		afterBlock terminal.Status
		unblocked  terminal.Status
	}{
		{tid1, terminal.ReasonLost, terminal.StatusBlocked, terminal.StatusActive},
		{tid2, terminal.ReasonOther, terminal.StatusBlocked, terminal.StatusPending},
	}
	for _, tc := range tests {
		got, err := e.Block(e.ctx, tc.tid, tc.reason)
		if err != nil || got.Status != tc.afterBlock || got.BlockReason != tc.reason {
			t.Fatalf("Block(%s): got %v/%v, %v", tc.tid, got.Status, got.BlockReason, err)
		}
		var se *terminal.StatusError
		if err := got.CanTransact(); !errors.Is(err, terminal.ErrBlocked) || !errors.As(err, &se) || se.Reason != tc.reason {
			t.Errorf("CanTransact of blocked terminal: %v", err)
		}
		got, err = e.Unblock(e.ctx, tc.tid)
		if err != nil || got.Status != tc.unblocked || got.BlockReason != terminal.ReasonNone {
			t.Errorf("Unblock(%s): got %v/%v, %v; want %v", tc.tid, got.Status, got.BlockReason, err, tc.unblocked)
		}
	}
	got, _ := e.GetTerminal(e.ctx, tid1)
	if got.Revision != act.Revision+2 || !got.Keys.TMK.Equal(act.Keys.TMK) {
		t.Errorf("after block+unblock: revision %d (want %d), TMK kept %v", got.Revision, act.Revision+2, got.Keys.TMK.Equal(act.Keys.TMK))
	}
	// Re-blocking changes the reason; unblocking an unblocked terminal changes nothing.
	if _, err := e.Block(e.ctx, tid1, terminal.ReasonLost); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Block(e.ctx, tid1, terminal.ReasonStolen); got.BlockReason != terminal.ReasonStolen {
		t.Errorf("re-block: reason %v, want stolen", got.BlockReason)
	}
	un, _ := e.Unblock(e.ctx, tid1)
	un2, err := e.Unblock(e.ctx, tid1)
	if err != nil || un2.Revision != un.Revision {
		t.Errorf("Unblock twice: revision %d → %d, %v", un.Revision, un2.Revision, err)
	}
	_, err = e.Block(e.ctx, tid1, terminal.ReasonNone)
	wantErr(t, "Block without reason", err, terminal.ErrInvalid)
	_, err = e.Block(e.ctx, "99999999", terminal.ReasonLost)
	wantErr(t, "Block unknown", err, terminal.ErrNotFound)
	_, err = e.Unblock(e.ctx, "99999999")
	wantErr(t, "Unblock unknown", err, terminal.ErrNotFound)
}
