package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/adminapi"
)

// authenticate requires a valid bearer token on every path but the probes and the dashboard
// page, and puts its principal in the request's context. Unknown paths are refused too, so the
// API's routes are not discoverable without a token.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == adminapi.PathHealth || r.URL.Path == adminapi.PathReady || r.URL.Path == PathDashboard {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := s.identify(r.Header.Get("Authorization"))
		if !ok {
			s.writeError(w, r, badRequest(adminapi.CodeUnauthorized, "missing or invalid bearer token"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// route dispatches to the mux, answering unknown routes and wrong methods with a JSON error
// instead of the mux's plain-text one, and checks the principal's role for the route.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch {
		case probe.status == http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.writeError(w, r, badRequest(adminapi.CodeMethod, "method "+r.Method+" not allowed"))
			return
		case probe.status >= 300 && probe.status < 400: // the mux's redirect to a clean path
			s.mux.ServeHTTP(w, r)
			return
		default:
			s.writeError(w, r, badRequest(adminapi.CodeNotFound, "no such endpoint"))
			return
		}
	}
	s.serveAuthorized(w, r, pattern, http.HandlerFunc(s.mux.ServeHTTP))
}

// statusProbe records the status a mux fallback handler would send, and discards its body.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// accessLog logs one line per request: method, path, status, size, duration and peer. It never
// logs headers (the token), query strings or bodies (activation codes). Probes and scrapes log
// at debug level.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := zap.InfoLevel
		switch r.URL.Path {
		case adminapi.PathHealth, adminapi.PathReady, adminapi.PathMetrics, adminapi.PathStats:
			level = zap.DebugLevel
		}
		if ce := s.log.Check(level, "admin request"); ce != nil {
			ce.Write(zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Int("status", rec.status), zap.Int64("bytes", rec.bytes),
				zap.Duration("duration", time.Since(start)), zap.String("remote", r.RemoteAddr))
		}
	})
}

// recorder captures the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// recoverPanics turns a handler panic into a 500 and a log line with the stack, instead of a
// dropped connection. http.ErrAbortHandler is re-raised, as net/http expects.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("admin handler panic", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.String("panic", fmt.Sprintf("%T", v)), zap.Stack("stack"))
			writeJSON(w, http.StatusInternalServerError, adminapi.ErrorBody{Error: "internal error", Code: adminapi.CodeInternal})
		}()
		next.ServeHTTP(w, r)
	})
}
