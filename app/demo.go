package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/terminal"
)

// Demo identities seeded into an empty embedded registry.
const (
	DemoMID      = "898310048160000"
	demoFile     = "demo-terminals.csv"
	demoSNPrefix = "000002021DEMO"
)

// seedDemo creates, in an empty registry, one demo merchant and n demo terminals bound to SNs
// with fresh activation codes, and writes DATA/demo-terminals.csv (mode 0600: the codes are
// secrets) so a terminal or the simulator can activate at once. A registry that holds anything
// is left alone.
func (n *Node) seedDemo(ctx context.Context, count int) error {
	if count <= 0 {
		return nil
	}
	page, err := n.Registry.ListMerchants(ctx, terminal.Page{Limit: 1})
	if err != nil {
		return err
	}
	if len(page.Merchants) > 0 {
		return nil
	}
	if _, err := n.Registry.CreateMerchant(ctx, terminal.Merchant{MID: DemoMID, Name: "posgate demo shop", MCC: "5812",
		City: "SHANGHAI"}); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("tid,mid,sn,activation_code\n")
	for i := 1; i <= count; i++ {
		tid, sn := fmt.Sprintf("DEMO%04d", i), fmt.Sprintf("%s%05d", demoSNPrefix, i)
		if _, err := n.Registry.CreateTerminal(ctx, terminal.Terminal{TID: tid, MID: DemoMID, SN: sn}); err != nil {
			return err
		}
		code, err := n.HSM.NewActivationCode(ctx)
		if err != nil {
			return err
		}
		if _, err := n.Registry.IssueActivationCode(ctx, tid, code.Verifier, 0); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", tid, DemoMID, sn, code.Code)
	}
	path := filepath.Join(n.cfg.DataDir, demoFile)
	if err := securefile.Replace(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	n.log.Info("seeded demo terminals; their activation codes are in the file", zap.Int("terminals", count),
		zap.String("merchant", DemoMID), zap.String("file", path))
	return nil
}
