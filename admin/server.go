package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/posgate/posgate/adminapi"
	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// Registry is the part of terminal.Store the admin API uses; every terminal.Store satisfies it.
type Registry interface {
	CreateMerchant(ctx context.Context, m terminal.Merchant) (terminal.Merchant, error)
	GetMerchant(ctx context.Context, mid string) (terminal.Merchant, error)
	ListMerchants(ctx context.Context, q terminal.Page) (terminal.MerchantPage, error)
	CreateTerminal(ctx context.Context, t terminal.Terminal) (terminal.Terminal, error)
	GetTerminal(ctx context.Context, tid string) (terminal.Terminal, error)
	GetTerminalBySN(ctx context.Context, sn string) (terminal.Terminal, error)
	UpdateTerminal(ctx context.Context, t terminal.Terminal) (terminal.Terminal, error)
	ListTerminals(ctx context.Context, q terminal.TerminalQuery) (terminal.TerminalPage, error)
	Block(ctx context.Context, tid string, reason terminal.BlockReason) (terminal.Terminal, error)
	Unblock(ctx context.Context, tid string) (terminal.Terminal, error)
	IssueActivationCode(ctx context.Context, tid string, verifier hsm.WrappedKey, ttl time.Duration) (terminal.ActivationCode, error)
	UnlockActivation(ctx context.Context, tid string) (terminal.ActivationCode, error)
}

// ActivationCodes draws one-time activation codes; hsm.Module satisfies it.
type ActivationCodes interface {
	NewActivationCode(ctx context.Context) (hsm.ActivationCode, error)
}

// Lifecycle errors.
var (
	// ErrStarted: Start or Serve was called on a server that is already serving.
	ErrStarted = errors.New("admin: server already started")
	// ErrClosed: Start or Serve was called after Shutdown.
	ErrClosed = errors.New("admin: server shut down")
)

// Server is the admin HTTP server. Create it with New.
type Server struct {
	cfg     Config
	reg     Registry
	codes   ActivationCodes
	log     *zap.Logger
	tokens  tokenChecker
	mux     *http.ServeMux
	handler http.Handler

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	started  bool
	closed   bool
	draining bool // set by Shutdown: /readyz answers 503 while in-flight requests finish

	wg           sync.WaitGroup // the serving goroutine
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg and builds a server over reg and codes. log may be nil.
func New(cfg Config, reg Registry, codes ActivationCodes, log *zap.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if reg == nil || codes == nil {
		return nil, &ConfigError{Field: "Registry", Reason: "and ActivationCodes are required"}
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		cfg:    cfg.withDefaults(),
		reg:    reg,
		codes:  codes,
		log:    log.Named("admin"),
		tokens: newTokenChecker(cfg.Token),
	}
	s.routes()
	return s, nil
}

// routes registers the endpoints and builds the middleware chain:
// recover → access log → auth → JSON 404/405 → mux.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+adminapi.PathHealth, s.health)
	m.HandleFunc("GET "+adminapi.PathReady, s.ready)
	if s.cfg.Gatherer != nil {
		m.Handle("GET "+adminapi.PathMetrics, promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog: zap.NewStdLog(s.log.Named("metrics")), ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	m.HandleFunc("POST "+adminapi.PathMerchants, s.api(s.createMerchant))
	m.HandleFunc("GET "+adminapi.PathMerchants, s.api(s.listMerchants))
	m.HandleFunc("GET "+adminapi.PathMerchants+"/{mid}", s.api(s.getMerchant))
	m.HandleFunc("POST "+adminapi.PathTerminals, s.api(s.createTerminal))
	m.HandleFunc("GET "+adminapi.PathTerminals, s.api(s.listTerminals))
	m.HandleFunc("GET "+adminapi.PathTerminals+"/{tid}", s.api(s.getTerminal))
	m.HandleFunc("POST "+adminapi.PathTerminals+"/{tid}/activation-code", s.api(s.issueCode))
	m.HandleFunc("POST "+adminapi.PathTerminals+"/{tid}/activation/unlock", s.api(s.unlockActivation))
	m.HandleFunc("POST "+adminapi.PathTerminals+"/{tid}/block", s.api(s.block))
	m.HandleFunc("POST "+adminapi.PathTerminals+"/{tid}/unblock", s.api(s.unblock))
	m.HandleFunc("POST "+adminapi.PathTerminals+"/{tid}/resign", s.api(s.resign))
	m.HandleFunc("POST "+adminapi.PathTerminals+"/{tid}/software", s.api(s.software))
	m.HandleFunc("GET "+adminapi.PathReversals, s.api(s.listReversals))
	s.accessRoutes(m)
	s.settlementRoutes(m)
	s.dashboardRoutes(m)
	s.pprofRoutes(m)
	s.mux = m
	s.handler = s.recoverPanics(s.accessLog(s.authenticate(http.HandlerFunc(s.route))))
}

// Handler returns the server's http.Handler (all endpoints, authentication and logging
// included), for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on Config.Addr and serves in the background; ctx bounds only the listen.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	closed, started := s.closed, s.started
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case started:
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve serves on ln in the background and returns at once; the server owns ln from then on
// (Shutdown closes it, as does Serve when it refuses with ErrStarted or ErrClosed).
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.started {
		_ = ln.Close()
		if s.closed {
			return ErrClosed
		}
		return ErrStarted
	}
	s.started, s.ln = true, ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	srv := s.srv
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			_ = ln.Close()
			return &ConfigError{Field: "TLS", Reason: "certificate and key do not load: " + tlsReason(err)}
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener failed", zap.Error(err))
		}
	}()
	s.log.Info("admin API listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", s.cfg.TLSCertFile != ""))
	return nil
}

// Addr returns the address the server listens on, or nil before Start or Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections, marks the server not ready, waits for in-flight requests
// until ctx is done (then closes their connections) and for the serving goroutine. It is safe to
// call more than once and before Start; later calls return the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.mu.Lock()
		s.closed, s.draining = true, true
		srv := s.srv
		s.mu.Unlock()
		if srv != nil {
			if err := srv.Shutdown(ctx); err != nil {
				s.shutdownErr = err
				_ = srv.Close()
			}
		}
		s.wg.Wait()
	})
	return s.shutdownErr
}

// api wraps an API handler: it bounds the request's context by Config.RequestTimeout and
// sends the handler's error through writeError.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// health answers /healthz: the process is alive.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, adminapi.Status{Status: "ok"})
}

// ready answers /readyz: 200 when Config.Ready says ready, 503 with its reason otherwise.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	reason := ""
	if draining {
		reason = "shutting down"
	} else if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, adminapi.ErrorBody{Error: reason, Code: adminapi.CodeUnavailable})
		return
	}
	writeJSON(w, http.StatusOK, adminapi.Status{Status: "ready"})
}
