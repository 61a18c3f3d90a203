package admin

import (
	"net/http"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/terminal"
)

// newMerchant builds the registry record of a merchant to create.
func newMerchant(mid string, m adminapi.NewMerchant) terminal.Merchant {
	return terminal.Merchant{
		MID: mid, Name: m.Name, MCC: m.MCC, City: m.City, FeePlan: m.FeePlan,
		SettlementAccount: m.SettlementAccount,
	}
}

// createMerchant: POST /v1/merchants.
func (s *Server) createMerchant(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.CreateMerchantRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	auditDetail(r, "mid", req.MID)
	m := newMerchant(req.MID, req.NewMerchant)
	if err := m.Validate(); err != nil {
		return err
	}
	created, err := s.reg.CreateMerchant(r.Context(), m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, merchantView(created))
	return nil
}

// getMerchant: GET /v1/merchants/{mid}.
func (s *Server) getMerchant(w http.ResponseWriter, r *http.Request) error {
	m, err := s.reg.GetMerchant(r.Context(), r.PathValue("mid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, merchantView(m))
	return nil
}

// listMerchants: GET /v1/merchants?after=&limit=.
func (s *Server) listMerchants(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "after", "limit")
	if err != nil {
		return err
	}
	page, err := pageOf(q)
	if err != nil {
		return err
	}
	if _, err := page.Normalize(); err != nil {
		return err
	}
	res, err := s.reg.ListMerchants(r.Context(), page)
	if err != nil {
		return err
	}
	out := adminapi.MerchantList{Merchants: make([]adminapi.Merchant, 0, len(res.Merchants)), Next: res.Next}
	for _, m := range res.Merchants {
		out.Merchants = append(out.Merchants, merchantView(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
