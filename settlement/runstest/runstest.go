// Package runstest is the contract every settlement.RunStore passes.
package runstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posgate/posgate/journal"
	"github.com/posgate/posgate/settlement"
)

// Run runs the contract against stores made by newStore (a fresh, empty store per call).
func Run(t *testing.T, newStore func(t *testing.T) settlement.RunStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	base := settlement.RunRecord{BusinessDate: "2026-03-01", Node: "n1", StartedAt: t0}

	t.Run("claim finish rerun", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, journal.NewDate(2026, 3, 1)); !errors.Is(err, settlement.ErrNoRun) {
			t.Fatalf("Get before any run: %v", err)
		}
		cur, prev, err := s.Begin(ctx, base, false, time.Hour)
		if err != nil || cur.Run != 1 || cur.State != settlement.StateRunning || prev != nil {
			t.Fatalf("Begin: %+v %+v %v", cur, prev, err)
		}
		other := base
		other.StartedAt = t0.Add(time.Minute)
		if _, _, err := s.Begin(ctx, other, true, time.Hour); !errors.Is(err, settlement.ErrRunInProgress) {
			t.Fatalf("second Begin while running: %v", err)
		}
		cur.State, cur.SettledRun, cur.SummarySHA256 = settlement.StateFinished, 1, "abc"
		if err := s.Finish(ctx, cur); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Begin(ctx, other, false, time.Hour); !errors.Is(err, settlement.ErrAlreadySettled) {
			t.Fatalf("Begin after finish without rerun: %v", err)
		}
		re, prev, err := s.Begin(ctx, other, true, time.Hour)
		if err != nil || re.Run != 2 || !re.Rerun || prev == nil || prev.SummarySHA256 != "abc" {
			t.Fatalf("rerun Begin: %+v %+v %v", re, prev, err)
		}
		re.State = settlement.StateFailed
		if err := s.Finish(ctx, re); err != nil {
			t.Fatal(err)
		}
		// A failed re-run does not make the date look unpaid.
		if _, _, err := s.Begin(ctx, other, false, time.Hour); !errors.Is(err, settlement.ErrAlreadySettled) {
			t.Fatalf("Begin after a failed re-run: %v", err)
		}
		got, err := s.Get(ctx, journal.NewDate(2026, 3, 1))
		if err != nil || got.Run != 2 || got.State != settlement.StateFailed || got.SettledRun != 1 {
			t.Fatalf("Get: %+v %v", got, err)
		}
	})
	t.Run("stale claim is taken over", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Begin(ctx, base, false, time.Hour); err != nil {
			t.Fatal(err)
		}
		later := base
		later.StartedAt = t0.Add(2 * time.Hour)
		cur, _, err := s.Begin(ctx, later, false, time.Hour)
		if err != nil || cur.Run != 2 {
			t.Fatalf("take over: %+v %v", cur, err)
		}
	})
	t.Run("a superseded claim cannot write", func(t *testing.T) {
		s := newStore(t)
		slow, _, err := s.Begin(ctx, base, false, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		later := base
		later.StartedAt, later.Node = t0.Add(2*time.Hour), "n2"
		fast, _, err := s.Begin(ctx, later, false, time.Hour)
		if err != nil {
			t.Fatalf("take over: %v", err)
		}
		// The run that outlived its claim can neither commit nor finish.
		commit := slow
		commit.State, commit.PublishingAt = settlement.StatePublishing, t0.Add(3*time.Hour)
		if _, err := s.Update(ctx, commit); !errors.Is(err, settlement.ErrSuperseded) {
			t.Fatalf("Update of a superseded claim: %v", err)
		}
		slow.State = settlement.StateFinished
		if err := s.Finish(ctx, slow); !errors.Is(err, settlement.ErrSuperseded) {
			t.Fatalf("Finish of a superseded claim: %v", err)
		}
		// The holder commits; while it publishes nobody else may claim the date, until
		// the commit itself goes stale.
		fast.State, fast.PublishingAt = settlement.StatePublishing, t0.Add(3*time.Hour)
		fast, err = s.Update(ctx, fast)
		if err != nil {
			t.Fatalf("Update by the holder: %v", err)
		}
		third := base
		third.StartedAt = t0.Add(3*time.Hour + 30*time.Minute) // 1.5 h after the start, 30 min after the commit
		if _, _, err := s.Begin(ctx, third, false, time.Hour); !errors.Is(err, settlement.ErrRunInProgress) {
			t.Fatalf("Begin while publishing: %v", err)
		}
		fast.State, fast.SettledRun = settlement.StateFinished, fast.Run
		if err := s.Finish(ctx, fast); err != nil {
			t.Fatalf("Finish by the holder: %v", err)
		}
		got, err := s.Get(ctx, journal.NewDate(2026, 3, 1))
		if err != nil || got.Node != "n2" || got.State != settlement.StateFinished {
			t.Fatalf("Get: %+v %v", got, err)
		}
	})
	t.Run("list latest first", func(t *testing.T) {
		s := newStore(t)
		for _, d := range []string{"2026-03-01", "2026-03-03", "2026-03-02"} {
			r := base
			r.BusinessDate = d
			if _, _, err := s.Begin(ctx, r, false, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		l, err := s.List(ctx)
		if err != nil || len(l) != 3 || l[0].BusinessDate != "2026-03-03" || l[2].BusinessDate != "2026-03-01" {
			t.Fatalf("List: %+v %v", l, err)
		}
	})
}
