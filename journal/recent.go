package journal

// recentSet remembers recently committed transaction ids, bounded by count and
// age, so a repeated Append is answered without writing again. Not safe for
// concurrent use; the Journal guards it with its mutex.
type recentSet struct {
	max    int
	window int64 // ns
	ids    map[string]int64
	ring   []recentEntry // grows to max, then used circularly from head
	head   int
}

type recentEntry struct {
	id string
	at int64 // ns
}

func newRecentSet(max int, windowNS int64) recentSet {
	return recentSet{max: max, window: windowNS, ids: make(map[string]int64)}
}

// contains reports whether id was added less than window ago.
func (s *recentSet) contains(id string, now int64) bool {
	at, ok := s.ids[id]
	return ok && now-at < s.window
}

// add remembers id at time now, evicting the oldest entry when full. Aged-out
// entries stay until overwritten (memory is bounded by max) but contains
// ignores them.
func (s *recentSet) add(id string, now int64) {
	if s.max <= 0 || s.window <= 0 {
		return
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, recentEntry{id, now})
	} else {
		s.evict(s.head)
		s.ring[s.head] = recentEntry{id, now}
		s.head = (s.head + 1) % len(s.ring)
	}
	s.ids[id] = now
}

// evict forgets the ring entry at i unless the id was re-added later.
func (s *recentSet) evict(i int) {
	e := s.ring[i]
	if at, ok := s.ids[e.id]; ok && at == e.at {
		delete(s.ids, e.id)
	}
}
