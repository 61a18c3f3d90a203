package admin_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

func TestAPIMemstore(t *testing.T) { runAPISuite(t, memStore) }

func TestAPIRedisstore(t *testing.T) { runAPISuite(t, redisStores(t)) }

// runAPISuite drives every API endpoint over HTTP against a registry from newStore.
func runAPISuite(t *testing.T, newStore storeFactory) {
	t.Run("merchants", func(t *testing.T) { testMerchants(t, newEnv(t, newStore(t), nil)) })
	t.Run("create terminal", func(t *testing.T) { testCreateTerminal(t, newEnv(t, newStore(t), nil)) })
	t.Run("create terminal validation", func(t *testing.T) { testCreateValidation(t, newEnv(t, newStore(t), nil)) })
	t.Run("activation codes", func(t *testing.T) { testActivationCodes(t, newEnv(t, newStore(t), nil)) })
	t.Run("block and unblock", func(t *testing.T) { testBlock(t, newEnv(t, newStore(t), nil)) })
	t.Run("unlock activation", func(t *testing.T) { testUnlockActivation(t, newEnv(t, newStore(t), nil)) })
	t.Run("resign and software", func(t *testing.T) { testResignSoftware(t, newEnv(t, newStore(t), nil)) })
	t.Run("list terminals", func(t *testing.T) { testListTerminals(t, newEnv(t, newStore(t), nil)) })
	t.Run("unknown terminal", func(t *testing.T) { testUnknownTerminal(t, newEnv(t, newStore(t), nil)) })
	t.Run("identifiers needing escapes", func(t *testing.T) { testEscapedIDs(t, newEnv(t, newStore(t), nil)) })
}

func testMerchants(t *testing.T, e *env) {
	ctx := ctxT(t)
	req := adminapi.CreateMerchantRequest{MID: mid(1), NewMerchant: *merchantFields("Noodle Bar 面馆")}
	req.FeePlan = "standard"
	m, err := e.c.CreateMerchant(ctx, req)
	if err != nil {
		t.Fatalf("CreateMerchant: %v", err)
	}
	if m.MID != mid(1) || m.Name != "Noodle Bar 面馆" || m.FeePlan != "standard" || m.Revision == 0 || m.CreatedAt.IsZero() {
		t.Errorf("created merchant = %+v", m)
	}
	stored, err := e.store.GetMerchant(ctx, mid(1))
	if err != nil || stored.SettlementAccount != req.SettlementAccount || stored.City != "Shanghai" {
		t.Errorf("registry merchant = %+v, %v", stored, err)
	}
	got, err := e.c.GetMerchant(ctx, mid(1))
	if err != nil || got != m {
		t.Errorf("GetMerchant = %+v, %v; want %+v", got, err, m)
	}
	_, err = e.c.CreateMerchant(ctx, req)
	wantAPIError(t, err, http.StatusConflict, adminapi.ErrExists)
	_, err = e.c.GetMerchant(ctx, mid(99))
	wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)

	bad := []struct {
		name  string
		edit  func(*adminapi.CreateMerchantRequest)
		field string
	}{
		{"short MID", func(r *adminapi.CreateMerchantRequest) { r.MID = "M1" }, "mid"},
		{"MCC letters", func(r *adminapi.CreateMerchantRequest) { r.MCC = "58a2" }, "mcc"},
		{"no name", func(r *adminapi.CreateMerchantRequest) { r.Name = "" }, "name"},
		{"settlement account with a control char", func(r *adminapi.CreateMerchantRequest) { r.SettlementAccount = "6222\n" }, "settlement_account"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := adminapi.CreateMerchantRequest{MID: mid(50), NewMerchant: *merchantFields("X")}
			tc.edit(&r)
			_, err := e.c.CreateMerchant(ctx, r)
			ae := wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid)
			if ae.Field != tc.field {
				t.Errorf("field = %q, want %q", ae.Field, tc.field)
			}
		})
	}

	for i := 2; i <= 5; i++ {
		if _, err := e.c.CreateMerchant(ctx, adminapi.CreateMerchantRequest{MID: mid(i), NewMerchant: *merchantFields("M")}); err != nil {
			t.Fatal(err)
		}
	}
	var mids []string
	q := adminapi.ListMerchantsRequest{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("merchant pagination does not end")
		}
		l, err := e.c.ListMerchants(ctx, q)
		if err != nil {
			t.Fatalf("ListMerchants: %v", err)
		}
		if len(l.Merchants) > 2 {
			t.Fatalf("page of %d merchants, limit 2", len(l.Merchants))
		}
		for _, m := range l.Merchants {
			mids = append(mids, m.MID)
		}
		if l.Next == "" {
			break
		}
		q.After = l.Next
	}
	if want := []string{mid(1), mid(2), mid(3), mid(4), mid(5)}; strings.Join(mids, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", mids, want)
	}
	_, err = e.c.ListMerchants(ctx, adminapi.ListMerchantsRequest{Limit: -1})
	wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid)
}

func testCreateTerminal(t *testing.T, e *env) {
	ctx := ctxT(t)
	res, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{
		TID: tid(1), MID: mid(1), SN: "SN-0001", DeviceType: "02", Legacy: true,
		Operators: []string{"02", "01"}, MACAlgorithm: adminapi.MACX919, TargetVersion: "20260101",
		Merchant: merchantFields("Tea House"),
	})
	if err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	if !res.MerchantCreated || res.ActivationCode == "" || res.ExpiresAt == nil {
		t.Fatalf("response = merchant_created %v, code given %v, expires %v", res.MerchantCreated, res.ActivationCode != "", res.ExpiresAt)
	}
	if d := time.Until(*res.ExpiresAt); d < terminal.DefaultCodeTTL-time.Minute || d > terminal.DefaultCodeTTL {
		t.Errorf("code expires in %v, want the default %v", d, terminal.DefaultCodeTTL)
	}
	v := res.Terminal
	if v.TID != tid(1) || v.MID != mid(1) || v.SN != "SN-0001" || v.Status != adminapi.StatusPending ||
		!v.Legacy || strings.Join(v.Operators, ",") != "01,02" || v.MACAlgorithm != adminapi.MACX919 ||
		v.DeviceType != "02" || v.TargetVersion != "20260101" || v.Batch != "000001" || v.Keys != (adminapi.KeyInfo{}) {
		t.Errorf("terminal view = %+v", v)
	}
	stored, err := e.store.GetTerminal(ctx, tid(1))
	if err != nil || stored.SN != "SN-0001" || stored.MACAlgorithm != hsm.MACX919 || !stored.Legacy {
		t.Fatalf("registry terminal = %+v, %v", stored, err)
	}
	if m, err := e.store.GetMerchant(ctx, mid(1)); err != nil || m.Name != "Tea House" {
		t.Errorf("registry merchant = %+v, %v", m, err)
	}
	// The code in the response activates the terminal: its verifier is what the registry holds.
	act, err := e.activate(t, "SN-0001", res.ActivationCode)
	if err != nil {
		t.Fatalf("activation with the issued code: %v", err)
	}
	got, err := e.c.GetTerminal(ctx, tid(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != adminapi.StatusActive || got.Keys.TMKKCV != act.KCV.String() || got.Keys.PIKKCV != "" {
		t.Errorf("activated terminal = status %s keys %+v, want active with TMK KCV %s", got.Status, got.Keys, act.KCV)
	}

	// A second terminal of the now existing merchant: merchant fields are ignored (not even
	// validated: no settlement account), no code without an SN.
	partial := &adminapi.NewMerchant{Name: "Other", MCC: "5812"}
	res2, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid(2), MID: mid(1), Merchant: partial})
	if err != nil {
		t.Fatalf("CreateTerminal 2: %v", err)
	}
	if res2.MerchantCreated || res2.ActivationCode != "" || res2.ExpiresAt != nil || res2.Terminal.SN != "" {
		t.Errorf("second terminal response = %+v", res2)
	}
	if m, _ := e.store.GetMerchant(ctx, mid(1)); m.Name != "Tea House" {
		t.Errorf("existing merchant renamed to %q", m.Name)
	}

	conflicts := []struct {
		name     string
		req      adminapi.CreateTerminalRequest
		status   int
		sentinel error
	}{
		{"duplicate TID", adminapi.CreateTerminalRequest{TID: tid(1), MID: mid(1), SN: "SN-NEW"}, 409, adminapi.ErrExists},
		{"duplicate SN", adminapi.CreateTerminalRequest{TID: tid(3), MID: mid(1), SN: "SN-0001"}, 409, adminapi.ErrSNBound},
		{"unknown merchant", adminapi.CreateTerminalRequest{TID: tid(4), MID: mid(77)}, 404, adminapi.ErrNotFound},
	}
	for _, tc := range conflicts {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.CreateTerminal(ctx, tc.req)
			wantAPIError(t, err, tc.status, tc.sentinel)
		})
	}
	if _, err := e.store.GetTerminal(ctx, tid(3)); !errors.Is(err, terminal.ErrNotFound) {
		t.Errorf("terminal of a refused create exists: %v", err)
	}
}

func testCreateValidation(t *testing.T, e *env) {
	ctx := ctxT(t)
	good := func() adminapi.CreateTerminalRequest {
		return adminapi.CreateTerminalRequest{TID: tid(1), MID: mid(1), SN: "SN1", Merchant: merchantFields("A")}
	}
	tests := []struct {
		name  string
		edit  func(*adminapi.CreateTerminalRequest)
		field string
	}{
		{"TID too long", func(r *adminapi.CreateTerminalRequest) { r.TID = "123456789" }, "tid"},
		{"TID with brace", func(r *adminapi.CreateTerminalRequest) { r.TID = "1234567{" }, "tid"},
		{"MID short", func(r *adminapi.CreateTerminalRequest) { r.MID = "123" }, "mid"},
		{"SN with space", func(r *adminapi.CreateTerminalRequest) { r.SN = "SN 1" }, "sn"},
		{"device type", func(r *adminapi.CreateTerminalRequest) { r.DeviceType = "123" }, "device_type"},
		{"operators", func(r *adminapi.CreateTerminalRequest) { r.Operators = []string{"1"} }, "operators"},
		{"MAC algorithm", func(r *adminapi.CreateTerminalRequest) { r.MACAlgorithm = "cbc" }, "mac_algorithm"},
		{"target version", func(r *adminapi.CreateTerminalRequest) { r.TargetVersion = "123456789" }, "target_version"},
		{"negative TTL", func(r *adminapi.CreateTerminalRequest) { r.CodeTTLSeconds = -1 }, "ttl_seconds"},
		{"TTL over 90 days", func(r *adminapi.CreateTerminalRequest) { r.CodeTTLSeconds = 91 * 86400 }, "ttl_seconds"},
		{"merchant MCC", func(r *adminapi.CreateTerminalRequest) { r.Merchant.MCC = "1" }, "mcc"},
		{"merchant with a bad MCC", func(r *adminapi.CreateTerminalRequest) { r.Merchant.MCC = "58A2" }, "mcc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.edit(&r)
			_, err := e.c.CreateTerminal(ctx, r)
			ae := wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid)
			if ae.Field != tc.field {
				t.Errorf("field = %q, want %q (message %q)", ae.Field, tc.field, ae.Message)
			}
		})
	}
	// Nothing was written by the refused requests, merchant included.
	if _, err := e.store.GetMerchant(ctx, mid(1)); !errors.Is(err, terminal.ErrNotFound) {
		t.Errorf("merchant of refused requests: %v", err)
	}

	big := `{"tid":"` + strings.Repeat("x", 70<<10) + `"}`
	raw := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"unknown field", "application/json", `{"tid":"T0000001","mid":"M00000000000001","colour":"red"}`, 400, adminapi.CodeBadRequest},
		{"malformed JSON", "application/json", `{"tid":`, 400, adminapi.CodeBadRequest},
		{"two objects", "application/json", `{} {}`, 400, adminapi.CodeBadRequest},
		{"empty body", "application/json", ``, 400, adminapi.CodeBadRequest},
		{"wrong type", "application/json", `{"tid":8}`, 400, adminapi.CodeInvalid},
		{"not JSON", "text/plain", `tid=T0000001`, 415, adminapi.CodeUnsupportedMedia},
		{"too large", "application/json", big, 413, adminapi.CodeTooLarge},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.raw(t, http.MethodPost, adminapi.PathTerminals, tc.contentType, tc.body)
			if status != tc.status || h.Get("Content-Type") != "application/json" ||
				!strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Errorf("got %d %s %s, want %d code %s", status, h.Get("Content-Type"), body, tc.status, tc.code)
			}
			if strings.Contains(string(body), "red") || strings.Contains(string(body), "xxxx") {
				t.Errorf("error body echoes the request: %s", body)
			}
		})
	}
}

func testActivationCodes(t *testing.T, e *env) {
	ctx := ctxT(t)
	first, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{
		TID: tid(1), MID: mid(1), SN: "SN-A", Merchant: merchantFields("A"), CodeTTLSeconds: 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(*first.ExpiresAt); d > time.Hour || d < 59*time.Minute {
		t.Errorf("code TTL = %v, want 1h", d)
	}
	again, err := e.c.IssueActivationCode(ctx, tid(1), 2*time.Hour)
	if err != nil {
		t.Fatalf("IssueActivationCode: %v", err)
	}
	if again.TID != tid(1) || again.SN != "SN-A" || again.ActivationCode == "" || again.ActivationCode == first.ActivationCode {
		t.Fatalf("re-issued code: tid %s sn %s new %v", again.TID, again.SN, again.ActivationCode != first.ActivationCode)
	}
	if d := time.Until(again.ExpiresAt); d > 2*time.Hour || d < 119*time.Minute {
		t.Errorf("re-issued code TTL = %v, want 2h", d)
	}
	// Re-issuing revoked the first code: the stored verifier is the new code's only.
	if _, err := e.activate(t, "SN-A", first.ActivationCode); !errors.Is(err, hsm.ErrProof) {
		t.Fatalf("activation with the revoked code: %v, want hsm.ErrProof", err)
	}
	if _, err := e.activate(t, "SN-A", again.ActivationCode); err != nil {
		t.Fatalf("activation with the re-issued code: %v", err)
	}

	// The code is returned once: no other response or log line holds it.
	status, h, body := e.raw(t, http.MethodPost, adminapi.PathTerminals+"/"+tid(1)+"/activation-code", "", "")
	if status != http.StatusCreated || h.Get("Cache-Control") != "no-store" {
		t.Errorf("issue without body: %d, Cache-Control %q", status, h.Get("Cache-Control"))
	}
	codes := []string{first.ActivationCode, again.ActivationCode, string(body[strings.Index(string(body), `"activation_code":"`)+19:][:24])}
	for _, path := range []string{adminapi.PathTerminals + "/" + tid(1), adminapi.PathTerminals + "?sn=SN-A", adminapi.PathTerminals} {
		_, _, b := e.raw(t, http.MethodGet, path, "", "")
		for _, c := range codes {
			if strings.Contains(string(b), c) || strings.Contains(string(b), strings.ReplaceAll(c, "-", "")) {
				t.Errorf("GET %s returns an activation code", path)
			}
		}
	}
	logs := e.logText()
	for _, c := range append(codes, e.token) {
		if strings.Contains(logs, c) || strings.Contains(logs, strings.ReplaceAll(c, "-", "")) {
			t.Errorf("a log line holds an activation code or the token:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "admin request") {
		t.Errorf("no access log lines:\n%s", logs)
	}

	// Refusals: no SN bound, blocked, bad TTL, unknown terminal.
	if _, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid(2), MID: mid(1)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.IssueActivationCode(ctx, tid(2), 0)
	wantAPIError(t, err, http.StatusConflict, adminapi.ErrNoSN)
	if _, err := e.c.Block(ctx, tid(1), adminapi.ReasonLost); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.IssueActivationCode(ctx, tid(1), 0)
	wantAPIError(t, err, http.StatusConflict, adminapi.ErrBlocked)
	_, err = e.c.IssueActivationCode(ctx, tid(2), 100*24*time.Hour)
	wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid)
	_, err = e.c.IssueActivationCode(ctx, tid(9), 0)
	wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)
}

// testUnlockActivation: an SN delayed by wrong proofs may present its code again after an
// operator's unlock; the answer shows the code's state, never the code.
func testUnlockActivation(t *testing.T, e *env) {
	ctx := ctxT(t)
	res, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid(1), MID: mid(1), SN: "SN-U", Merchant: merchantFields("U")})
	if err != nil {
		t.Fatal(err)
	}
	for range terminal.FreeProofs + 1 {
		if _, err := e.store.ClaimProof(ctx, "SN-U"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.GetActivationCode(ctx, "SN-U"); !errors.Is(err, terminal.ErrLocked) {
		t.Fatalf("after %d proofs: %v, want ErrLocked", terminal.FreeProofs+1, err)
	}
	a, err := e.c.UnlockActivation(ctx, tid(1))
	if err != nil || a.TID != tid(1) || a.SN != "SN-U" || a.Proofs != 0 || a.LockedUntil != nil || a.Spent {
		t.Fatalf("UnlockActivation = %+v, %v", a, err)
	}
	if _, err := e.activate(t, "SN-U", res.ActivationCode); err != nil {
		t.Errorf("activation after unlock: %v", err)
	}
	_, err = e.c.UnlockActivation(ctx, tid(2))
	wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)
}

func testBlock(t *testing.T, e *env) {
	ctx := ctxT(t)
	res, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid(1), MID: mid(1), SN: "SN-B", Merchant: merchantFields("B")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason string
		want   terminal.BlockReason
	}{{adminapi.ReasonLost, terminal.ReasonLost}, {adminapi.ReasonStolen, terminal.ReasonStolen}, {adminapi.ReasonOther, terminal.ReasonOther}} {
		v, err := e.c.Block(ctx, tid(1), tc.reason)
		if err != nil {
			t.Fatalf("Block %s: %v", tc.reason, err)
		}
		stored, _ := e.store.GetTerminal(ctx, tid(1))
		if v.Status != adminapi.StatusBlocked || v.BlockReason != tc.reason ||
			stored.Status != terminal.StatusBlocked || stored.BlockReason != tc.want {
			t.Errorf("after block %s: view %s/%s, registry %v/%v", tc.reason, v.Status, v.BlockReason, stored.Status, stored.BlockReason)
		}
	}
	for _, bad := range []string{"", "broken", "LOST"} {
		_, err := e.c.Block(ctx, tid(1), bad)
		if ae := wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid); ae.Field != "reason" {
			t.Errorf("block %q: field %q", bad, ae.Field)
		}
	}
	v, err := e.c.Unblock(ctx, tid(1))
	if err != nil || v.Status != adminapi.StatusPending || v.BlockReason != "" {
		t.Fatalf("Unblock never-activated terminal = %s %q, %v; want pending", v.Status, v.BlockReason, err)
	}
	if _, err := e.activate(t, "SN-B", res.ActivationCode); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Block(ctx, tid(1), adminapi.ReasonStolen); err != nil {
		t.Fatal(err)
	}
	v, err = e.c.Unblock(ctx, tid(1))
	if stored, _ := e.store.GetTerminal(ctx, tid(1)); err != nil || v.Status != adminapi.StatusActive || stored.Status != terminal.StatusActive {
		t.Errorf("Unblock activated terminal = %s (registry %v), %v; want active", v.Status, stored.Status, err)
	}
}

func testResignSoftware(t *testing.T, e *env) {
	ctx := ctxT(t)
	if _, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: tid(1), MID: mid(1), SN: "SN-R", Merchant: merchantFields("R")}); err != nil {
		t.Fatal(err)
	}
	before, _ := e.store.GetTerminal(ctx, tid(1))
	v, err := e.c.ForceSignOn(ctx, tid(1))
	if err != nil || !v.ForceSignOn {
		t.Fatalf("ForceSignOn = %v, %v", v.ForceSignOn, err)
	}
	stored, _ := e.store.GetTerminal(ctx, tid(1))
	if !stored.ForceSignOn || stored.Revision <= before.Revision {
		t.Errorf("registry: ForceSignOn %v revision %d→%d", stored.ForceSignOn, before.Revision, stored.Revision)
	}
	if v, err := e.c.ForceSignOn(ctx, tid(1)); err != nil || !v.ForceSignOn || v.Revision != stored.Revision {
		t.Errorf("second ForceSignOn = %v rev %d, %v; want a no-op", v.ForceSignOn, v.Revision, err)
	}

	v, err = e.c.SetTargetVersion(ctx, tid(1), "V2.1.0")
	if err != nil || v.TargetVersion != "V2.1.0" || !v.NeedsSoftwareUpdate {
		t.Fatalf("SetTargetVersion = %q needs update %v, %v", v.TargetVersion, v.NeedsSoftwareUpdate, err)
	}
	if stored, _ := e.store.GetTerminal(ctx, tid(1)); stored.TargetVersion != "V2.1.0" || !stored.ForceSignOn {
		t.Errorf("registry target %q force %v", stored.TargetVersion, stored.ForceSignOn)
	}
	_, err = e.c.SetTargetVersion(ctx, tid(1), "123456789")
	if ae := wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid); ae.Field != "target_version" {
		t.Errorf("field %q", ae.Field)
	}
	if v, err := e.c.SetTargetVersion(ctx, tid(1), ""); err != nil || v.TargetVersion != "" || v.NeedsSoftwareUpdate {
		t.Errorf("clearing the target = %q, %v", v.TargetVersion, err)
	}
	if stored, _ := e.store.GetTerminal(ctx, tid(1)); stored.TargetVersion != "" {
		t.Errorf("registry target %q after clearing", stored.TargetVersion)
	}
	status, _, body := e.raw(t, http.MethodPost, adminapi.PathTerminals+"/"+tid(1)+"/software", "application/json", `{"target":"1"}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), `unknown field \"target\"`) {
		t.Errorf("software with an unknown field: %d %s", status, body)
	}
}

func testListTerminals(t *testing.T, e *env) {
	ctx := ctxT(t)
	// Merchant 1: terminals 1-5; merchant 2: 6-7. Terminal 2 blocked.
	for i := 1; i <= 7; i++ {
		m := mid(1)
		if i > 5 {
			m = mid(2)
		}
		if _, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{
			TID: tid(i), MID: m, SN: "SN-L" + string(rune('0'+i)), Merchant: merchantFields("L"),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.Block(ctx, tid(2), adminapi.ReasonOther); err != nil {
		t.Fatal(err)
	}
	all := func(q adminapi.ListTerminalsRequest) []string {
		t.Helper()
		var ids []string
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("pagination does not end")
			}
			l, err := e.c.ListTerminals(ctx, q)
			if err != nil {
				t.Fatalf("ListTerminals(%+v): %v", q, err)
			}
			if q.Limit > 0 && len(l.Terminals) > q.Limit {
				t.Fatalf("page of %d, limit %d", len(l.Terminals), q.Limit)
			}
			for _, v := range l.Terminals {
				ids = append(ids, v.TID)
			}
			if l.Next == "" {
				return ids
			}
			q.After = l.Next
		}
	}
	tests := []struct {
		name string
		q    adminapi.ListTerminalsRequest
		want []int
	}{
		{"all, pages of 2", adminapi.ListTerminalsRequest{Limit: 2}, []int{1, 2, 3, 4, 5, 6, 7}},
		{"all, default page", adminapi.ListTerminalsRequest{}, []int{1, 2, 3, 4, 5, 6, 7}},
		{"by MID", adminapi.ListTerminalsRequest{MID: mid(2), Limit: 1}, []int{6, 7}},
		{"by status", adminapi.ListTerminalsRequest{Status: adminapi.StatusBlocked}, []int{2}},
		{"by MID and status", adminapi.ListTerminalsRequest{MID: mid(1), Status: adminapi.StatusPending, Limit: 3}, []int{1, 3, 4, 5}},
		{"by SN", adminapi.ListTerminalsRequest{SN: "SN-L4"}, []int{4}},
		{"by unknown SN", adminapi.ListTerminalsRequest{SN: "SN-NONE"}, nil},
		{"by SN, other MID", adminapi.ListTerminalsRequest{SN: "SN-L4", MID: mid(2)}, nil},
		{"by TID", adminapi.ListTerminalsRequest{TID: tid(6)}, []int{6}},
		{"by TID and SN of another", adminapi.ListTerminalsRequest{TID: tid(6), SN: "SN-L4"}, nil},
		{"by unknown TID", adminapi.ListTerminalsRequest{TID: tid(9)}, nil},
		{"after", adminapi.ListTerminalsRequest{After: tid(5)}, []int{6, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, n := range tc.want {
				want = append(want, tid(n))
			}
			if got := all(tc.q); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	var iterated []string
	for v, err := range e.c.AllTerminals(ctx, adminapi.ListTerminalsRequest{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		iterated = append(iterated, v.TID)
	}
	if len(iterated) != 7 {
		t.Errorf("AllTerminals yielded %v", iterated)
	}

	bad := []struct {
		name, query string
		code        string
	}{
		{"bad status", "status=lost", adminapi.CodeInvalid},
		{"bad MID", "mid=short", adminapi.CodeInvalid},
		{"bad SN", "sn=a%20b", adminapi.CodeInvalid},
		{"bad TID", "tid=T1", adminapi.CodeInvalid},
		{"bad limit", "limit=ten", adminapi.CodeInvalid},
		{"negative limit", "limit=-1", adminapi.CodeInvalid},
		{"unknown parameter", "stauts=active", adminapi.CodeBadRequest},
		{"repeated parameter", "mid=" + mid(1) + "&mid=" + mid(2), adminapi.CodeInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := e.raw(t, http.MethodGet, adminapi.PathTerminals+"?"+tc.query, "", "")
			if status != http.StatusBadRequest || !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Errorf("got %d %s, want 400 %s", status, body, tc.code)
			}
		})
	}
}

func testUnknownTerminal(t *testing.T, e *env) {
	ctx := ctxT(t)
	calls := map[string]func() error{
		"get":      func() error { _, err := e.c.GetTerminal(ctx, tid(9)); return err },
		"block":    func() error { _, err := e.c.Block(ctx, tid(9), adminapi.ReasonLost); return err },
		"unblock":  func() error { _, err := e.c.Unblock(ctx, tid(9)); return err },
		"resign":   func() error { _, err := e.c.ForceSignOn(ctx, tid(9)); return err },
		"software": func() error { _, err := e.c.SetTargetVersion(ctx, tid(9), "1"); return err },
		"code":     func() error { _, err := e.c.IssueActivationCode(ctx, tid(9), 0); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ae := wantAPIError(t, call(), http.StatusNotFound, adminapi.ErrNotFound)
			if !strings.Contains(ae.Message, tid(9)) {
				t.Errorf("message %q does not name the terminal", ae.Message)
			}
		})
	}
	_, err := e.c.GetTerminal(ctx, "bad")
	wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid)
}

// testEscapedIDs uses identifiers with '/', '?', '%', '#' and spaces, all legal ans characters.
func testEscapedIDs(t *testing.T, e *env) {
	ctx := ctxT(t)
	const (
		oddTID = "T/1?%# A"
		oddMID = "M/../?%#x 12345"
	)
	if _, err := e.c.CreateTerminal(ctx, adminapi.CreateTerminalRequest{TID: oddTID, MID: oddMID, SN: "S/N?1", Merchant: merchantFields("Odd")}); err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	if v, err := e.c.GetTerminal(ctx, oddTID); err != nil || v.TID != oddTID || v.MID != oddMID {
		t.Errorf("GetTerminal = %q %q, %v", v.TID, v.MID, err)
	}
	if m, err := e.c.GetMerchant(ctx, oddMID); err != nil || m.MID != oddMID {
		t.Errorf("GetMerchant = %q, %v", m.MID, err)
	}
	if v, err := e.c.Block(ctx, oddTID, adminapi.ReasonLost); err != nil || v.Status != adminapi.StatusBlocked {
		t.Errorf("Block = %s, %v", v.Status, err)
	}
	if l, err := e.c.ListTerminals(ctx, adminapi.ListTerminalsRequest{SN: "S/N?1", MID: oddMID}); err != nil || len(l.Terminals) != 1 {
		t.Errorf("ListTerminals by SN = %+v, %v", l, err)
	}
}
