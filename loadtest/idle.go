package loadtest

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// idleConns are connections that connect and then send nothing, as many terminals do between
// transactions: they measure what an open connection costs the gateway.
type idleConns struct {
	mu    sync.Mutex
	conns []net.Conn
}

// open dials n connections from slots first, first+1, … with up to workers dials at a time.
// It returns how many opened and the first error (the others are not retried).
func (ic *idleConns) open(ctx context.Context, d dialer, target string, first, n, workers int, timeout time.Duration) (int, error) {
	var opened atomic.Int64
	var firstErr error
	var errOnce sync.Once
	err := parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		dial := d.dialFunc(first+i, func() net.Dialer { return net.Dialer{Timeout: timeout, KeepAlive: -1} })
		c, err := dial(ctx, "tcp", target)
		if err != nil {
			errOnce.Do(func() { firstErr = err })
			return nil // count and carry on: the report says how many opened
		}
		ic.mu.Lock()
		ic.conns = append(ic.conns, c)
		ic.mu.Unlock()
		opened.Add(1)
		return nil
	})
	if err == nil {
		err = firstErr
	}
	return int(opened.Load()), err
}

// alive counts the connections the gateway has not closed: a read that times out finds the
// connection open, EOF or a reset finds it closed.
func (ic *idleConns) alive(ctx context.Context, workers int) int {
	ic.mu.Lock()
	conns := ic.conns
	ic.mu.Unlock()
	var n atomic.Int64
	_ = parallel(ctx, len(conns), workers, func(_ context.Context, i int) error {
		c := conns[i]
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		var b [1]byte
		_, err := c.Read(b[:])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			n.Add(1)
		}
		_ = c.SetReadDeadline(time.Time{})
		return nil
	})
	return int(n.Load())
}

func (ic *idleConns) close() {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	for _, c := range ic.conns {
		_ = c.Close()
	}
	ic.conns = nil
}
