package hsm

import "sync"

// keyCache is a bounded map from a wrapped key's cipher text to its unwrapped schedules. Reads
// take a shared lock and do not allocate (the map lookup converts the []byte key without a copy).
// When full, an insert evicts one entry chosen at random (Go randomizes where map iteration
// starts), which keeps the bound without bookkeeping on the read path.
type keyCache struct {
	mu  sync.RWMutex
	m   map[string]*keyEntry
	max int
}

func newKeyCache(max int) *keyCache {
	return &keyCache{m: make(map[string]*keyEntry), max: max}
}

func (c *keyCache) get(cipher []byte) *keyEntry {
	c.mu.RLock()
	e := c.m[string(cipher)]
	c.mu.RUnlock()
	return e
}

func (c *keyCache) put(cipher []byte, e *keyEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[string(cipher)]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[string(cipher)] = e
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
