// Package memstore is the in-memory terminal.Store: the registry of the embedded, single-node
// posgate. It keeps everything in maps guarded by one RWMutex and persists to a snapshot file
// (JSON, mode 0600, written atomically: temp file, fsync, rename, fsync of the directory) that
// is loaded by Open, saved every Config.SnapshotInterval when something changed, and saved by
// Close. A crash loses at most the changes of the last interval.
//
// Reads return deep copies (terminal.Terminal.Clone), so callers may modify what they get
// without touching the store. The snapshot holds keys only as hsm.WrappedKey cipher text.
package memstore

import (
	"errors"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/terminal"
)

// DefaultSnapshotInterval is how often a changed registry is written to the snapshot file.
const DefaultSnapshotInterval = 10 * time.Second

// Config configures a Store.
type Config struct {
	// Path of the snapshot file. "" keeps the registry in memory only (tests, demos).
	Path string
	// SnapshotInterval between saves of a changed registry. 0 means DefaultSnapshotInterval;
	// negative disables periodic saves (the snapshot is then written only by Save and Close).
	SnapshotInterval time.Duration
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Path != "" && (c.Path[len(c.Path)-1] == '/' || c.Path == ".") {
		return &terminal.FieldError{Field: "Path", Reason: "must name a file"}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Store is the in-memory registry. Create it with Open; it is safe for concurrent use.
type Store struct {
	cfg Config
	log *zap.Logger

	mu        sync.RWMutex
	closed    bool
	merchants map[string]*terminal.Merchant
	mids      []string // sorted MIDs
	terminals map[string]*terminal.Terminal
	tids      []string            // sorted TIDs
	byMID     map[string][]string // MID → sorted TIDs
	sns       map[string]string   // SN → TID
	codes     map[string]*terminal.ActivationCode
	changes   uint64 // incremented by every write; compared by the saver

	saveMu sync.Mutex // serialises snapshot writes
	saved  uint64     // value of changes covered by the last snapshot (under saveMu)

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ terminal.Store = (*Store)(nil)

// Open validates cfg, loads the snapshot at cfg.Path if it exists, and starts the periodic
// saver. log may be nil. Close the store to stop the saver and write a final snapshot.
func Open(cfg Config, log *zap.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{
		cfg:       cfg.withDefaults(),
		log:       log.Named("memstore"),
		merchants: map[string]*terminal.Merchant{},
		terminals: map[string]*terminal.Terminal{},
		byMID:     map[string][]string{},
		sns:       map[string]string{},
		codes:     map[string]*terminal.ActivationCode{},
		stop:      make(chan struct{}),
	}
	if s.cfg.Path != "" {
		if err := s.load(); err != nil {
			return nil, err
		}
		if s.cfg.SnapshotInterval > 0 {
			s.wg.Add(1)
			go s.saver()
		}
	}
	return s, nil
}

// Close stops the periodic saver and writes a final snapshot if anything changed. Later calls
// return the first call's result; operations after Close return terminal.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.cfg.Path != "" {
			s.closeErr = s.save()
		}
	})
	return s.closeErr
}

func (s *Store) saver() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.SnapshotInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			if err := s.save(); err != nil {
				s.log.Error("snapshot save failed", zap.String("path", s.cfg.Path), zap.Error(err))
			}
		}
	}
}

// now returns the store's time with microsecond precision (the precision every backend keeps).
func (s *Store) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// lock takes the write lock; it fails once the store is closed.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return terminal.ErrClosed
	}
	return nil
}

func (s *Store) rlock() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return terminal.ErrClosed
	}
	return nil
}

// changed marks a write; called with the write lock held.
func (s *Store) changed() { s.changes++ }

func insertSorted(list []string, v string) []string {
	i, found := slices.BinarySearch(list, v)
	if found {
		return list
	}
	return slices.Insert(list, i, v)
}

func removeSorted(list []string, v string) []string {
	i, found := slices.BinarySearch(list, v)
	if !found {
		return list
	}
	return slices.Delete(list, i, i+1)
}

// after returns the index of the first element of sorted list greater than v.
func after(list []string, v string) int {
	i, found := slices.BinarySearch(list, v)
	if found {
		i++
	}
	return i
}

func notFound(kind terminal.Kind, id string) error {
	return terminal.NewRecordError(kind, id, terminal.ErrNotFound)
}

func sortStrings(l []string) { slices.Sort(l) }

var errSnapshot = errors.New("memstore: corrupt snapshot")
