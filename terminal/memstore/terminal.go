package memstore

import (
	"context"
	"errors"
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
	err := s.write(func() (*entry, error) {
		if _, ok := s.terminals[t.TID]; ok {
			return nil, terminal.NewRecordError(terminal.KindTerminal, t.TID, terminal.ErrExists)
		}
		if _, ok := s.merchants[t.MID]; !ok {
			return nil, notFound(terminal.KindMerchant, t.MID)
		}
		if t.SN != "" {
			if holder, ok := s.sns[t.SN]; ok {
				return nil, &terminal.SNBoundError{SN: t.SN, TID: holder}
			}
		}
		now := s.now()
		t.CreatedAt, t.UpdatedAt, t.Revision = now, now, 1
		return &entry{Terminal: &t}, nil
	})
	if err != nil {
		return terminal.Terminal{}, err
	}
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
	return s.update(in.TID, func(t *terminal.Terminal, _ *entry) (bool, error) {
		if t.Revision != in.Revision {
			return false, terminal.NewRecordError(terminal.KindTerminal, in.TID, terminal.ErrConflict)
		}
		if in.MID != t.MID {
			if _, ok := s.merchants[in.MID]; !ok {
				return false, notFound(terminal.KindMerchant, in.MID)
			}
			t.MID = in.MID // apply moves it in the merchant index
		}
		t.DeviceType, t.Legacy, t.Operators, t.MACAlgorithm = in.DeviceType, in.Legacy, ops, mac
		t.TargetVersion, t.ForceSignOn = in.TargetVersion, in.ForceSignOn
		s.touch(t)
		return true, nil
	})
}

// touch records a profile change in the new version t of a record.
func (s *Store) touch(t *terminal.Terminal) {
	t.UpdatedAt = s.now()
	t.Revision++
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
	return s.update(tid, func(t *terminal.Terminal, e *entry) (bool, error) {
		if t.SN == sn {
			return false, nil
		}
		if holder, ok := s.sns[sn]; ok {
			return false, &terminal.SNBoundError{SN: sn, TID: holder}
		}
		s.replaceDevice(t, e)
		t.SN = sn
		s.touch(t)
		return true, nil
	})
}

// UnbindSN implements terminal.Store.
func (s *Store) UnbindSN(_ context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	return s.update(tid, func(t *terminal.Terminal, e *entry) (bool, error) {
		if t.SN == "" {
			return false, nil
		}
		s.replaceDevice(t, e)
		s.touch(t)
		return true, nil
	})
}

// replaceDevice releases the SN of the new version t of a record and everything tied to the
// device: its activation code (dropped by e) and keys. An active terminal goes back to pending;
// a blocked one stays blocked.
func (s *Store) replaceDevice(t *terminal.Terminal, e *entry) {
	if t.SN != "" {
		if _, ok := s.codes[t.TID]; ok {
			e.DropCode = t.TID
		}
		t.SN = "" // apply releases it in the SN index
	}
	t.Keys, t.SignOnSeq = terminal.Keys{}, 0
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
	return s.update(tid, func(t *terminal.Terminal, _ *entry) (bool, error) {
		if t.Status == terminal.StatusBlocked && t.BlockReason == reason {
			return false, nil
		}
		t.Status, t.BlockReason = terminal.StatusBlocked, reason
		s.touch(t)
		return true, nil
	})
}

// Unblock implements terminal.Store.
func (s *Store) Unblock(_ context.Context, tid string) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	return s.update(tid, func(t *terminal.Terminal, _ *entry) (bool, error) {
		if t.Status != terminal.StatusBlocked {
			return false, nil
		}
		t.Status, t.BlockReason = terminal.StatusPending, terminal.ReasonNone
		if !t.Keys.TMK.IsZero() {
			t.Status = terminal.StatusActive
		}
		s.touch(t)
		return true, nil
	})
}

// update runs modify and returns a copy of the resulting record.
func (s *Store) update(tid string, fn func(t *terminal.Terminal, e *entry) (bool, error)) (terminal.Terminal, error) {
	t, err := s.modify(tid, fn)
	if err != nil {
		return terminal.Terminal{}, err
	}
	return t.Clone(), nil
}

// modify runs fn under the write lock on a new version of terminal tid (a shallow copy: slices
// are shared with the installed version, so fn replaces them and never writes into them). fn
// reports whether it changed anything and may add to the log entry e; a change is logged and
// installed. modify returns the record now installed, which nobody modifies any more, so the
// caller may read it without the lock.
func (s *Store) modify(tid string, fn func(t *terminal.Terminal, e *entry) (bool, error)) (*terminal.Terminal, error) {
	var out *terminal.Terminal
	err := s.write(func() (*entry, error) {
		cur, ok := s.terminals[tid]
		if !ok {
			return nil, notFound(terminal.KindTerminal, tid)
		}
		t := *cur
		e := &entry{Terminal: &t}
		changed, err := fn(&t, e)
		if err != nil {
			return nil, err
		}
		if !changed {
			out = cur
			return nil, nil
		}
		out = &t
		return e, nil
	})
	return out, err
}

// RotateKeys implements terminal.Store.
func (s *Store) RotateKeys(_ context.Context, tid string, generation uint64, keys terminal.Keys, seq uint64) (terminal.Terminal, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidWorkingKeys(keys); err != nil {
		return terminal.Terminal{}, err
	}
	own := (&terminal.Terminal{Keys: keys}).Clone().Keys
	return s.update(tid, func(t *terminal.Terminal, _ *entry) (bool, error) {
		if err := t.CanTransact(); err != nil {
			return false, err
		}
		if t.KeyGeneration != generation {
			return false, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrConflict)
		}
		if !terminal.SignOnFresh(seq, t.SignOnSeq) {
			return false, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrStale)
		}
		t.Keys.PIK, t.Keys.MAK, t.Keys.TDK = own.PIK, own.MAK, own.TDK
		t.SignOnSeq = seq
		t.KeyGeneration++
		t.ForceSignOn = false
		t.LastSignOn = s.now()
		return true, nil
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
	_, err := s.modify(tid, func(t *terminal.Terminal, _ *entry) (bool, error) {
		batch = t.Batch
		if t.Batch != from {
			return false, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrConflict)
		}
		t.Batch = from.Next()
		batch = t.Batch
		return true, nil
	})
	if err != nil && !errors.Is(err, terminal.ErrConflict) {
		return 0, err
	}
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
	_, err := s.modify(tid, func(t *terminal.Terminal, _ *entry) (bool, error) {
		t.LastSeen = s.now()
		if softwareVersion != "" {
			t.SoftwareVersion = softwareVersion
		}
		return true, nil
	})
	return err
}
