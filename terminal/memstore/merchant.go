package memstore

import (
	"context"

	"github.com/posgate/posgate/terminal"
)

// CreateMerchant implements terminal.Store.
func (s *Store) CreateMerchant(_ context.Context, m terminal.Merchant) (terminal.Merchant, error) {
	if err := m.Validate(); err != nil {
		return terminal.Merchant{}, err
	}
	rec := m
	err := s.write(func() (*entry, error) {
		if _, ok := s.merchants[rec.MID]; ok {
			return nil, terminal.NewRecordError(terminal.KindMerchant, rec.MID, terminal.ErrExists)
		}
		now := s.now()
		rec.CreatedAt, rec.UpdatedAt, rec.Revision = now, now, 1
		return &entry{Merchant: &rec}, nil
	})
	if err != nil {
		return terminal.Merchant{}, err
	}
	return rec, nil
}

// GetMerchant implements terminal.Store.
func (s *Store) GetMerchant(_ context.Context, mid string) (terminal.Merchant, error) {
	if err := terminal.ValidMID(mid); err != nil {
		return terminal.Merchant{}, err
	}
	if err := s.rlock(); err != nil {
		return terminal.Merchant{}, err
	}
	defer s.mu.RUnlock()
	m, ok := s.merchants[mid]
	if !ok {
		return terminal.Merchant{}, notFound(terminal.KindMerchant, mid)
	}
	return *m, nil
}

// UpdateMerchant implements terminal.Store.
func (s *Store) UpdateMerchant(_ context.Context, m terminal.Merchant) (terminal.Merchant, error) {
	if err := m.Validate(); err != nil {
		return terminal.Merchant{}, err
	}
	rec := m
	err := s.write(func() (*entry, error) {
		cur, ok := s.merchants[rec.MID]
		if !ok {
			return nil, notFound(terminal.KindMerchant, rec.MID)
		}
		if cur.Revision != rec.Revision {
			return nil, terminal.NewRecordError(terminal.KindMerchant, rec.MID, terminal.ErrConflict)
		}
		rec.CreatedAt, rec.UpdatedAt, rec.Revision = cur.CreatedAt, s.now(), cur.Revision+1
		return &entry{Merchant: &rec}, nil
	})
	if err != nil {
		return terminal.Merchant{}, err
	}
	return rec, nil
}

// ListMerchants implements terminal.Store.
func (s *Store) ListMerchants(_ context.Context, q terminal.Page) (terminal.MerchantPage, error) {
	limit, err := q.Normalize()
	if err != nil {
		return terminal.MerchantPage{}, err
	}
	if err := s.rlock(); err != nil {
		return terminal.MerchantPage{}, err
	}
	defer s.mu.RUnlock()
	var p terminal.MerchantPage
	i := after(s.mids, q.After)
	for ; i < len(s.mids) && len(p.Merchants) < limit; i++ {
		p.Merchants = append(p.Merchants, *s.merchants[s.mids[i]])
	}
	if i < len(s.mids) && len(p.Merchants) > 0 {
		p.Next = p.Merchants[len(p.Merchants)-1].MID
	}
	return p, nil
}
