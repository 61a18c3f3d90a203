package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

func testActivationIssue(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, "")
	v := key(hsm.KeyACV, 0x61, 32)
	_, err := e.IssueActivationCode(e.ctx, tid1, v, 0)
	wantErr(t, "IssueActivationCode without SN", err, terminal.ErrNoSN, v)
	_, err = e.IssueActivationCode(e.ctx, "99999999", v, 0)
	wantErr(t, "IssueActivationCode unknown terminal", err, terminal.ErrNotFound, v)
	if _, err := e.BindSN(e.ctx, tid1, sn1); err != nil {
		t.Fatal(err)
	}
	badKeys := []struct {
		name string
		key  hsm.WrappedKey
	}{
		{"zero", hsm.WrappedKey{}},
		{"wrong type", key(hsm.KeyTMK, 0x62, 16)},
		{"empty cipher", hsm.WrappedKey{Type: hsm.KeyACV}},
	}
	for _, bk := range badKeys {
		_, err := e.IssueActivationCode(e.ctx, tid1, bk.key, 0)
		wantErr(t, "IssueActivationCode "+bk.name+" verifier", err, terminal.ErrInvalid, bk.key)
	}
	for _, ttl := range []time.Duration{-time.Second, terminal.MaxCodeTTL + time.Second} {
		_, err := e.IssueActivationCode(e.ctx, tid1, v, ttl)
		wantErr(t, "IssueActivationCode ttl "+ttl.String(), err, terminal.ErrInvalid, v)
	}

	code, err := e.IssueActivationCode(e.ctx, tid1, v, 0)
	if err != nil {
		t.Fatalf("IssueActivationCode: %v", err)
	}
	now := e.clock.Now()
	if code.TID != tid1 || code.SN != sn1 || !code.Verifier.Equal(v) || !code.IssuedAt.Equal(now) ||
		!code.ExpiresAt.Equal(now.Add(terminal.DefaultCodeTTL)) || code.Spent() || code.WrongProofs != 0 {
		t.Errorf("IssueActivationCode: got %+v", code)
	}
	got, err := e.GetActivationCode(e.ctx, sn1)
	if err != nil || got.TID != tid1 || !got.Verifier.Equal(v) || !got.ExpiresAt.Equal(code.ExpiresAt) {
		t.Errorf("GetActivationCode: got %+v, %v", got, err)
	}
	got.Verifier.Cipher[0] ^= 0xff // a returned verifier is a copy
	if again, _ := e.GetActivationCode(e.ctx, sn1); !again.Verifier.Equal(v) {
		t.Error("store changed through a returned verifier")
	}
	_, err = e.GetActivationCode(e.ctx, sn2)
	wantErr(t, "GetActivationCode unknown SN", err, terminal.ErrNotFound)

	// Re-issuing replaces the code: the old verifier no longer activates.
	v2 := key(hsm.KeyACV, 0x63, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v2, time.Hour); err != nil {
		t.Fatal(err)
	}
	tmk := key(hsm.KeyTMK, 0x64, 16)
	_, err = e.Activate(e.ctx, sn1, v, tmk)
	wantErr(t, "Activate with replaced verifier", err, terminal.ErrConflict, v, tmk)
	if got, _ := e.GetActivationCode(e.ctx, sn1); !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("re-issued code expires %v, want %v", got.ExpiresAt, now.Add(time.Hour))
	}
	// Blocked terminals get no code.
	if _, err := e.Block(e.ctx, tid1, terminal.ReasonLost); err != nil {
		t.Fatal(err)
	}
	_, err = e.IssueActivationCode(e.ctx, tid1, v, 0)
	wantErr(t, "IssueActivationCode blocked", err, terminal.ErrBlocked, v)
}

func testActivationSpend(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	before := e.mustTerminal(t, tid1, mid1, sn1)
	v := key(hsm.KeyACV, 0x71, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v, 0); err != nil {
		t.Fatal(err)
	}
	tmk := key(hsm.KeyTMK, 0x72, 16)
	for _, bad := range []struct {
		name     string
		v, tmk   hsm.WrappedKey
		sentinel error
	}{
		{"TMK of wrong type", v, key(hsm.KeyMAK, 0x73, 16), terminal.ErrInvalid},
		{"no TMK", v, hsm.WrappedKey{}, terminal.ErrInvalid},
		{"verifier of wrong type", key(hsm.KeyTMK, 0x74, 16), tmk, terminal.ErrInvalid},
		{"other verifier", key(hsm.KeyACV, 0x75, 32), tmk, terminal.ErrConflict},
	} {
		_, err := e.Activate(e.ctx, sn1, bad.v, bad.tmk)
		wantErr(t, "Activate "+bad.name, err, bad.sentinel, bad.v, bad.tmk)
	}
	e.clock.Advance(time.Minute)
	got, err := e.Activate(e.ctx, sn1, v, tmk)
	if err != nil {
		t.Fatalf("Activate: %v", err)
	}
	want := before
	want.Status, want.Keys = terminal.StatusActive, terminal.Keys{TMK: tmk}
	want.UpdatedAt, want.Revision = e.clock.Now(), before.Revision+1
	if !equalTerminal(got, want) {
		t.Errorf("Activate:\n got %+v\nwant %+v", got, want)
	}
	if read, _ := e.GetTerminal(e.ctx, tid1); !equalTerminal(read, want) {
		t.Errorf("GetTerminal after Activate:\n got %+v\nwant %+v", read, want)
	}
	_, err = e.Activate(e.ctx, sn1, v, key(hsm.KeyTMK, 0x76, 16))
	wantErr(t, "Activate twice", err, terminal.ErrCodeSpent, v)
	_, err = e.GetActivationCode(e.ctx, sn1)
	wantErr(t, "GetActivationCode spent", err, terminal.ErrCodeSpent)
	if read, _ := e.GetTerminal(e.ctx, tid1); !read.Keys.TMK.Equal(tmk) {
		t.Error("second Activate replaced the TMK")
	}
	_, err = e.ClaimProof(e.ctx, sn2)
	wantErr(t, "ClaimProof unknown SN", err, terminal.ErrNotFound)

	// Re-activation with a new code replaces the TMK and drops working keys.
	if _, err := e.RotateKeys(e.ctx, tid1, 0, workingKeys(0x80), terminal.SignOnSeq(1, 1)); err != nil {
		t.Fatal(err)
	}
	v2, tmk2 := key(hsm.KeyACV, 0x77, 32), key(hsm.KeyTMK, 0x78, 16)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v2, 0); err != nil {
		t.Fatal(err)
	}
	got, err = e.Activate(e.ctx, sn1, v2, tmk2)
	if err != nil || !sameKeys(got.Keys, terminal.Keys{TMK: tmk2}) || got.KeyGeneration != 1 {
		t.Errorf("re-Activate: keys %v gen %d, %v", got.Keys, got.KeyGeneration, err)
	}
	// A terminal blocked after the code was issued cannot activate.
	v3 := key(hsm.KeyACV, 0x79, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v3, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Block(e.ctx, tid1, terminal.ReasonStolen); err != nil {
		t.Fatal(err)
	}
	_, err = e.Activate(e.ctx, sn1, v3, tmk)
	wantErr(t, "Activate blocked", err, terminal.ErrBlocked, v3, tmk)
}

func testActivationExpiry(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, sn1)
	v := key(hsm.KeyACV, 0x81, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v, 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(terminal.DefaultCodeTTL - time.Second)
	if _, err := e.GetActivationCode(e.ctx, sn1); err != nil {
		t.Fatalf("GetActivationCode one second before expiry: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err := e.GetActivationCode(e.ctx, sn1)
	wantErr(t, "GetActivationCode at expiry", err, terminal.ErrCodeExpired)
	tmk := key(hsm.KeyTMK, 0x82, 16)
	_, err = e.Activate(e.ctx, sn1, v, tmk)
	wantErr(t, "Activate expired", err, terminal.ErrCodeExpired, v, tmk)
	if got, _ := e.GetTerminal(e.ctx, tid1); got.Status != terminal.StatusPending || !got.Keys.TMK.IsZero() {
		t.Errorf("expired code activated the terminal: %v", got.Status)
	}
	// A new code works again.
	if _, err := e.IssueActivationCode(e.ctx, tid1, v, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Activate(e.ctx, sn1, v, tmk); err != nil {
		t.Errorf("Activate with re-issued code: %v", err)
	}
}

// testActivationProofBackoff: every proof is counted when claimed; after FreeProofs each
// further one waits ProofDelay (doubling, capped) — a delay, never a permanent lock — the right
// proof still activates, and an operator's unlock or a new code starts the count again.
func testActivationProofBackoff(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, sn1)
	v := key(hsm.KeyACV, 0x91, 32)
	if _, err := e.IssueActivationCode(e.ctx, tid1, v, 0); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= terminal.FreeProofs; n++ {
		c, err := e.ClaimProof(e.ctx, sn1)
		if err != nil || c.WrongProofs != n || !c.LockedUntil.IsZero() || !c.Verifier.Equal(v) {
			t.Fatalf("claim %d: %+v, %v", n, c, err)
		}
	}
	c, err := e.ClaimProof(e.ctx, sn1)
	if err != nil || !c.LockedUntil.Equal(e.clock.Now().Add(terminal.ProofBackoffBase)) {
		t.Fatalf("first claim beyond the free ones: until %v, %v", c.LockedUntil, err)
	}
	_, err = e.ClaimProof(e.ctx, sn1)
	wantErr(t, "claim while delayed", err, terminal.ErrLocked)
	var re *terminal.RecordError
	if !errors.As(err, &re) || re.Kind != terminal.KindSN || re.ID != sn1 {
		t.Errorf("lock error: got %#v, want RecordError for SN %s", err, sn1)
	}
	_, err = e.GetActivationCode(e.ctx, sn1)
	wantErr(t, "GetActivationCode delayed", err, terminal.ErrLocked)
	// The delay doubles with each proof; refused claims were not counted.
	e.clock.Advance(terminal.ProofBackoffBase)
	c, err = e.ClaimProof(e.ctx, sn1)
	if err != nil || c.WrongProofs != terminal.FreeProofs+2 || !c.LockedUntil.Equal(e.clock.Now().Add(2*terminal.ProofBackoffBase)) {
		t.Fatalf("claim after the first delay: until %v, %v", c.LockedUntil, err)
	}
	// The claimed proof is the right one: it activates despite the delay it set.
	tmk := key(hsm.KeyTMK, 0x92, 16)
	if _, err := e.Activate(e.ctx, sn1, v, tmk); err != nil {
		t.Fatalf("Activate after a delayed claim: %v", err)
	}

	// A new code starts afresh; an operator's unlock too.
	v2 := key(hsm.KeyACV, 0x93, 32)
	c, err = e.IssueActivationCode(e.ctx, tid1, v2, 0)
	if err != nil || c.WrongProofs != 0 || !c.LockedUntil.IsZero() {
		t.Fatalf("IssueActivationCode: %+v, %v", c, err)
	}
	for range terminal.FreeProofs + 1 {
		if _, err := e.ClaimProof(e.ctx, sn1); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.ClaimProof(e.ctx, sn1)
	wantErr(t, "claim while delayed (second code)", err, terminal.ErrLocked)
	c, err = e.UnlockActivation(e.ctx, tid1)
	if err != nil || c.WrongProofs != 0 || !c.LockedUntil.IsZero() {
		t.Fatalf("UnlockActivation: %+v, %v", c, err)
	}
	if c, err := e.ClaimProof(e.ctx, sn1); err != nil || c.WrongProofs != 1 {
		t.Errorf("claim after unlock: %+v, %v", c, err)
	}
	_, err = e.UnlockActivation(e.ctx, tid2)
	wantErr(t, "UnlockActivation without a code", err, terminal.ErrNotFound)
}

func testRotateKeys(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid2, mid1, sn2)
	_, err := e.RotateKeys(e.ctx, tid2, 0, workingKeys(1), terminal.SignOnSeq(1, 1))
	wantErr(t, "RotateKeys pending terminal", err, terminal.ErrNotActive)

	act := e.activated(t, tid1, mid1, sn1)
	in := act
	in.ForceSignOn = true
	act, err = e.UpdateTerminal(e.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	keys := workingKeys(0xA0)
	got, err := e.RotateKeys(e.ctx, tid1, 0, keys, terminal.SignOnSeq(1, 10))
	if err != nil {
		t.Fatalf("RotateKeys: %v", err)
	}
	want := act
	want.Keys.PIK, want.Keys.MAK, want.Keys.TDK = keys.PIK, keys.MAK, keys.TDK
	want.KeyGeneration, want.ForceSignOn, want.LastSignOn, want.SignOnSeq = 1, false, e.clock.Now(), terminal.SignOnSeq(1, 10)
	if !equalTerminal(got, want) {
		t.Errorf("RotateKeys:\n got %+v\nwant %+v", got, want)
	}
	if read, _ := e.GetTerminal(e.ctx, tid1); !equalTerminal(read, want) {
		t.Errorf("GetTerminal after RotateKeys:\n got %+v\nwant %+v", read, want)
	}
	// A node that read generation 0 lost the race.
	late := workingKeys(0xB0)
	_, err = e.RotateKeys(e.ctx, tid1, 0, late, terminal.SignOnSeq(1, 11))
	wantErr(t, "RotateKeys stale generation", err, terminal.ErrConflict, late.PIK, late.MAK, late.TDK)
	// Without TDK (60.3 = 001/003).
	noTDK := terminal.Keys{PIK: key(hsm.KeyPIK, 0xC0, 8), MAK: key(hsm.KeyMAK, 0xC1, 8)}
	got, err = e.RotateKeys(e.ctx, tid1, 1, noTDK, terminal.SignOnSeq(1, 12))
	if err != nil || !got.Keys.TDK.IsZero() || got.KeyGeneration != 2 || !got.Keys.TMK.Equal(act.Keys.TMK) {
		t.Errorf("RotateKeys without TDK: %+v, %v", got.Keys, err)
	}
	bad := []struct {
		name string
		keys terminal.Keys
	}{
		{"no PIK", terminal.Keys{MAK: key(hsm.KeyMAK, 1, 8)}},
		{"no MAK", terminal.Keys{PIK: key(hsm.KeyPIK, 1, 8)}},
		{"swapped", terminal.Keys{PIK: key(hsm.KeyMAK, 0xD1, 8), MAK: key(hsm.KeyPIK, 0xD2, 8)}},
		{"TDK of wrong type", terminal.Keys{PIK: key(hsm.KeyPIK, 1, 8), MAK: key(hsm.KeyMAK, 1, 8), TDK: key(hsm.KeyZPK, 0xD3, 16)}},
		{"TMK", terminal.Keys{TMK: key(hsm.KeyTMK, 0xD4, 16), PIK: key(hsm.KeyPIK, 1, 8), MAK: key(hsm.KeyMAK, 1, 8)}},
	}
	for _, b := range bad {
		_, err := e.RotateKeys(e.ctx, tid1, 2, b.keys, terminal.SignOnSeq(1, 13))
		wantErr(t, "RotateKeys "+b.name, err, terminal.ErrInvalid, b.keys.TMK, b.keys.PIK, b.keys.MAK, b.keys.TDK)
	}
	if _, err := e.Block(e.ctx, tid1, terminal.ReasonLost); err != nil {
		t.Fatal(err)
	}
	_, err = e.RotateKeys(e.ctx, tid1, 2, workingKeys(0xE0), terminal.SignOnSeq(1, 13))
	wantErr(t, "RotateKeys blocked", err, terminal.ErrBlocked)
	_, err = e.RotateKeys(e.ctx, "99999999", 0, workingKeys(0xE0), terminal.SignOnSeq(1, 13))
	wantErr(t, "RotateKeys unknown", err, terminal.ErrNotFound)
}

// testSignOnFreshness: a sign-on whose (batch, STAN) does not come after the last accepted
// one — a replay — rotates nothing; a new TMK (activation) or a new device starts afresh.
func testSignOnFreshness(t *testing.T, e *env) {
	e.activated(t, tid1, mid1, sn1)
	first := terminal.SignOnSeq(2, 500)
	got, err := e.RotateKeys(e.ctx, tid1, 0, workingKeys(0x10), first)
	if err != nil || got.SignOnSeq != first {
		t.Fatalf("first sign-on: %d, %v", got.SignOnSeq, err)
	}
	for _, stale := range []struct {
		name string
		seq  uint64
	}{{"same STAN", first}, {"earlier STAN", terminal.SignOnSeq(2, 499)}, {"earlier batch", terminal.SignOnSeq(1, 900)}} {
		late := workingKeys(0x20)
		_, err := e.RotateKeys(e.ctx, tid1, 1, late, stale.seq)
		wantErr(t, "RotateKeys "+stale.name, err, terminal.ErrStale, late.PIK, late.MAK)
	}
	if read, _ := e.GetTerminal(e.ctx, tid1); read.KeyGeneration != 1 || read.SignOnSeq != first || !read.Keys.MAK.Equal(got.Keys.MAK) {
		t.Errorf("after stale sign-ons: generation %d seq %d, keys kept %v", read.KeyGeneration, read.SignOnSeq, read.Keys.MAK.Equal(got.Keys.MAK))
	}
	// A later STAN of the same batch, and a later batch with a smaller STAN, are fresh.
	if got, err = e.RotateKeys(e.ctx, tid1, 1, workingKeys(0x30), terminal.SignOnSeq(2, 501)); err != nil {
		t.Fatalf("later STAN: %v", err)
	}
	if got, err = e.RotateKeys(e.ctx, tid1, 2, workingKeys(0x40), terminal.SignOnSeq(3, 1)); err != nil || got.SignOnSeq != terminal.SignOnSeq(3, 1) {
		t.Fatalf("later batch: %d, %v", got.SignOnSeq, err)
	}
	// Re-activation installs a new TMK: the terminal may start counting again.
	if _, err := e.IssueActivationCode(e.ctx, tid1, key(hsm.KeyACV, 0x51, 32), 0); err != nil {
		t.Fatal(err)
	}
	act, err := e.Activate(e.ctx, sn1, key(hsm.KeyACV, 0x51, 32), key(hsm.KeyTMK, 0x52, 16))
	if err != nil || act.SignOnSeq != 0 {
		t.Fatalf("re-activation: seq %d, %v", act.SignOnSeq, err)
	}
	if _, err := e.RotateKeys(e.ctx, tid1, act.KeyGeneration, workingKeys(0x60), terminal.SignOnSeq(1, 1)); err != nil {
		t.Errorf("first sign-on after re-activation: %v", err)
	}
	// A new device (another SN) drops keys and the counter too.
	rebound, err := e.BindSN(e.ctx, tid1, sn2)
	if err != nil || rebound.SignOnSeq != 0 {
		t.Errorf("BindSN of a new device: seq %d, %v", rebound.SignOnSeq, err)
	}
}

func testAdvanceBatch(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	e.mustTerminal(t, tid1, mid1, "")
	created, err := e.CreateTerminal(e.ctx, terminal.Terminal{TID: tid2, MID: mid1, Batch: terminal.LastBatch})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tid     string
		from    terminal.Batch
		want    terminal.Batch
		wantErr error
	}{
		{"first", tid1, 1, 2, nil},
		{"retried settlement", tid1, 1, 2, terminal.ErrConflict},
		{"next", tid1, 2, 3, nil},
		{"ahead of the store", tid1, 5, 3, terminal.ErrConflict},
		{"wraps after 999999", tid2, terminal.LastBatch, 1, nil},
	}
	for _, tc := range tests {
		got, err := e.AdvanceBatch(e.ctx, tc.tid, tc.from)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: AdvanceBatch(%s, %v) = %v, %v; want %v, %v", tc.name, tc.tid, tc.from, got, err, tc.want, tc.wantErr)
		}
	}
	if got, _ := e.GetTerminal(e.ctx, tid2); got.Batch != 1 || got.Revision != created.Revision {
		t.Errorf("after wrap: batch %v revision %d, want 000001 and unchanged revision", got.Batch, got.Revision)
	}
	for _, from := range []terminal.Batch{0, 1000000} {
		_, err := e.AdvanceBatch(e.ctx, tid1, from)
		wantErr(t, "AdvanceBatch from "+from.String(), err, terminal.ErrInvalid)
	}
	_, err = e.AdvanceBatch(e.ctx, "99999999", 1)
	wantErr(t, "AdvanceBatch unknown", err, terminal.ErrNotFound)
}

func testSeen(t *testing.T, e *env) {
	e.mustMerchant(t, mid1)
	before := e.mustTerminal(t, tid1, mid1, sn1)
	e.clock.Advance(time.Hour)
	if err := e.Seen(e.ctx, tid1, "V1.2.3  "); err != nil {
		t.Fatalf("Seen: %v", err)
	}
	got, _ := e.GetTerminal(e.ctx, tid1)
	if !got.LastSeen.Equal(e.clock.Now()) || got.SoftwareVersion != "V1.2.3" || got.Revision != before.Revision ||
		!got.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("after Seen: last seen %v version %q revision %d updated %v", got.LastSeen, got.SoftwareVersion, got.Revision, got.UpdatedAt)
	}
	e.clock.Advance(time.Minute)
	if err := e.Seen(e.ctx, tid1, ""); err != nil {
		t.Fatal(err)
	}
	got, _ = e.GetTerminal(e.ctx, tid1)
	if got.SoftwareVersion != "V1.2.3" || !got.LastSeen.Equal(e.clock.Now()) {
		t.Errorf("Seen without version: version %q last seen %v", got.SoftwareVersion, got.LastSeen)
	}
	wantErr(t, "Seen unknown", e.Seen(e.ctx, "99999999", ""), terminal.ErrNotFound)
	wantErr(t, "Seen long version", e.Seen(e.ctx, tid1, "123456789"), terminal.ErrInvalid)
	// The update check uses what Seen stored.
	in := got
	in.TargetVersion = "V1.3.0"
	upd, err := e.UpdateTerminal(e.ctx, in)
	if err != nil || !upd.NeedsSoftwareUpdate() {
		t.Errorf("NeedsSoftwareUpdate with %q < %q: false, %v", upd.SoftwareVersion, upd.TargetVersion, err)
	}
}
