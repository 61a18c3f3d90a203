package admin

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
)

// Settlement is what the admin API needs of settlement: the run records and the files of
// runs made on this node. Config.Settlement nil answers 404 on the settlement paths.
type Settlement interface {
	Runs(ctx context.Context) ([]settlement.RunRecord, error)
	Run(ctx context.Context, d journal.Date) (settlement.RunRecord, error)
	// OpenFile opens file name (one of settlement.Files) of d's run; an error wrapping
	// fs.ErrNotExist when this node does not have it.
	OpenFile(ctx context.Context, d journal.Date, name string) (io.ReadSeekCloser, error)
}

// settlementRoutes registers the settlement endpoints.
func (s *Server) settlementRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+adminapi.PathSettlementRuns, s.api(s.listSettlementRuns))
	m.HandleFunc("GET "+adminapi.PathSettlementRuns+"/{date}", s.api(s.getSettlementRun))
	m.HandleFunc("GET "+adminapi.PathSettlementRuns+"/{date}/files/{name}", s.api(s.settlementFile))
}

func (s *Server) settlementService() (Settlement, error) {
	if s.cfg.Settlement == nil {
		return nil, badRequest(adminapi.CodeNotFound, "settlement is not configured on this node")
	}
	return s.cfg.Settlement, nil
}

// listSettlementRuns: GET /v1/settlement/runs.
func (s *Server) listSettlementRuns(w http.ResponseWriter, r *http.Request) error {
	st, err := s.settlementService()
	if err != nil {
		return err
	}
	runs, err := st.Runs(r.Context())
	if err != nil {
		return err
	}
	out := adminapi.SettlementRunList{Runs: make([]adminapi.SettlementRun, 0, len(runs))}
	for _, rr := range runs {
		out.Runs = append(out.Runs, settlementRunView(rr))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func settlementDate(r *http.Request) (journal.Date, error) {
	d, err := settlement.ParseDate(r.PathValue("date"))
	if err != nil {
		return d, invalidField("date", "want YYYY-MM-DD")
	}
	return d, nil
}

// getSettlementRun: GET /v1/settlement/runs/{date}.
func (s *Server) getSettlementRun(w http.ResponseWriter, r *http.Request) error {
	st, err := s.settlementService()
	if err != nil {
		return err
	}
	d, err := settlementDate(r)
	if err != nil {
		return err
	}
	rr, err := st.Run(r.Context(), d)
	if errors.Is(err, settlement.ErrNoRun) {
		return badRequest(adminapi.CodeNotFound, "no settlement run for this date")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settlementRunView(rr))
	return nil
}

// settlementFile: GET /v1/settlement/runs/{date}/files/{name}.
func (s *Server) settlementFile(w http.ResponseWriter, r *http.Request) error {
	st, err := s.settlementService()
	if err != nil {
		return err
	}
	d, err := settlementDate(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if !settlement.IsFile(name) {
		return badRequest(adminapi.CodeNotFound, "no such settlement file")
	}
	f, err := st.OpenFile(r.Context(), d, name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, settlement.ErrBadFile) {
		return badRequest(adminapi.CodeNotFound, "settlement file not on this node")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	ct := "text/csv; charset=utf-8"
	if strings.HasSuffix(name, ".json") {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+d.String()+"-"+name+`"`)
	http.ServeContent(w, r, name, time.Time{}, f)
	return nil
}

func settlementRunView(r settlement.RunRecord) adminapi.SettlementRun {
	v := adminapi.SettlementRun{BusinessDate: r.BusinessDate, Run: r.Run, SettledRun: r.SettledRun, State: r.State,
		Open: r.Open, Rerun: r.Rerun, Identical: r.Identical, Node: r.Node, Dir: r.Dir,
		StartedAt: r.StartedAt.Format(time.RFC3339), Error: r.Error, SummarySHA256: r.SummarySHA256}
	if !r.FinishedAt.IsZero() {
		v.FinishedAt = r.FinishedAt.Format(time.RFC3339)
	}
	if sm := r.Summary; sm != nil {
		v.Summary = &adminapi.SettlementSummary{BusinessDate: sm.BusinessDate, CutOff: sm.CutOff, Records: sm.Records,
			Duplicates: sm.Duplicates, Transactions: sm.Transactions, Settled: sm.Settled, Deducted: sm.Deducted,
			Excluded: sm.Excluded, GrossFen: sm.GrossFen, RefundsFen: sm.RefundsFen, FeesFen: sm.FeesFen,
			NetFen: sm.NetFen, Merchants: sm.Merchants, UnknownMerchants: sm.UnknownMerchants,
			NegativeMerchants: sm.NegativeMerchants, Batches: sm.Batches, BatchesNotBalanced: sm.BatchesNotBalanced,
			BatchDifferences: sm.BatchDifferences}
		for _, f := range sm.Files {
			v.Summary.Files = append(v.Summary.Files, adminapi.SettlementFileInfo(f))
		}
	}
	return v
}
