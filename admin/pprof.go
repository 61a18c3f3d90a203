package admin

import (
	"net/http"
	"net/http/pprof"
)

// PathPprof is the Go runtime profiler, behind the admin token like every data endpoint: it is
// how an operator finds what bounds a node (go tool pprof -http : with the bearer header).
const PathPprof = "/debug/pprof/"

func (s *Server) pprofRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+PathPprof, pprof.Index)
	m.HandleFunc("GET "+PathPprof+"cmdline", pprof.Cmdline)
	m.HandleFunc("GET "+PathPprof+"profile", pprof.Profile)
	m.HandleFunc("GET "+PathPprof+"symbol", pprof.Symbol)
	m.HandleFunc("GET "+PathPprof+"trace", pprof.Trace)
}
