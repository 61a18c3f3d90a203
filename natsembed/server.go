package natsembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// ErrNotReady is returned by Start when the server did not accept connections in
// time, and ErrShutdown by Connect after Shutdown.
var (
	ErrNotReady = errors.New("natsembed: server not ready")
	ErrShutdown = errors.New("natsembed: server shut down")
)

// Server is a running embedded NATS server with JetStream. Create it with Start
// and stop it with Shutdown; all methods are safe for concurrent use.
type Server struct {
	cfg Config
	ns  *server.Server
	log *zap.Logger

	once sync.Once
	done chan struct{} // closed when the server has fully shut down
}

// Start creates the data directory, starts the server and waits (bounded by ctx
// and cfg.ReadyTimeout) until it accepts client connections with JetStream
// enabled. logger may be nil (no logging). The caller owns the returned Server
// and must call Shutdown.
func Start(ctx context.Context, cfg Config, logger *zap.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = zap.NewNop()
	}
	log := logger.Named("nats")
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("natsembed: create data dir: %w", err)
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		Host:               cfg.Host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.DataDir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		SyncAlways:         !cfg.NoSyncAlways,
		SyncInterval:       cfg.SyncInterval,
		NoSigs:             true,
		Debug:              cfg.Debug,
		// The embedded server is a data store for this process, not a cluster
		// member: no HTTP monitor, no leafnodes, no routes.
		HTTPPort: 0,
	}
	if opts.JetStreamMaxMemory == 0 {
		opts.JetStreamMaxMemory = -1 // server default
	}
	if opts.JetStreamMaxStore == 0 {
		opts.JetStreamMaxStore = -1 // server default
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	ns.SetLoggerV2(&zapLogger{log: log}, cfg.Debug, false, false)

	s := &Server{cfg: cfg, ns: ns, log: log, done: make(chan struct{})}
	ns.Start()

	ready := make(chan bool, 1)
	go func() { ready <- ns.ReadyForConnections(cfg.ReadyTimeout) }()
	select {
	case ok := <-ready:
		if !ok || !ns.JetStreamEnabled() {
			_ = s.Shutdown(context.Background())
			return nil, ErrNotReady
		}
	case <-ctx.Done():
		// ReadyForConnections returns within ReadyTimeout; wait for it so the
		// goroutine above does not outlive Start.
		<-ready
		_ = s.Shutdown(context.Background())
		return nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	log.Info("embedded NATS server started",
		zap.String("url", ns.ClientURL()),
		zap.String("data_dir", cfg.DataDir),
		zap.Bool("sync_always", opts.SyncAlways))
	return s, nil
}

// ClientURL returns the nats:// URL clients connect to (with the actual port when
// Config.Port was 0).
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// DataDir returns the JetStream store directory.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// SyncAlways reports whether JetStream writes are fsynced before acknowledgement.
func (s *Server) SyncAlways() bool { return !s.cfg.NoSyncAlways }

// NATSServer exposes the underlying nats-server for diagnostics (for example
// JetStream usage in the dashboard). Callers must not shut it down directly.
func (s *Server) NATSServer() *server.Server { return s.ns }

// Connect dials the server over loopback TCP. Extra options are applied after the
// defaults (name "posgate", unlimited reconnects while the server lives). The
// caller owns and must close the connection.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	select {
	case <-s.done:
		return nil, ErrShutdown
	default:
	}
	all := append([]nats.Option{nats.Name("posgate"), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect(s.ClientURL(), all...)
	if err != nil {
		return nil, fmt.Errorf("natsembed: connect: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server, flushing JetStream state to disk, and waits until it
// has fully stopped or ctx ends. It is safe to call more than once and from
// several goroutines; every call waits for the same shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() {
		go func() {
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
			s.log.Info("embedded NATS server stopped")
			close(s.done)
		}()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natsembed: shutdown: %w", ctx.Err())
	}
}

// Done is closed once the server has fully shut down.
func (s *Server) Done() <-chan struct{} { return s.done }

// zapLogger adapts zap to the nats-server Logger interface. nats-server formats its
// own messages; they carry no message payloads because tracing is never enabled.
type zapLogger struct{ log *zap.Logger }

func (l *zapLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l *zapLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *zapLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *zapLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *zapLogger) Tracef(format string, v ...any)  {}

// Fatalf logs at error level. nats-server's own logger exits the process here; an
// embedded server must not kill its host, and the server shuts itself down after
// a fatal condition anyway.
func (l *zapLogger) Fatalf(format string, v ...any) { l.log.Error(fmt.Sprintf(format, v...)) }
