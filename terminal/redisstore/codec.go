package redisstore

import (
	"errors"
	"strconv"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// Hash field names. Terminal hash: see docs/terminal.md.
const (
	fTID, fMID, fSN, fDevice         = "tid", "mid", "sn", "dev"
	fStatus, fReason, fLegacy, fOps  = "st", "rsn", "legacy", "ops"
	fMAC, fTMK, fPIK, fMAK, fTDK     = "mac", "tmk", "pik", "mak", "tdk"
	fKeyGen, fBatch, fSWV, fSWTarget = "kgen", "batch", "swv", "swt"
	fForce, fSeen, fSignOn           = "force", "seen", "signon"
	fSignOnSeq                       = "sseq" // absent in records written before it existed: 0
	fCreated, fUpdated, fRev         = "ctime", "mtime", "rev"
	// merchant
	fName, fMCC, fCity, fPlan, fAcct = "name", "mcc", "city", "plan", "acct"
	// activation code
	fVerifier, fIssued, fExpires, fSpent, fWrong = "ver", "iss", "exp", "spent", "wrong"
	fLock                                        = "lock" // absent in codes issued before it existed: 0
)

var errCorrupt = errors.New("redisstore: corrupt record")

// corrupt reports an undecodable field without its value.
func corrupt(kind terminal.Kind, id, field string) error {
	return &terminal.RecordError{Kind: kind, ID: id, Err: errors.Join(errCorrupt, errors.New("field "+field))}
}

func micros(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func parseMicros(s string) (time.Time, bool) {
	if s == "" || s == "0" {
		return time.Time{}, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMicro(n).UTC(), true
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func keyText(k hsm.WrappedKey) (string, error) {
	b, err := k.MarshalText()
	return string(b), err
}

// terminalFields returns the hash of a new terminal as field/value pairs.
func terminalFields(t *terminal.Terminal) ([]any, error) {
	tmk, err := keyText(t.Keys.TMK)
	if err != nil {
		return nil, err
	}
	return []any{
		fTID, t.TID, fMID, t.MID, fSN, t.SN, fDevice, t.DeviceType,
		fStatus, t.Status.String(), fReason, t.BlockReason.String(), fLegacy, flag(t.Legacy),
		fOps, t.Operators.String(), fMAC, t.MACAlgorithm.String(),
		fTMK, tmk, fPIK, "", fMAK, "", fTDK, "",
		fKeyGen, strconv.FormatUint(t.KeyGeneration, 10), fBatch, t.Batch.String(),
		fSWV, t.SoftwareVersion, fSWTarget, t.TargetVersion, fForce, flag(t.ForceSignOn),
		fSeen, micros(t.LastSeen), fSignOn, micros(t.LastSignOn), fSignOnSeq, strconv.FormatUint(t.SignOnSeq, 10),
		fCreated, micros(t.CreatedAt), fUpdated, micros(t.UpdatedAt),
		fRev, strconv.FormatUint(t.Revision, 10),
	}, nil
}

// profileFields returns the fields UpdateTerminal writes.
func profileFields(t *terminal.Terminal) []any {
	return []any{
		fMID, t.MID, fDevice, t.DeviceType, fLegacy, flag(t.Legacy), fOps, t.Operators.String(),
		fMAC, t.MACAlgorithm.String(), fSWTarget, t.TargetVersion, fForce, flag(t.ForceSignOn),
	}
}

// decodeTerminal decodes a terminal hash. Every field must be present.
func decodeTerminal(h map[string]string, t *terminal.Terminal) error {
	id := h[fTID]
	bad := func(f string) error { return corrupt(terminal.KindTerminal, id, f) }
	var ok bool
	var err error
	t.TID, t.MID, t.SN, t.DeviceType = id, h[fMID], h[fSN], h[fDevice]
	if t.Status, err = terminal.ParseStatus(h[fStatus]); err != nil {
		return bad(fStatus)
	}
	if t.BlockReason, err = terminal.ParseBlockReason(h[fReason]); err != nil {
		return bad(fReason)
	}
	t.Legacy, t.ForceSignOn = h[fLegacy] == "1", h[fForce] == "1"
	if t.Operators, err = terminal.ParseOperators(h[fOps]); err != nil {
		return bad(fOps)
	}
	if t.MACAlgorithm, err = hsm.ParseMACAlgorithm(h[fMAC]); err != nil {
		return bad(fMAC)
	}
	for _, k := range []struct {
		f   string
		dst *hsm.WrappedKey
	}{{fTMK, &t.Keys.TMK}, {fPIK, &t.Keys.PIK}, {fMAK, &t.Keys.MAK}, {fTDK, &t.Keys.TDK}} {
		if err := k.dst.UnmarshalText([]byte(h[k.f])); err != nil {
			return bad(k.f)
		}
	}
	if t.KeyGeneration, err = strconv.ParseUint(h[fKeyGen], 10, 64); err != nil {
		return bad(fKeyGen)
	}
	if t.Batch, err = terminal.ParseBatch(h[fBatch]); err != nil {
		return bad(fBatch)
	}
	t.SoftwareVersion, t.TargetVersion = h[fSWV], h[fSWTarget]
	if t.LastSeen, ok = parseMicros(h[fSeen]); !ok {
		return bad(fSeen)
	}
	if t.LastSignOn, ok = parseMicros(h[fSignOn]); !ok {
		return bad(fSignOn)
	}
	t.SignOnSeq = 0
	if v, ok := h[fSignOnSeq]; ok {
		if t.SignOnSeq, err = strconv.ParseUint(v, 10, 64); err != nil {
			return bad(fSignOnSeq)
		}
	}
	if t.CreatedAt, ok = parseMicros(h[fCreated]); !ok {
		return bad(fCreated)
	}
	if t.UpdatedAt, ok = parseMicros(h[fUpdated]); !ok {
		return bad(fUpdated)
	}
	if t.Revision, err = strconv.ParseUint(h[fRev], 10, 64); err != nil {
		return bad(fRev)
	}
	return nil
}

func merchantFields(m *terminal.Merchant) []any {
	return []any{
		fMID, m.MID, fName, m.Name, fMCC, m.MCC, fCity, m.City, fPlan, m.FeePlan, fAcct, m.SettlementAccount,
		fCreated, micros(m.CreatedAt), fUpdated, micros(m.UpdatedAt), fRev, strconv.FormatUint(m.Revision, 10),
	}
}

func decodeMerchant(h map[string]string) (terminal.Merchant, error) {
	m := terminal.Merchant{MID: h[fMID], Name: h[fName], MCC: h[fMCC], City: h[fCity], FeePlan: h[fPlan],
		SettlementAccount: h[fAcct]}
	var ok bool
	var err error
	if m.CreatedAt, ok = parseMicros(h[fCreated]); !ok {
		return m, corrupt(terminal.KindMerchant, m.MID, fCreated)
	}
	if m.UpdatedAt, ok = parseMicros(h[fUpdated]); !ok {
		return m, corrupt(terminal.KindMerchant, m.MID, fUpdated)
	}
	if m.Revision, err = strconv.ParseUint(h[fRev], 10, 64); err != nil {
		return m, corrupt(terminal.KindMerchant, m.MID, fRev)
	}
	return m, nil
}

func decodeCode(h map[string]string) (terminal.ActivationCode, error) {
	c := terminal.ActivationCode{TID: h[fTID], SN: h[fSN]}
	bad := func(f string) error { return corrupt(terminal.KindActivationCode, c.SN, f) }
	if err := c.Verifier.UnmarshalText([]byte(h[fVerifier])); err != nil {
		return c, bad(fVerifier)
	}
	var ok bool
	if c.IssuedAt, ok = parseMicros(h[fIssued]); !ok {
		return c, bad(fIssued)
	}
	if c.ExpiresAt, ok = parseMicros(h[fExpires]); !ok {
		return c, bad(fExpires)
	}
	if c.SpentAt, ok = parseMicros(h[fSpent]); !ok {
		return c, bad(fSpent)
	}
	n, err := strconv.Atoi(h[fWrong])
	if err != nil {
		return c, bad(fWrong)
	}
	c.WrongProofs = n
	if c.LockedUntil, ok = parseMicros(h[fLock]); !ok {
		return c, bad(fLock)
	}
	return c, nil
}

// pairs converts a flat HGETALL reply from a script into a map.
func pairs(v []any) map[string]string {
	h := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		k, _ := v[i].(string)
		val, _ := v[i+1].(string)
		h[k] = val
	}
	return h
}
