package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// maxUpdateAttempts bounds the read-modify-write retries of resign and software when another
// writer changes the terminal in between (terminal.ErrConflict).
const maxUpdateAttempts = 5

// createTerminal: POST /v1/terminals. Everything is validated before anything is written (the
// merchant fields only when the merchant is new). The merchant (if new and described) is created
// first, then the terminal, then — when an SN is bound — its first activation code. A failure
// after a write says what was already done.
func (s *Server) createTerminal(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.CreateTerminalRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	auditDetail(r, "tid", req.TID, "mid", req.MID, "sn", req.SN)
	t := terminal.Terminal{
		TID: req.TID, MID: req.MID, SN: req.SN, DeviceType: req.DeviceType, Legacy: req.Legacy,
		Operators: req.Operators, TargetVersion: req.TargetVersion,
	}
	if req.MACAlgorithm != "" {
		alg, err := hsm.ParseMACAlgorithm(req.MACAlgorithm)
		if err != nil {
			return invalidField("mac_algorithm", "must be pos-ecb or x9.19")
		}
		t.MACAlgorithm = alg
	}
	if err := t.Validate(); err != nil {
		return err
	}
	ttl, err := s.codeTTL(req.CodeTTLSeconds)
	if err != nil {
		return err
	}
	ctx := r.Context()
	resp := adminapi.CreateTerminalResponse{}
	if req.Merchant != nil {
		if resp.MerchantCreated, err = s.ensureMerchant(ctx, newMerchant(req.MID, *req.Merchant)); err != nil {
			return err
		}
	}
	created, err := s.reg.CreateTerminal(ctx, t)
	if err != nil {
		if resp.MerchantCreated {
			return &stepError{done: "merchant " + strconv.Quote(req.MID) + " created", err: err}
		}
		return err
	}
	resp.Terminal = terminalView(created)
	if created.SN != "" {
		code, ac, err := s.issue(ctx, created.TID, ttl)
		if err != nil {
			return &stepError{done: "terminal " + strconv.Quote(created.TID) +
				" created without an activation code (issue one with POST .../activation-code)", err: err}
		}
		resp.ActivationCode, resp.ExpiresAt = code, &ac.ExpiresAt
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// ensureMerchant creates m unless its MID exists; created reports whether this call made it.
// m is validated only when it is to be created: the fields describing an existing merchant are
// ignored, so a bulk import may repeat the merchant's name on every row without its account.
func (s *Server) ensureMerchant(ctx context.Context, m terminal.Merchant) (created bool, err error) {
	_, err = s.reg.GetMerchant(ctx, m.MID)
	if err == nil || !errors.Is(err, terminal.ErrNotFound) {
		return false, err
	}
	if err := m.Validate(); err != nil {
		return false, err
	}
	_, err = s.reg.CreateMerchant(ctx, m)
	if errors.Is(err, terminal.ErrExists) { // a concurrent request created it first
		return false, nil
	}
	return err == nil, err
}

// codeTTL turns a request's TTL in seconds into the registry's TTL (0: Config.CodeTTL).
func (s *Server) codeTTL(seconds int64) (time.Duration, error) {
	if seconds == 0 {
		return s.cfg.CodeTTL, nil
	}
	if seconds < 0 || seconds > int64(terminal.MaxCodeTTL/time.Second) {
		return 0, invalidField("ttl_seconds", "must be between 0 (default) and 7776000 (90 days)")
	}
	return terminal.CodeTTL(time.Duration(seconds) * time.Second)
}

// issue draws a code from the security module and records its verifier for the terminal. The
// code is returned to be sent once; it is never stored or logged.
func (s *Server) issue(ctx context.Context, tid string, ttl time.Duration) (string, terminal.ActivationCode, error) {
	code, err := s.codes.NewActivationCode(ctx)
	if err != nil {
		return "", terminal.ActivationCode{}, err
	}
	ac, err := s.reg.IssueActivationCode(ctx, tid, code.Verifier, ttl)
	if err != nil {
		return "", terminal.ActivationCode{}, err
	}
	return code.Code, ac, nil
}

// getTerminal: GET /v1/terminals/{tid}.
func (s *Server) getTerminal(w http.ResponseWriter, r *http.Request) error {
	t, err := s.reg.GetTerminal(r.Context(), r.PathValue("tid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, terminalView(t))
	return nil
}

// listTerminals: GET /v1/terminals?mid=&status=&sn=&tid=&after=&limit=. sn and tid look one
// terminal up (the other filters still apply); otherwise the registry scans in TID order.
func (s *Server) listTerminals(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "mid", "status", "sn", "tid", "after", "limit")
	if err != nil {
		return err
	}
	page, err := pageOf(q)
	if err != nil {
		return err
	}
	tq := terminal.TerminalQuery{Page: page, MID: q.Get("mid")}
	if st := q.Get("status"); st != "" {
		if tq.Status, err = terminal.ParseStatus(st); err != nil {
			return err
		}
	}
	if err := tq.Validate(); err != nil {
		return err
	}
	out := adminapi.TerminalList{Terminals: []adminapi.Terminal{}}
	ctx := r.Context()
	if sn, tid := q.Get("sn"), q.Get("tid"); sn != "" || tid != "" {
		var t terminal.Terminal
		if tid != "" {
			t, err = s.reg.GetTerminal(ctx, tid)
		} else {
			t, err = s.reg.GetTerminalBySN(ctx, sn)
		}
		switch {
		case errors.Is(err, terminal.ErrNotFound):
		case err != nil:
			return err
		case (sn == "" || t.SN == sn) && tq.Match(&t) && t.TID > tq.After:
			out.Terminals = append(out.Terminals, terminalView(t))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	res, err := s.reg.ListTerminals(ctx, tq)
	if err != nil {
		return err
	}
	for _, t := range res.Terminals {
		out.Terminals = append(out.Terminals, terminalView(t))
	}
	out.Next = res.Next
	writeJSON(w, http.StatusOK, out)
	return nil
}

// issueCode: POST /v1/terminals/{tid}/activation-code. The code is in the response only.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.IssueCodeRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, true); err != nil {
		return err
	}
	ttl, err := s.codeTTL(req.TTLSeconds)
	if err != nil {
		return err
	}
	code, ac, err := s.issue(r.Context(), r.PathValue("tid"), ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, adminapi.ActivationCode{
		TID: ac.TID, SN: ac.SN, ActivationCode: code, ExpiresAt: ac.ExpiresAt,
	})
	return nil
}

// unlockActivation: POST /v1/terminals/{tid}/activation/unlock lifts the SN's proof back-off.
func (s *Server) unlockActivation(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &struct{}{}, true); err != nil {
		return err
	}
	c, err := s.reg.UnlockActivation(r.Context(), r.PathValue("tid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, adminapi.ActivationStatus{
		TID: c.TID, SN: c.SN, Proofs: c.WrongProofs, LockedUntil: optTime(c.LockedUntil),
		ExpiresAt: c.ExpiresAt, Spent: c.Spent(),
	})
	return nil
}

// block: POST /v1/terminals/{tid}/block {"reason": "lost|stolen|other"}.
func (s *Server) block(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.BlockRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	reason, err := terminal.ParseBlockReason(req.Reason)
	if err != nil || reason == terminal.ReasonNone {
		return invalidField("reason", "must be lost, stolen or other")
	}
	auditDetail(r, "reason", req.Reason)
	t, err := s.reg.Block(r.Context(), r.PathValue("tid"), reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, terminalView(t))
	return nil
}

// unblock: POST /v1/terminals/{tid}/unblock.
func (s *Server) unblock(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &struct{}{}, true); err != nil {
		return err
	}
	t, err := s.reg.Unblock(r.Context(), r.PathValue("tid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, terminalView(t))
	return nil
}

// resign: POST /v1/terminals/{tid}/resign sets ForceSignOn; the gateway then sets processing
// requirement 3 in the terminal's next response, and the next sign-on clears the flag.
func (s *Server) resign(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &struct{}{}, true); err != nil {
		return err
	}
	t, err := s.update(r.Context(), r.PathValue("tid"), func(t *terminal.Terminal) bool {
		if t.ForceSignOn {
			return false
		}
		t.ForceSignOn = true
		return true
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, terminalView(t))
	return nil
}

// software: POST /v1/terminals/{tid}/software {"target_version": "..."} ("" clears it).
func (s *Server) software(w http.ResponseWriter, r *http.Request) error {
	var req adminapi.SoftwareRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	if terminal.ValidSoftwareVersion(req.TargetVersion) != nil {
		return invalidField("target_version", "must be printable ASCII of at most 8 characters")
	}
	auditDetail(r, "target_version", req.TargetVersion)
	t, err := s.update(r.Context(), r.PathValue("tid"), func(t *terminal.Terminal) bool {
		if t.TargetVersion == req.TargetVersion {
			return false
		}
		t.TargetVersion = req.TargetVersion
		return true
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, terminalView(t))
	return nil
}

// update reads a terminal, applies change and writes it back with the registry's revision
// check, re-reading and retrying when another writer got in between. change reports whether it
// changed anything; if not, nothing is written.
func (s *Server) update(ctx context.Context, tid string, change func(*terminal.Terminal) bool) (terminal.Terminal, error) {
	for attempt := 1; ; attempt++ {
		t, err := s.reg.GetTerminal(ctx, tid)
		if err != nil || !change(&t) {
			return t, err
		}
		u, err := s.reg.UpdateTerminal(ctx, t)
		if errors.Is(err, terminal.ErrConflict) && attempt < maxUpdateAttempts {
			continue
		}
		return u, err
	}
}

// query returns the request's query parameters, refusing names other than allowed (a typo in
// a filter must not silently list everything) and repeated ones.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest(adminapi.CodeBadRequest, "malformed query string")
	}
	for name, vals := range q {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			if len(name) > 40 {
				name = name[:40] + "…"
			}
			return nil, badRequest(adminapi.CodeBadRequest, "unknown query parameter "+strconv.Quote(name))
		}
		if len(vals) > 1 {
			return nil, invalidField(name, "must be given once")
		}
	}
	return q, nil
}

// pageOf reads the after and limit parameters.
func pageOf(q url.Values) (terminal.Page, error) {
	p := terminal.Page{After: q.Get("after")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return p, invalidField("limit", "must be a number from 0 (default 50) to 1000")
		}
		p.Limit = n
	}
	return p, nil
}
