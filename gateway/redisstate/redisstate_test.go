package redisstate_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/redisstate"
	"github.com/posgate/posgate/gateway/statetest"
	"github.com/posgate/posgate/internal/redistest"
)

// prefixes gives every State of a test run its own key space on the shared server.
var prefixes atomic.Int64

func newState(t testing.TB, srv *redistest.Server) *redisstate.State {
	t.Helper()
	s, err := redisstate.New(redisstate.Config{
		URL:    srv.URL(),
		Prefix: "test" + strconv.FormatInt(prefixes.Add(1), 10) + ":",
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
	statetest.Run(t, func(t *testing.T) gateway.State { return newState(t, srv) })
}
