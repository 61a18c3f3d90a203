package redistest

import (
	"net"
	"testing"
	"time"
)

// TestStartStop starts a server, talks to it, and checks that cleanup stops it.
func TestStartStop(t *testing.T) {
	var addr string
	t.Run("running", func(t *testing.T) {
		s := Start(t)
		addr = s.Addr
		host, _, err := net.SplitHostPort(s.Addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr %q: want a loopback address (%v)", s.Addr, err)
		}
		if err := Ping(s.Addr); err != nil {
			t.Fatalf("PING: %v", err)
		}
		if got, want := s.URL(), "redis://"+s.Addr+"/0"; got != want {
			t.Errorf("URL() = %q, want %q", got, want)
		}
	})
	if addr == "" {
		t.Skip("redis-server not available")
	}
	// The subtest's cleanup has run: nothing listens there any more.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("redis-server on %s still accepts connections after cleanup", addr)
	}
}

// TestSeparateServers checks that two servers in one test get distinct ports.
func TestSeparateServers(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers share %s", a.Addr)
	}
	for _, s := range []*Server{a, b} {
		if err := Ping(s.Addr); err != nil {
			t.Errorf("PING %s: %v", s.Addr, err)
		}
	}
}
