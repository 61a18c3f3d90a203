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
	if err := s.lock(); err != nil {
		return terminal.Merchant{}, err
	}
	defer s.mu.Unlock()
	if _, ok := s.merchants[m.MID]; ok {
		return terminal.Merchant{}, terminal.NewRecordError(terminal.KindMerchant, m.MID, terminal.ErrExists)
	}
	now := s.now()
	m.CreatedAt, m.UpdatedAt, m.Revision = now, now, 1
	s.merchants[m.MID] = &m
	s.mids = insertSorted(s.mids, m.MID)
	s.changed()
	return m, nil
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
	if err := s.lock(); err != nil {
		return terminal.Merchant{}, err
	}
	defer s.mu.Unlock()
	cur, ok := s.merchants[m.MID]
	if !ok {
		return terminal.Merchant{}, notFound(terminal.KindMerchant, m.MID)
	}
	if cur.Revision != m.Revision {
		return terminal.Merchant{}, terminal.NewRecordError(terminal.KindMerchant, m.MID, terminal.ErrConflict)
	}
	m.CreatedAt, m.UpdatedAt, m.Revision = cur.CreatedAt, s.now(), cur.Revision+1
	*cur = m
	s.changed()
	return m, nil
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
