package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/codec"
)

// Handler serves one request frame. It writes at most one response through w and learns from the
// returned error whether the response reached the connection; when it did not, anything already
// authorized is the Handler's to reverse. The frame's Body is valid until ServeFrame returns.
type Handler interface {
	ServeFrame(ctx context.Context, req codec.Frame, w ResponseWriter)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req codec.Frame, w ResponseWriter)

// ServeFrame calls f.
func (f HandlerFunc) ServeFrame(ctx context.Context, req codec.Frame, w ResponseWriter) {
	f(ctx, req, w)
}

// ResponseWriter sends one response frame (length prefix included) to the terminal.
type ResponseWriter interface {
	// WriteFrame writes frame whole, within the write deadline. An error means the terminal
	// may not have received it.
	WriteFrame(frame []byte) error
	// RemoteAddr is the terminal's address.
	RemoteAddr() net.Addr
	// Close closes the connection (after responses already written): for a message that
	// cannot be answered because not even its MTI is readable.
	Close()
}

// Config of the terminal server. Zero values take the defaults.
type Config struct {
	// Listen is the TCP address for terminals. Default ":8583".
	Listen string
	// TLSListen, when set, is a second address where terminals connect over TLS (TLS must be
	// set); the plain listener stays for older devices.
	TLSListen string
	// TLS is the server side of the TLS listener: certificates, minimum version.
	TLS *tls.Config
	// MaxConns bounds open terminal connections. Default 20000.
	MaxConns int
	// MaxConnsPerAddr bounds connections from one remote IP address. Default 1000 (a merchant
	// site's NAT may carry many terminals).
	MaxConnsPerAddr int
	// IdleTimeout closes a connection when no byte of the next frame has arrived this long
	// after the previous frame. Default 5 minutes.
	IdleTimeout time.Duration
	// FrameTimeout closes a connection whose frame has begun (its first byte arrived) but is
	// not whole this long after: a declared length followed by nothing, or a frame trickled in
	// byte by byte, holds a connection FrameTimeout, not IdleTimeout. Default 10 s.
	FrameTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 10 s.
	WriteTimeout time.Duration
	// MaxFrame is the largest declared frame length accepted. Default 4096.
	MaxFrame int
	// MaxInFlight bounds the requests in flight on one connection; the connection is not read
	// while it is reached. Default 32.
	MaxInFlight int
}

// Defaults.
const (
	DefaultListen          = ":8583"
	DefaultMaxConns        = 20000
	DefaultMaxConnsPerAddr = 1000
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultFrameTimeout    = 10 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultMaxInFlight     = 32
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("gateway: bad configuration")

// ConfigError names the setting at fault.
type ConfigError struct{ Setting, Problem string }

func (e *ConfigError) Error() string { return "gateway: " + e.Setting + ": " + e.Problem }

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerAddr == 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.FrameTimeout == 0 {
		c.FrameTimeout = DefaultFrameTimeout
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = codec.DefaultMaxFrame
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	return c
}

// Validate checks the configuration after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.TLSListen != "" && (c.TLS == nil || len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil):
		return &ConfigError{"TLS", "the TLS listener needs a certificate"}
	case c.MaxConns < 0:
		return &ConfigError{"MaxConns", "must not be negative"}
	case c.MaxConnsPerAddr < 0:
		return &ConfigError{"MaxConnsPerAddr", "must not be negative"}
	case c.IdleTimeout < 0 || c.WriteTimeout < 0 || c.FrameTimeout < 0:
		return &ConfigError{"timeouts", "must not be negative"}
	case c.MaxFrame < codec.MinFrame || c.MaxFrame > 0xFFFF:
		return &ConfigError{"MaxFrame", "must be between 21 and 65535"}
	case c.MaxInFlight < 1:
		return &ConfigError{"MaxInFlight", "must be at least 1"}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &ConfigError{"Listen", "not host:port"}
	}
	return nil
}

// Stats are the server's live counters.
type Stats struct {
	Conns         int64 // open connections
	Accepted      int64 // connections accepted since start
	Refused       int64 // connections closed at once for a limit
	FrameErrors   int64 // connections closed for an unreadable frame
	IdleClosed    int64 // connections closed for idleness
	FrameTimeouts int64 // connections closed for a frame begun and not completed in FrameTimeout
	Requests      int64 // frames handed to the handler
	InFlight      int64 // requests being handled
	WriteFailures int64 // responses that could not be written
	Panics        int64 // handler panics recovered (a bug: the connection is closed)
}

// Server is the terminal server. Make one with New; Start, then Shutdown.
type Server struct {
	cfg     Config
	h       Handler
	log     *zap.Logger
	ln      net.Listener // the plain listener
	tlsLn   net.Listener // the TLS listener, nil without one
	baseCtx context.Context
	cancel  context.CancelFunc

	mu       sync.Mutex
	conns    map[*conn]struct{}
	perAddr  map[netip.Addr]int
	closing  bool
	started  bool
	acceptWG sync.WaitGroup
	connWG   sync.WaitGroup
	stopOnce sync.Once
	done     chan struct{}

	stats struct {
		conns, accepted, refused, frameErrors, idleClosed, frameTimeouts, requests, inFlight, writeFailures, panics atomic.Int64
	}
}

// New returns a server that hands frames to h. log may be nil (no logging).
func New(cfg Config, h Handler, log *zap.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, &ConfigError{"Handler", "required"}
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{cfg: cfg.withDefaults(), h: h, log: log.Named("gateway"),
		conns: map[*conn]struct{}{}, perAddr: map[netip.Addr]int{}, done: make(chan struct{})}, nil
}

// Start listens on the configured addresses (the plain one, and TLSListen when set) and
// serves in the background.
func (s *Server) Start(ctx context.Context) error {
	var tlsLn net.Listener
	if s.cfg.TLSListen != "" {
		raw, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.TLSListen)
		if err != nil {
			return fmt.Errorf("TLS listener: %w", err)
		}
		tlsLn = tls.NewListener(raw, s.cfg.TLS)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		if tlsLn != nil {
			_ = tlsLn.Close()
		}
		return err
	}
	return s.serve(ln, tlsLn)
}

// Serve serves terminals on ln in the background; the server owns ln from then on.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

func (s *Server) serve(ln, tlsLn net.Listener) error {
	s.mu.Lock()
	if s.started || s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		if tlsLn != nil {
			_ = tlsLn.Close()
		}
		return errors.New("gateway: server already started or shut down")
	}
	s.started = true
	s.ln, s.tlsLn = ln, tlsLn
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	s.log.Info("terminal listener started", zap.String("addr", ln.Addr().String()))
	s.acceptWG.Add(1)
	go s.acceptLoop(ln)
	if tlsLn != nil {
		s.log.Info("terminal TLS listener started", zap.String("addr", tlsLn.Addr().String()))
		s.acceptWG.Add(1)
		go s.acceptLoop(tlsLn)
	}
	return nil
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// TLSAddr returns the TLS listener's address, or nil when there is none.
func (s *Server) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Conns: s.stats.conns.Load(), Accepted: s.stats.accepted.Load(), Refused: s.stats.refused.Load(),
		FrameErrors: s.stats.frameErrors.Load(), IdleClosed: s.stats.idleClosed.Load(),
		FrameTimeouts: s.stats.frameTimeouts.Load(),
		Requests:      s.stats.requests.Load(), InFlight: s.stats.inFlight.Load(),
		WriteFailures: s.stats.writeFailures.Load(), Panics: s.stats.panics.Load(),
	}
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.acceptWG.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return
			}
			// Temporary failures (out of file descriptors…): back off and go on.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			s.log.Warn("accept failed", zap.Error(err), zap.Duration("retry_in", backoff))
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			continue
		}
		backoff = 0
		s.stats.accepted.Add(1)
		c, ok := s.admit(nc)
		if !ok {
			s.stats.refused.Add(1)
			_ = nc.Close()
			continue
		}
		s.connWG.Add(1)
		go func() {
			defer s.connWG.Done()
			c.serve()
			s.release(c)
		}()
	}
}

// admit registers a new connection unless a limit or shutdown forbids it.
func (s *Server) admit(nc net.Conn) (*conn, bool) {
	addr := remoteIP(nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || len(s.conns) >= s.cfg.MaxConns || s.perAddr[addr] >= s.cfg.MaxConnsPerAddr {
		return nil, false
	}
	c := newConn(s, nc, addr)
	s.conns[c] = struct{}{}
	s.perAddr[addr]++
	s.stats.conns.Add(1)
	return c, true
}

func (s *Server) release(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perAddr[c.addr]--; s.perAddr[c.addr] <= 0 {
		delete(s.perAddr, c.addr)
	}
	s.mu.Unlock()
	s.stats.conns.Add(-1)
}

func remoteIP(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Shutdown stops accepting, stops reading new requests, waits for the requests in flight to be
// answered (or reversed by the Handler when they cannot be), and closes every connection. When
// ctx ends first, the handlers' context is cancelled and the connections are closed at once;
// Shutdown still waits for every goroutine to end and returns ctx's error. Calling it again is
// safe and waits likewise.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		ln, tlsLn := s.ln, s.tlsLn
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		close(s.done)
		if ln != nil {
			_ = ln.Close()
		}
		if tlsLn != nil {
			_ = tlsLn.Close()
		}
		for _, c := range conns {
			c.stopReading()
		}
	})
	finished := make(chan struct{})
	go func() {
		s.acceptWG.Wait()
		s.connWG.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		s.cancelBase()
		return nil
	case <-ctx.Done():
		// Close the connections before cancelling the handlers, so a handler woken by the
		// cancellation cannot deliver a response the shutdown gave up on: its write fails
		// and it reverses what it authorized.
		s.mu.Lock()
		for c := range s.conns {
			c.broken.Store(true)
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		s.cancelBase()
		<-finished
		return ctx.Err()
	}
}

func (s *Server) cancelBase() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
