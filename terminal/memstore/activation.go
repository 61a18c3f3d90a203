package memstore

import (
	"context"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// IssueActivationCode implements terminal.Store.
func (s *Store) IssueActivationCode(_ context.Context, tid string, verifier hsm.WrappedKey, ttl time.Duration) (terminal.ActivationCode, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.ActivationCode{}, err
	}
	if err := terminal.ValidVerifier(verifier); err != nil {
		return terminal.ActivationCode{}, err
	}
	ttl, err := terminal.CodeTTL(ttl)
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	var c *terminal.ActivationCode
	err = s.write(func() (*entry, error) {
		t, ok := s.terminals[tid]
		if !ok {
			return nil, notFound(terminal.KindTerminal, tid)
		}
		if t.SN == "" {
			return nil, terminal.NewRecordError(terminal.KindTerminal, tid, terminal.ErrNoSN)
		}
		if t.Status == terminal.StatusBlocked {
			return nil, &terminal.StatusError{TID: tid, Status: t.Status, Reason: t.BlockReason}
		}
		now := s.now()
		c = &terminal.ActivationCode{
			TID: tid, SN: t.SN,
			Verifier: hsm.WrappedKey{Type: verifier.Type, KCV: verifier.KCV, Cipher: append([]byte(nil), verifier.Cipher...)},
			IssuedAt: now, ExpiresAt: now.Add(ttl),
		}
		return &entry{Code: c}, nil
	})
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	return copyCode(c), nil
}

// code returns the code issued to sn while sn is still bound; called with a lock held.
func (s *Store) code(sn string) (*terminal.ActivationCode, *terminal.Terminal, error) {
	tid, ok := s.sns[sn]
	if !ok {
		return nil, nil, notFound(terminal.KindSN, sn)
	}
	c, ok := s.codes[tid]
	if !ok || c.SN != sn {
		return nil, nil, notFound(terminal.KindActivationCode, sn)
	}
	return c, s.terminals[tid], nil
}

// GetActivationCode implements terminal.Store.
func (s *Store) GetActivationCode(_ context.Context, sn string) (terminal.ActivationCode, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.ActivationCode{}, err
	}
	if err := s.rlock(); err != nil {
		return terminal.ActivationCode{}, err
	}
	defer s.mu.RUnlock()
	c, _, err := s.code(sn)
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	if err := c.Usable(s.now()); err != nil {
		return terminal.ActivationCode{}, err
	}
	return copyCode(c), nil
}

// ClaimProof implements terminal.Store.
func (s *Store) ClaimProof(_ context.Context, sn string) (terminal.ActivationCode, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.ActivationCode{}, err
	}
	var next terminal.ActivationCode
	err := s.write(func() (*entry, error) {
		c, _, err := s.code(sn)
		if err != nil {
			return nil, err
		}
		now := s.now()
		if err := c.Usable(now); err != nil {
			return nil, err
		}
		next = c.Claimed(now) // the verifier's cipher is shared: no version is ever modified
		return &entry{Code: &next}, nil
	})
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	return copyCode(&next), nil
}

// UnlockActivation implements terminal.Store.
func (s *Store) UnlockActivation(_ context.Context, tid string) (terminal.ActivationCode, error) {
	if err := terminal.ValidTID(tid); err != nil {
		return terminal.ActivationCode{}, err
	}
	var next terminal.ActivationCode
	err := s.write(func() (*entry, error) {
		c, ok := s.codes[tid]
		if !ok {
			return nil, notFound(terminal.KindActivationCode, tid)
		}
		next = *c
		next.WrongProofs, next.LockedUntil = 0, time.Time{}
		return &entry{Code: &next}, nil
	})
	if err != nil {
		return terminal.ActivationCode{}, err
	}
	return copyCode(&next), nil
}

// Activate implements terminal.Store.
func (s *Store) Activate(_ context.Context, sn string, verifier, tmk hsm.WrappedKey) (terminal.Terminal, error) {
	if err := terminal.ValidSN(sn); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidVerifier(verifier); err != nil {
		return terminal.Terminal{}, err
	}
	if err := terminal.ValidTMK(tmk); err != nil {
		return terminal.Terminal{}, err
	}
	var t terminal.Terminal
	err := s.write(func() (*entry, error) {
		c, cur, err := s.code(sn)
		if err != nil {
			return nil, err
		}
		now := s.now()
		if err := c.Spendable(now); err != nil {
			return nil, err
		}
		if !c.Verifier.Equal(verifier) {
			return nil, terminal.NewRecordError(terminal.KindActivationCode, sn, terminal.ErrConflict)
		}
		if cur.Status == terminal.StatusBlocked {
			return nil, &terminal.StatusError{TID: cur.TID, Status: cur.Status, Reason: cur.BlockReason}
		}
		// The spent code stays (a retried activation gets ErrCodeSpent): one line holds both.
		spent := *c
		spent.SpentAt, spent.WrongProofs, spent.LockedUntil = now, 0, time.Time{}
		t = *cur
		t.Keys = terminal.Keys{TMK: hsm.WrappedKey{Type: tmk.Type, KCV: tmk.KCV, Cipher: append([]byte(nil), tmk.Cipher...)}}
		t.SignOnSeq = 0
		t.Status, t.BlockReason = terminal.StatusActive, terminal.ReasonNone
		s.touch(&t)
		return &entry{Terminal: &t, Code: &spent}, nil
	})
	if err != nil {
		return terminal.Terminal{}, err
	}
	return t.Clone(), nil
}

func copyCode(c *terminal.ActivationCode) terminal.ActivationCode {
	out := *c
	out.Verifier.Cipher = append([]byte(nil), c.Verifier.Cipher...)
	return out
}
