// Package natstest starts the embedded NATS server for tests: a real nats-server
// with JetStream (fsync on every write, as in production) on a random loopback
// port, its data in t.TempDir(), shut down by t.Cleanup.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/posgate/posgate/natsembed"
)

// Start starts a server with a fresh data directory and registers its shutdown
// with t.Cleanup. It fails the test if the server does not start.
func Start(tb testing.TB) *natsembed.Server {
	tb.Helper()
	return StartWithConfig(tb, natsembed.Config{DataDir: tb.TempDir()})
}

// StartWithConfig starts a server with cfg (DataDir defaults to tb.TempDir()),
// logging through zaptest, and registers its shutdown with t.Cleanup. Use it to
// restart a server on the data directory of a previous one.
func StartWithConfig(tb testing.TB, cfg natsembed.Config) *natsembed.Server {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Only warnings and errors: the server is chatty at info level.
	logger := zaptest.NewLogger(tb, zaptest.Level(zapcore.WarnLevel))
	s, err := natsembed.Start(ctx, cfg, logger)
	if err != nil {
		tb.Fatalf("natstest: start embedded NATS: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("natstest: shutdown embedded NATS: %v", err)
		}
	})
	return s
}

// Connect opens a client connection to s and closes it in t.Cleanup.
func Connect(tb testing.TB, s *natsembed.Server, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := s.Connect(opts...)
	if err != nil {
		tb.Fatalf("natstest: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
