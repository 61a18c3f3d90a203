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

// dayKey is the counter's key for route on at's UTC day.
func dayKey(route string, at time.Time) string {
	return "pg:{stan}:" + route + ":" + at.UTC().Format("20060102")
}

func TestSharedAcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	// Two "nodes", each with its own client, draw from one counter.
	a := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { a.Close(); b.Close() })
	sa, sb := redisstan.New(a, ""), redisstan.New(b, "")
	// The day is today's, whenever the test runs: the counter lives relative to Redis's clock.
	at := time.Now().UTC()
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
	if len(seen) != 400 || !seen[1] {
		t.Fatalf("drew %d distinct STANs from 1, want 400", len(seen))
	}
	// In blocks: one round trip per DefaultBlock draws, at most a block per node left unused.
	drawn, _ := a.Get(ctx, dayKey("cup", at)).Int()
	if drawn%redisstan.DefaultBlock != 0 || drawn > 400+2*redisstan.DefaultBlock {
		t.Fatalf("the day's counter is at %d after 400 draws by two nodes, want blocks of %d, at most %d",
			drawn, redisstan.DefaultBlock, 400+2*redisstan.DefaultBlock)
	}
	for n := range seen {
		if int(n) > drawn {
			t.Fatalf("STAN %d beyond the counter %d", n, drawn)
		}
	}
	// Another route and another day start again at 1; the day's key expires.
	if n, _ := sa.NextSTAN(ctx, "visa", at); n != 1 {
		t.Fatalf("first STAN of another route: %d", n)
	}
	if n, _ := sa.NextSTAN(ctx, "cup", at.Add(24*time.Hour)); n != 1 {
		t.Fatalf("first STAN of the next day: %d", n)
	}
	if ttl := a.TTL(ctx, dayKey("cup", at)).Val(); ttl <= 0 {
		t.Fatalf("day key has no expiry: %v", ttl)
	}
	// The counter wraps after 999999.
	a.Set(ctx, dayKey("onus", at), 999_998, 0)
	if n1, _ := sa.NextSTAN(ctx, "onus", at); n1 != 999_999 {
		t.Fatalf("STAN 999999: %d", n1)
	}
	if n2, _ := sa.NextSTAN(ctx, "onus", at); n2 != 1 {
		t.Fatalf("after 999999: %d", n2)
	}
}

// TestLateRequestsStayUnique: a request whose time lies days in the past (a day whose "start +
// 48 h" expiry has passed) still draws unique STANs, and its key lives two days from now. The
// old code set that expiry in the past, Redis deleted the key on every draw, and every draw
// returned 1.
func TestLateRequestsStayUnique(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := redisstan.New(rdb, "")
	for _, age := range []time.Duration{72 * time.Hour, 10 * 24 * time.Hour, 400 * 24 * time.Hour} {
		at := time.Now().Add(-age)
		for want := uint32(1); want <= 5; want++ {
			n, err := s.NextSTAN(ctx, "cup", at)
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Fatalf("%v old: draw %d returned STAN %d", age, want, n)
			}
		}
		ttl := rdb.TTL(ctx, dayKey("cup", at)).Val()
		if ttl < 47*time.Hour || ttl > 48*time.Hour {
			t.Fatalf("%v old: key lives %v, want about 48 h from now", age, ttl)
		}
	}
}
