package admin_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/admin"
	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
)

// fakeSettlement serves one finished run of 2026-03-14 with files in a directory.
type fakeSettlement struct{ out string }

var settledDate = journal.NewDate(2026, time.March, 14)

func (f fakeSettlement) Runs(ctx context.Context) ([]settlement.RunRecord, error) {
	r, _ := f.Run(ctx, settledDate)
	return []settlement.RunRecord{r}, nil
}

func (f fakeSettlement) Run(_ context.Context, d journal.Date) (settlement.RunRecord, error) {
	if d != settledDate {
		return settlement.RunRecord{}, settlement.ErrNoRun
	}
	return settlement.RunRecord{BusinessDate: "2026-03-14", Run: 1, SettledRun: 1, State: settlement.StateFinished,
		StartedAt: time.Date(2026, 3, 15, 0, 5, 0, 0, time.UTC), FinishedAt: time.Date(2026, 3, 15, 0, 6, 0, 0, time.UTC),
		Summary: &settlement.Summary{BusinessDate: "2026-03-14", GrossFen: 100, FeesFen: 1, NetFen: 99,
			Files: []settlement.FileInfo{{Name: settlement.FileMerchants, SHA256: "ab", Bytes: 3, Rows: 1}}}}, nil
}

func (f fakeSettlement) OpenFile(_ context.Context, d journal.Date, name string) (io.ReadSeekCloser, error) {
	return settlement.OpenFile(f.out, d.String(), name)
}

func TestSettlementRuns(t *testing.T) {
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "20260314"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "20260314", settlement.FileMerchants), []byte("a,b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, memStore(t), func(c *admin.Config) { c.Settlement = fakeSettlement{out} })
	ctx := ctxT(t)
	l, err := e.c.ListSettlementRuns(ctx)
	if err != nil || len(l.Runs) != 1 || l.Runs[0].Summary.NetFen != 99 || l.Runs[0].Summary.Files[0].SHA256 != "ab" {
		t.Fatalf("ListSettlementRuns: %+v, %v", l, err)
	}
	r, err := e.c.GetSettlementRun(ctx, "2026-03-14")
	if err != nil || r.State != "finished" || r.FinishedAt != "2026-03-15T00:06:00Z" {
		t.Fatalf("GetSettlementRun: %+v, %v", r, err)
	}
	_, err = e.c.GetSettlementRun(ctx, "2026-03-13")
	wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)
	_, err = e.c.GetSettlementRun(ctx, "yesterday")
	wantAPIError(t, err, http.StatusBadRequest, adminapi.ErrInvalid)
	var buf bytes.Buffer
	if err := e.c.SettlementFile(ctx, "2026-03-14", settlement.FileMerchants, &buf); err != nil || buf.String() != "a,b\n" {
		t.Fatalf("SettlementFile: %q, %v", buf.String(), err)
	}
	for _, name := range []string{settlement.FileBatches, "..%2Fsecret", "registry.json"} {
		err := e.c.SettlementFile(ctx, "2026-03-14", name, io.Discard)
		wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)
	}
	if st, _, _ := e.raw(t, http.MethodGet, adminapi.PathSettlementRuns, "", "", ""); st != http.StatusUnauthorized {
		t.Errorf("without token: %d", st)
	}
}

func TestSettlementNotConfigured(t *testing.T) {
	e := newEnv(t, memStore(t), nil)
	_, err := e.c.ListSettlementRuns(ctxT(t))
	wantAPIError(t, err, http.StatusNotFound, adminapi.ErrNotFound)
}
