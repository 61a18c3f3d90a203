package admin

import (
	_ "embed"
	"net/http"
)

// PathDashboard is the operations dashboard: a self-contained page (no token needed to load it,
// none of it is data) that polls /v1/stats with the token the operator enters, kept only in the
// browser tab's session storage.
const PathDashboard = "/"

//go:embed dashboard.html
var dashboardHTML []byte

func (s *Server) dashboardRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
		h.Set("X-Frame-Options", "DENY")
		_, _ = w.Write(dashboardHTML)
	})
	if s.cfg.Stats != nil {
		m.HandleFunc("GET /v1/stats", s.api(s.stats))
	}
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.cfg.Stats(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
