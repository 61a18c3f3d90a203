package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/app"
)

// A purchase the issuer does not answer owes a reversal: /v1/reversals lists it as pending
// while the issuer drops answers, and as delivered, with the issuer's answer, once one answers.
func TestReversalsAPIEndToEnd(t *testing.T) {
	zpk := randomKey(t)
	dir := t.TempDir()
	e := startNode(t, "", func(c *app.Config) {
		c.DataDir = dir
		c.AdminListen = "127.0.0.1:0"
		c.RoutesFile = routesFile(t, 300*time.Millisecond)
		c.SimDrop = 1
		c.ZPK = map[string][]byte{"*": zpk}
	})
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	api := adminapi.Client{BaseURL: "http://" + e.node.AdminAddr().String(), Token: strings.TrimSpace(string(tok))}
	list := func(req adminapi.ReversalsRequest) adminapi.ReversalList {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := api.Reversals(ctx, req)
		if err != nil {
			t.Fatalf("Reversals: %v", err)
		}
		return l
	}

	term := e.ready(testTID, testSN, nil)
	p, err := term.Purchase(e.ctx, card(), 4321)
	declined(t, "purchase the issuer does not answer", p, err, "98")
	eventually(t, "the reversal to reach the issuer", func() bool { return e.ledger().Reversals.Count >= 1 })
	l := list(adminapi.ReversalsRequest{TID: testTID})
	if len(l.Delivered) != 0 || len(l.Pending) != 1 {
		t.Fatalf("while the issuer drops answers: %+v", l)
	}
	if r := l.Pending[0]; r.TID != testTID || r.AmountFen != 4321 || r.Reason != "98" || r.QueuedAt.IsZero() || r.Original.STAN == 0 {
		t.Errorf("pending reversal %+v", r)
	}

	e.replaceSimulator(zpk)
	eventually(t, "the reversal to be acknowledged", func() bool { return e.reversalDepth() == 0 })

	l = list(adminapi.ReversalsRequest{TID: testTID, Since: time.Now().Add(-time.Hour)})
	if len(l.Pending) != 0 || len(l.Delivered) != 1 {
		t.Fatalf("after delivery: %+v", l)
	}
	d := l.Delivered[0]
	if d.TID != testTID || d.AmountFen != 4321 || d.ResponseCode != "00" || d.MTI != "0430" || d.Attempts < 2 ||
		d.DeliveredAt.Before(d.QueuedAt) {
		t.Errorf("delivered reversal %+v", d)
	}
	if l := list(adminapi.ReversalsRequest{Txn: d.ID[:len(d.ID)-2]}); len(l.Delivered) != 1 {
		t.Errorf("by transaction id prefix: %+v", l)
	}
	if l := list(adminapi.ReversalsRequest{TID: "TERM0002"}); len(l.Delivered)+len(l.Pending) != 0 {
		t.Errorf("another terminal's reversals: %+v", l)
	}
}
