package termsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"sync/atomic"
)

// KeyPool hands out RSA-2048 key pairs for activations. Generating one costs tens of
// milliseconds (more under -race), far more than the activation exchange, so a load generator
// activating thousands of terminals shares a small pool: Size keys, each generated the first
// time it is needed (or all at once, concurrently, by Warm), then handed out round-robin.
//
// Keys are therefore reused across terminals. That is fine for a simulator — the gateway sees
// a valid key and proof — but a real device never shares its key. A KeyPool is safe for
// concurrent use.
type KeyPool struct {
	slots []keySlot
	next  atomic.Uint64
}

type keySlot struct {
	mu  sync.Mutex
	key *rsa.PrivateKey
}

// NewKeyPool returns a pool of size keys (at least 1), none generated yet.
func NewKeyPool(size int) *KeyPool {
	if size < 1 {
		size = 1
	}
	return &KeyPool{slots: make([]keySlot, size)}
}

// Size returns the number of distinct keys the pool hands out.
func (p *KeyPool) Size() int { return len(p.slots) }

// Get returns the next key, generating it when its slot is still empty. The key is shared: the
// caller must not modify it.
func (p *KeyPool) Get(ctx context.Context) (*rsa.PrivateKey, error) {
	i := (p.next.Add(1) - 1) % uint64(len(p.slots))
	return p.slots[i].get(ctx)
}

func (s *keySlot) get(ctx context.Context) (*rsa.PrivateKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	return s.key, nil
}

// Warm generates every missing key with up to workers goroutines (at least 1) and returns when
// all are ready. When ctx is done the workers stop after the key each is generating.
func (p *KeyPool) Warm(ctx context.Context, workers int) error {
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(p.slots) {
					return
				}
				if _, err := p.slots[i].get(ctx); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
