package memstore

import (
	"context"
	"strings"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// CreateTerminal implements terminal.Store.
func (s *Store) CreateTerminal(_ context.Context, in terminal.Terminal) (terminal.Terminal, error) {
	if err := in.Validate(); err != nil {
		return terminal.Terminal{}, err
	}
	t := terminal.NewRecord(in)
	if err := s.lock(); err != nil {
		return terminal.Terminal{}, err
	}
	defer s.mu.Unlock()
	if _, ok := s.terminals[t.TID]; ok {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindTerminal, t.TID, terminal.ErrExists)
	}
	if _, ok := s.merchants[t.MID]; !ok {
		return terminal.Terminal{}, notFound(terminal.KindMerchant, t.MID)
	}
	if t.SN != "" {
		if holder, ok := s.sns[t.SN]; ok {
			return terminal.Terminal{}, &terminal.SNBoundError{SN: t.SN, TID: holder}
		}
		s.sns[t.SN] = t.TID
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt, t.Revision = now, now, 1
	s.terminals[t.TID] = &t
	s.tids = insertSorted(s.tids, t.TID)
	s.byMID[t.MID] = insertSorted(s.byMID[t.MID], t.TID)
	s.changed()
	return t.Clone(), nil
}

// GetTerminal implements terminal.Store. It returns a deep copy (two allocations at most).
func (s *Store) GetTerminal(_ context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if err := s.rlock(); err != nil {
		return terminal.Terminal{}, err
	}
	t, ok := s.terminals[tid]
	if !ok {
		s.mu.RUnlock()
		return terminal.Terminal{}, notFound(terminal.KindTerminal, tid)
	}
	c := t.Clone()
	s.mu.RUnlock()
	return c, nil
}

// GetTerminalBySN implements terminal.Store.
func (s *Store) GetTerminalBySN(_ context.Context, sn string) (terminal.Terminal, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.Terminal{}, err
	}
	if err := s.rlock(); err != nil {
		return terminal.Terminal{}, err
	}
	defer s.mu.RUnlock()
	tid, ok := s.sns[sn]
	if !ok {
		return terminal.Terminal{}, notFound(terminal.KindSN, sn)
	}
	return s.terminals[tid].Clone(), nil
}

// UpdateTerminal implements terminal.Store.
func (s *Store) UpdateTerminal(_ context.Context, in terminal.Terminal) (terminal.Terminal, error) {
	if err := in.Validate(); err != nil {
		return terminal.Terminal{}, err
	}
	ops, err := terminal.NormalizeOperators(in.Operators)
	if err != nil {
		return terminal.Terminal{}, err
	}
	mac := in.MACAlgorithm
	if mac == 0 {
		mac = hsm.MACPOSECB
	}
	if err := s.lock(); err != nil {
		return terminal.Terminal{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.terminals[in.TID]
	if !ok {
		return terminal.Terminal{}, notFound(terminal.KindTerminal, in.TID)
	}
	if t.Revision != in.Revision {
		return terminal.Terminal{}, terminal.NewRecordError(terminal.KindTerminal, in.TID, terminal.ErrConflict)
	}
	if in.MID != t.MID {
		if _, ok := s.merchants[in.MID]; !ok {
			return terminal.Terminal{}, notFound(terminal.KindMerchant, in.MID)
		}
		s.byMID[t.MID] = removeSorted(s.byMID[t.MID], t.TID)
		s.byMID[in.MID] = insertSorted(s.byMID[in.MID], t.TID)
		t.MID = in.MID
	}
	t.DeviceType, t.Legacy, t.Operators, t.MACAlgorithm = in.DeviceType, in.Legacy, ops, mac
	t.TargetVersion, t.ForceSignOn = in.TargetVersion, in.ForceSignOn
	s.touch(t)
	return t.Clone(), nil
}

// touch records a profile change; called with the write lock held.
func (s *Store) touch(t *terminal.Terminal) {
	t.UpdatedAt = s.now()
	t.Revision++
	s.changed()
}

// ListTerminals implements terminal.Store.
func (s *Store) ListTerminals(_ context.Context, q terminal.TerminalQuery) (terminal.TerminalPage, error) {
	if err := q.Validate(); err != nil {
		return terminal.TerminalPage{}, err
	}
	limit, _ := q.Normalize()
	if err := s.rlock(); err != nil {
		return terminal.TerminalPage{}, err
	}
	defer s.mu.RUnlock()
	index := s.tids
	if q.MID != "" {
		index = s.byMID[q.MID]
	}
	var p terminal.TerminalPage
	i := after(index, q.After)
	for ; i < len(index) && len(p.Terminals) < limit; i++ {
		if t := s.terminals[index[i]]; q.Match(t) {
			p.Terminals = append(p.Terminals, t.Clone())
		}
	}
	if i < len(index) && len(p.Terminals) > 0 {
		p.Next = p.Terminals[len(p.Terminals)-1].TID
	}
	return p, nil
}

// BindSN implements terminal.Store.
func (s *Store) BindSN(_ context.Context, tid, sn string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.Terminal{}, err
	}
	return s.update(tid, func(t *terminal.Terminal) error {
		if t.SN == sn {
			return nil
		}
		if holder, ok := s.sns[sn]; ok {
			return &terminal.SNBoundError{SN: sn, TID: holder}
		}
		s.replaceDevice(t)
		t.SN = sn
		s.sns[sn] = tid
		s.touch(t)
		return nil
	})
}

// UnbindSN implements terminal.Store.
func (s *Store) UnbindSN(_ context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	return s.update(tid, func(t *terminal.Terminal) error {
		if t.SN != "" {
			s.replaceDevice(t)
			s.touch(t)
		}
		return nil
	})
}

// replaceDevice releases t's SN and everything tied to the device: its activation code and
// keys. An active terminal goes back to pending; a blocked one stays blocked.
func (s *Store) replaceDevice(t *terminal.Terminal) {
	if t.SN != "" {
		delete(s.sns, t.SN)
		delete(s.codes, t.TID)
		t.SN = ""
	}
	t.Keys = terminal.Keys{}
	if t.Status == terminal.StatusActive {
		t.Status = terminal.StatusPending
	}
}

// Block implements terminal.Store.
func (s *Store) Block(_ context.Context, tid string, reason terminal.BlockReason) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if reason == terminal.ReasonNone || reason.String() == "unknown" {
		return terminal.Terminal{}, &terminal.FieldError{Field: "BlockReason", Reason: "must be lost, stolen or other"}
	}
	return s.update(tid, func(t *terminal.Terminal) error {
		if t.Status == terminal.StatusBlocked && t.BlockReason == reason {
			return nil
		}
		t.Status, t.BlockReason = terminal.StatusBlocked, reason
		s.touch(t)
		return nil
	})
}

// Unblock implements terminal.Store.
func (s *Store) Unblock(_ context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	return s.update(tid, func(t *terminal.Terminal) error {
		if t.Status != terminal.StatusBlocked {
			return nil
		}
		t.Status, t.BlockReason = terminal.StatusPending, terminal.ReasonNone
		if !t.Keys.TMK.IsZero() {
			t.Status = terminal.StatusActive
		}
		s.touch(t)
		return nil
	})
}

// update runs fn on terminal tid under the write lock and returns a copy of the result.
func (s *Store) update(tid string, fn func(t *terminal.Terminal) error) (terminal.Terminal, error) {
	if err := s.lock(); err != nil {
		return terminal.Terminal{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.terminals[tid]
	if !ok {
		return terminal.Terminal{}, notFound(terminal.KindTerminal, tid)
	}
	if err := fn(t); err != nil {
		return terminal.Terminal{}, err
	}
	return t.Clone(), nil
}

// RotateKeys implements terminal.Store.
func (s *Store) RotateKeys(_ context.Context, tid string, generation uint64, keys terminal.Keys) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidWorkingKeys(keys); err != nil {
		return terminal.Terminal{}, err
	}
	own := (&terminal.Terminal{Keys: keys}).Clone().Keys
	return s.update(tid, func(t *terminal.Terminal) error {
		if err := t.CanTransact(); err != nil {
			return err
		}
		if t.KeyGeneration != generation {
			return terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrConflict)
		}
		t.Keys.PIK, t.Keys.MAK, t.Keys.TDK = own.PIK, own.MAK, own.TDK
		t.KeyGeneration++
		t.ForceSignOn = false
		t.LastSignOn = s.now()
		s.changed()
		return nil
	})
}

// AdvanceBatch implements terminal.Store.
func (s *Store) AdvanceBatch(_ context.Context, tid string, from terminal.Batch) (terminal.Batch, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return 0, err
	}
	if err := from.Validate(); err != nil {
		return 0, err
	}
	var batch terminal.Batch
	_, err := s.update(tid, func(t *terminal.Terminal) error {
		batch = t.Batch
		if t.Batch != from {
			return terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrConflict)
		}
		t.Batch = from.Next()
		batch = t.Batch
		s.changed()
		return nil
	})
	return batch, err
}

// Seen implements terminal.Store.
func (s *Store) Seen(_ context.Context, tid, softwareVersion string) error {
	if err := terminal.ValidTID(tid); err != nil {
		return err
	}
	softwareVersion = strings.TrimRight(softwareVersion, " ")
	if err := terminal.ValidSoftwareVersion(softwareVersion); err != nil {
		return err
	}
	_, err := s.update(tid, func(t *terminal.Terminal) error {
		t.LastSeen = s.now()
		if softwareVersion != "" {
			t.SoftwareVersion = softwareVersion
		}
		s.changed()
		return nil
	})
	return err
}
