package terminal_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/posgate/posgate/terminal"
	"github.com/posgate/posgate/terminal/memstore"
)

// recordingPeers is an Invalidator that records what it was told.
type recordingPeers struct {
	mu   sync.Mutex
	tids []string
}

func (p *recordingPeers) Invalidate(_ context.Context, tid string) {
	p.mu.Lock()
	p.tids = append(p.tids, tid)
	p.mu.Unlock()
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	store := openMemstore(t)
	if _, err := store.CreateMerchant(ctx, terminal.Merchant{MID: "898310048990001", Name: "SHOP", MCC: "5812"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTerminal(ctx, terminal.Terminal{TID: "TERM0001", MID: "898310048990001"}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0) // an injected clock: only its steps matter
	peers := &recordingPeers{}
	c, err := terminal.NewCache(store, terminal.CacheConfig{TTL: 5 * time.Second, Peers: peers, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	status := func(what string, want terminal.Status) {
		t.Helper()
		got, err := c.GetTerminal(ctx, "TERM0001")
		if err != nil || got.Status != want {
			t.Fatalf("%s: status %v (%v), want %v", what, got.Status, err, want)
		}
	}

	status("first read", terminal.StatusPending)
	// A change behind the cache's back (another process writing Redis without a node) is seen
	// once the entry expires, not before.
	if _, err := store.Block(ctx, "TERM0001", terminal.ReasonLost); err != nil {
		t.Fatal(err)
	}
	status("within the TTL", terminal.StatusPending)
	now = now.Add(5 * time.Second)
	status("after the TTL", terminal.StatusBlocked)
	if st := c.Stats(); st.Hits != 1 || st.Misses != 2 {
		t.Fatalf("stats %+v, want 1 hit and 2 misses", st)
	}

	// A change through the cache is seen at once, here and (told) on the peers.
	if _, err := c.Unblock(ctx, "TERM0001"); err != nil {
		t.Fatal(err)
	}
	status("after Unblock through the cache", terminal.StatusPending)
	if len(peers.tids) != 1 || peers.tids[0] != "TERM0001" {
		t.Fatalf("peers told %q, want [TERM0001]", peers.tids)
	}

	// A peer's invalidation drops the entry.
	if _, err := store.Block(ctx, "TERM0001", terminal.ReasonStolen); err != nil {
		t.Fatal(err)
	}
	c.Forget("TERM0001")
	status("after Forget", terminal.StatusBlocked)

	// Suspended (NATS down, invalidations unheard), every read goes to the store.
	c.Suspend()
	if _, err := store.Unblock(ctx, "TERM0001"); err != nil {
		t.Fatal(err)
	}
	status("suspended", terminal.StatusPending)
	c.Resume()

	// Failed writes are announced too (the store may have changed before failing).
	if _, err := c.Block(ctx, "NOSUCHTM", terminal.ReasonLost); !errors.Is(err, terminal.ErrNotFound) {
		t.Fatalf("Block of an unknown terminal: %v", err)
	}
	if n := len(peers.tids); n != 2 {
		t.Fatalf("peers told %d times, want 2", n)
	}
	if _, err := terminal.NewCache(store, terminal.CacheConfig{}); !errors.Is(err, terminal.ErrInvalid) {
		t.Fatalf("NewCache without a TTL: %v", err)
	}
}

// A read that overlaps an invalidation does not store what it read: it may predate the change.
func TestCacheReadOverlappingForget(t *testing.T) {
	ctx := context.Background()
	store := &slowStore{Store: openMemstore(t), reading: make(chan struct{}), release: make(chan struct{})}
	if _, err := store.CreateMerchant(ctx, terminal.Merchant{MID: "898310048990001", Name: "SHOP", MCC: "5812"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateTerminal(ctx, terminal.Terminal{TID: "TERM0001", MID: "898310048990001"}); err != nil {
		t.Fatal(err)
	}
	c, err := terminal.NewCache(store, terminal.CacheConfig{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan terminal.Terminal)
	go func() {
		got, _ := c.GetTerminal(ctx, "TERM0001")
		done <- got
	}()
	<-store.reading // the read has the old state in hand
	if _, err := store.Store.Block(ctx, "TERM0001", terminal.ReasonLost); err != nil {
		t.Fatal(err)
	}
	c.Forget("TERM0001") // the invalidation arrives before the read returns
	close(store.release)
	if got := <-done; got.Status != terminal.StatusPending {
		t.Fatalf("the overlapping read returned %v, want the state it read", got.Status)
	}
	if got, _ := c.GetTerminal(ctx, "TERM0001"); got.Status != terminal.StatusBlocked {
		t.Fatalf("after the overlapping read: %v, want blocked (the stale read was not kept)", got.Status)
	}
}

// slowStore holds its first GetTerminal after reading, until released.
type slowStore struct {
	terminal.Store
	reading, release chan struct{}
	once             sync.Once
}

func openMemstore(t *testing.T) *memstore.Store {
	t.Helper()
	s, err := memstore.Open(memstore.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (s *slowStore) GetTerminal(ctx context.Context, tid string) (terminal.Terminal, error) {
	t, err := s.Store.GetTerminal(ctx, tid)
	s.once.Do(func() {
		close(s.reading)
		<-s.release
	})
	return t, err
}
