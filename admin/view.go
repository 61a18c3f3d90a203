package admin

import (
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// merchantView is a merchant as the API shows it.
func merchantView(m terminal.Merchant) adminapi.Merchant {
	return adminapi.Merchant{
		MID: m.MID, Name: m.Name, MCC: m.MCC, City: m.City, FeePlan: m.FeePlan,
		SettlementAccount: m.SettlementAccount, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		Revision: m.Revision,
	}
}

// terminalView is a terminal as the API shows it: keys only by their KCVs.
func terminalView(t terminal.Terminal) adminapi.Terminal {
	ops := []string(t.Operators)
	if ops == nil {
		ops = []string{}
	}
	return adminapi.Terminal{
		TID: t.TID, MID: t.MID, SN: t.SN, DeviceType: t.DeviceType,
		Status: t.Status.String(), BlockReason: t.BlockReason.String(),
		Legacy: t.Legacy, Operators: ops, MACAlgorithm: t.MACAlgorithm.String(),
		Keys: adminapi.KeyInfo{
			TMKKCV: kcv(t.Keys.TMK), PIKKCV: kcv(t.Keys.PIK), MAKKCV: kcv(t.Keys.MAK), TDKKCV: kcv(t.Keys.TDK),
			Generation: t.KeyGeneration,
		},
		Batch:           t.Batch.String(),
		SoftwareVersion: t.SoftwareVersion, TargetVersion: t.TargetVersion,
		NeedsSoftwareUpdate: t.NeedsSoftwareUpdate(), ForceSignOn: t.ForceSignOn,
		LastSeen: optTime(t.LastSeen), LastSignOn: optTime(t.LastSignOn),
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Revision: t.Revision,
	}
}

func kcv(k hsm.WrappedKey) string {
	if k.IsZero() {
		return ""
	}
	return k.KCV.String()
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
