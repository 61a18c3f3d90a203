package redisstan_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/posgate/posgate/internal/redistest"
	"github.com/posgate/posgate/routing/redisstan"
)

func TestSharedAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	// Two "nodes", each with its own client, draw from one counter.
	a := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { a.Close(); b.Close() })
	sa, sb := redisstan.New(a, ""), redisstan.New(b, "")
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	seen := map[uint32]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(s *redisstan.Source) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				n, err := s.NextSTAN(ctx, "cup", at)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("STAN %d drawn twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		}(map[bool]*redisstan.Source{true: sa, false: sb}[i%2 == 0])
	}
	wg.Wait()
	if len(seen) != 400 || !seen[1] || !seen[400] {
		t.Fatalf("drew %d distinct STANs, want 1..400", len(seen))
	}
	// Another route and another day start again at 1; the day's key expires.
	if n, _ := sa.NextSTAN(ctx, "visa", at); n != 1 {
		t.Fatalf("first STAN of another route: %d", n)
	}
	if n, _ := sa.NextSTAN(ctx, "cup", at.Add(24*time.Hour)); n != 1 {
		t.Fatalf("first STAN of the next day: %d", n)
	}
	if ttl := a.TTL(ctx, "pg:{stan}:cup:20261122").Val(); ttl <= 0 {
		t.Fatalf("day key has no expiry: %v", ttl)
	}
	// The counter wraps after 999999.
	a.Set(ctx, "pg:{stan}:onus:20261122", 999_998, 0)
	if n1, _ := sa.NextSTAN(ctx, "onus", at); n1 != 999_999 {
		t.Fatalf("STAN 999999: %d", n1)
	}
	if n2, _ := sa.NextSTAN(ctx, "onus", at); n2 != 1 {
		t.Fatalf("after 999999: %d", n2)
	}
}
