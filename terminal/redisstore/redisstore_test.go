package redisstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/redisstore"
	"github.com/posgate/posgate/terminal/storetest"
)

// prefixes gives every store of a test run its own key space on the shared server.
var prefixes atomic.Int64

func newStore(t testing.TB, srv *redistest.Server, now func() time.Time) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Config{
		URL:    srv.URL(),
		Prefix: "test" + strconv.FormatInt(prefixes.Add(1), 10) + ":",
		Now:    now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) terminal.Store {
		return newStore(t, srv, now)
	})
}
