package settlement

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/posgate/posgate/journal"
)

// Run states.
const (
	StateRunning = "running"
	// StatePublishing: the run committed its files and is moving them into place; no other
	// run may claim the date until it finishes (or the claim goes stale).
	StatePublishing = "publishing"
	StateFinished   = "finished"
	StateFailed     = "failed"
)

// RunRecord is what a RunStore keeps about the latest run of a business date.
type RunRecord struct {
	// BusinessDate is YYYY-MM-DD.
	BusinessDate string `json:"business_date"`
	// Run numbers the runs of the date: 1, then 2, 3 … for re-runs.
	Run   int    `json:"run"`
	State string `json:"state"`
	// Open marks a run made before the cut-off (--allow-open): provisional, it never counts
	// as the date's settlement.
	Open bool `json:"open,omitempty"`
	// Rerun marks a run made over a finished one.
	Rerun bool `json:"rerun,omitempty"`
	// SettledRun is the number of the date's first finished final run (0: none yet). It is
	// carried into every later record so that a failed re-run cannot make the date look
	// unpaid.
	SettledRun int `json:"settled_run,omitempty"`
	// Identical, on a re-run, tells whether every file is byte-identical to the previous
	// finished run's.
	Identical *bool     `json:"identical,omitempty"`
	Node      string    `json:"node,omitempty"`
	Dir       string    `json:"dir,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// PublishingAt is when the run committed to publish (StatePublishing).
	PublishingAt time.Time `json:"publishing_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	Error        string    `json:"error,omitempty"`
	// Summary is the run's summary.json (finished runs).
	Summary *Summary `json:"summary,omitempty"`
	// SummarySHA256 is the hex SHA-256 of summary.json.
	SummarySHA256 string `json:"summary_sha256,omitempty"`
	// Revision is the store's version of the record, set by Begin and Update: a run holds its
	// claim only while the stored record is still at this revision.
	Revision uint64 `json:"-"`
}

// inProgress reports whether the record is a run that has not ended.
func (r *RunRecord) inProgress() bool { return r.State == StateRunning || r.State == StatePublishing }

// lastActive is when the run last showed progress: its start, or its commit to publish.
func (r *RunRecord) lastActive() time.Time {
	if r.PublishingAt.After(r.StartedAt) {
		return r.PublishingAt
	}
	return r.StartedAt
}

// settled reports whether the record stands for a finished, final settlement.
func (r *RunRecord) settled() bool { return r.State == StateFinished && !r.Open }

// RunStore keeps one RunRecord per business date. Implementations: MemRuns (one process)
// and settlement/kvruns (a JetStream key-value bucket shared by all nodes and the CLI).
type RunStore interface {
	// Begin claims d for a new run, storing rec (State running) and returning it numbered
	// (see Claim), with the record it replaced if any. It fails with ErrAlreadySettled when d has a finished
	// final run and rerun is false, and with ErrRunInProgress when another run claimed d less
	// than staleAfter before rec.StartedAt. Begin is atomic across processes.
	Begin(ctx context.Context, rec RunRecord, rerun bool, staleAfter time.Duration) (cur RunRecord, prev *RunRecord, err error)
	// Update replaces the record of rec.BusinessDate by rec if the stored record is still at
	// rec.Revision — the caller's claim stands — and returns it with its new revision;
	// ErrSuperseded when another run claimed the date meanwhile. Atomic across processes.
	Update(ctx context.Context, rec RunRecord) (RunRecord, error)
	// Finish replaces the record by rec (finished or failed) under the same compare-and-set
	// as Update.
	Finish(ctx context.Context, rec RunRecord) error
	// Get returns the record of d; ErrNoRun if there is none.
	Get(ctx context.Context, d journal.Date) (RunRecord, error)
	// List returns every record, latest business date first.
	List(ctx context.Context) ([]RunRecord, error)
}

// Claim is the decision Begin implementations share: given the stored record (nil if
// none), may a new run start? It returns the numbered record to store.
func Claim(stored *RunRecord, rec RunRecord, rerun bool, staleAfter time.Duration) (RunRecord, error) {
	rec.State, rec.Run = StateRunning, 1
	if stored == nil {
		return rec, nil
	}
	rec.Run = stored.Run + 1
	rec.SettledRun = stored.SettledRun
	if rec.SettledRun == 0 && stored.settled() {
		rec.SettledRun = stored.Run
	}
	switch {
	case stored.inProgress() && rec.StartedAt.Sub(stored.lastActive()) < staleAfter:
		return rec, ErrRunInProgress
	case rec.SettledRun > 0 && !rerun:
		return rec, ErrAlreadySettled
	case rec.SettledRun > 0:
		rec.Rerun = true
	}
	return rec, nil
}

// MemRuns is a RunStore in memory (tests, single process). The zero value is ready.
type MemRuns struct {
	mu   sync.Mutex
	runs map[string]RunRecord
	rev  uint64
}

// Begin implements RunStore.
func (m *MemRuns) Begin(_ context.Context, rec RunRecord, rerun bool, staleAfter time.Duration) (RunRecord, *RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs == nil {
		m.runs = map[string]RunRecord{}
	}
	var stored *RunRecord
	if s, ok := m.runs[rec.BusinessDate]; ok {
		stored = &s
	}
	cur, err := Claim(stored, rec, rerun, staleAfter)
	if err != nil {
		return cur, stored, err
	}
	m.rev++
	cur.Revision = m.rev
	m.runs[rec.BusinessDate] = cur
	return cur, stored, nil
}

// Update implements RunStore.
func (m *MemRuns) Update(_ context.Context, rec RunRecord) (RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.runs[rec.BusinessDate]; !ok || s.Revision != rec.Revision {
		return rec, ErrSuperseded
	}
	m.rev++
	rec.Revision = m.rev
	m.runs[rec.BusinessDate] = rec
	return rec, nil
}

// Finish implements RunStore.
func (m *MemRuns) Finish(ctx context.Context, rec RunRecord) error {
	_, err := m.Update(ctx, rec)
	return err
}

// Get implements RunStore.
func (m *MemRuns) Get(_ context.Context, d journal.Date) (RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[isoDate(d)]
	if !ok {
		return RunRecord{}, ErrNoRun
	}
	return r, nil
}

// List implements RunStore.
func (m *MemRuns) List(context.Context) ([]RunRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]RunRecord, 0, len(m.runs))
	for _, r := range m.runs {
		out = append(out, r)
	}
	SortRuns(out)
	return out, nil
}

// SortRuns orders records latest business date first.
func SortRuns(rs []RunRecord) {
	slices.SortFunc(rs, func(a, b RunRecord) int {
		switch {
		case a.BusinessDate > b.BusinessDate:
			return -1
		case a.BusinessDate < b.BusinessDate:
			return 1
		}
		return 0
	})
}

// isoDate formats d as YYYY-MM-DD.
func isoDate(d journal.Date) string {
	return d.Start(time.UTC).Format(time.DateOnly)
}

// ParseDate parses YYYY-MM-DD (or the compact YYYYMMDD) into a business date.
func ParseDate(s string) (journal.Date, error) {
	if len(s) == 10 {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return journal.Date{}, journal.ErrInvalidDate
		}
		return journal.DateOf(t), nil
	}
	return journal.ParseDate(s)
}
