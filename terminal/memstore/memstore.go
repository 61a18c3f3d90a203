// Package memstore is the in-memory terminal.Store: the registry of the embedded, single-node
// posgate. It keeps everything in maps guarded by one RWMutex. Records are copy-on-write: a write
// builds the new version of every record it changes and installs it, and an installed record is
// never modified, so a snapshot can copy pointers under the lock and encode them outside it.
//
// # Durability
//
// With Config.Path set the registry lives in two kinds of files next to each other, all mode 0600:
//
//   - the snapshot (Path, JSON, written atomically: temp file, fsync, rename, fsync of the
//     directory), every Config.SnapshotInterval when something changed, by Save and by Close;
//   - the change log (Path + ".log.NNNNNNNN", one file per generation): every write appends one
//     line holding the whole new state of each record it changed (merchant, terminal, activation
//     code, or the deletion of a code) and returns only once that line is fsynced. An
//     acknowledged write survives kill -9 and power loss.
//
// A snapshot compacts the log: under the write lock it ends the current generation and copies
// the state; once the snapshot, which names the next generation, is durable, the older log files
// are deleted. Open loads the snapshot and replays, in order, every log from the generation it
// names on (logs of older generations, left by a crash between the rename and the deletion, are
// ignored: the snapshot covers them). Lines are idempotent, so replaying one twice is harmless.
// Open writes nothing (a generation's file is created by its first line), so a process may read
// the registry of a running node; it starts over if a compaction replaced the snapshot while it
// was reading the logs.
// The last line of a log file may be torn by a crash in the middle of an append; it is ignored
// with a warning. Any other bad line is an error that names the file and line and never quotes
// them. Keys appear in both files only as hsm.WrappedKey text (cipher under the LMK).
//
// The append happens under the write lock, so the log's order is the order of the changes; the
// fsync happens after the lock is released, so readers never wait for the disk and concurrent
// writers share one fsync (group commit). The price: a change is visible to readers, and to
// writers that build on it, a moment before it is durable; a crash in that moment loses it, but
// then also every later change, which was not acknowledged either (the log is durable in order).
//
// A write whose line cannot be written is not applied and fails with ErrLogFailed. A write whose
// fsync fails cannot be taken back (others may have seen it): it fails with ErrLogFailed and its
// outcome is unknown, like a timeout's. Either way the log's tail is then unknown, so every later
// write fails with ErrLogFailed too (reads go on) until a snapshot succeeds: it covers all the
// state in memory, and the store resumes writing in a new generation.
//
// Without a Path the registry is in memory only, and writes never touch a disk.
//
// Reads return deep copies (terminal.Terminal.Clone), so callers may modify what they get
// without touching the store.
package memstore

import (
	"errors"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/posgate/posgate/terminal"
)

// DefaultSnapshotInterval is how often a changed registry is written to the snapshot file (which
// compacts the change log).
const DefaultSnapshotInterval = 10 * time.Second

// Config configures a Store.
type Config struct {
	// Path of the snapshot file; the change log is Path + ".log.NNNNNNNN" in the same
	// directory. "" keeps the registry in memory only (tests, demos).
	Path string
	// SnapshotInterval between saves of a changed registry. 0 means DefaultSnapshotInterval;
	// negative disables periodic saves (the snapshot is then written only by Save and Close,
	// and the change log grows until then).
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

	clog *changeLog // nil without a Path

	saveMu sync.Mutex // serialises snapshot writes
	saved  uint64     // value of changes covered by the last snapshot (under saveMu)

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ terminal.Store = (*Store)(nil)

// Open validates cfg, loads the snapshot at cfg.Path if it exists, replays the change log, and
// starts the periodic saver. Open writes nothing: a process that only reads the registry of a
// running node may open it too. log may be nil. Close the store to stop the saver and write a
// final snapshot.
func Open(cfg Config, log *zap.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{
		cfg:  cfg.withDefaults(),
		log:  log.Named("memstore"),
		stop: make(chan struct{}),
	}
	s.reset()
	if s.cfg.Path != "" {
		gen, err := s.load()
		if err != nil {
			return nil, err
		}
		s.clog = newChangeLog(s.cfg.Path, gen, s.log)
		if s.cfg.SnapshotInterval > 0 {
			s.wg.Add(1)
			go s.saver()
		}
	}
	return s, nil
}

// Close stops the periodic saver and writes a final snapshot if anything changed (which removes
// the change log). Later calls return the first call's result; operations after Close return
// terminal.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		if s.clog != nil {
			s.closeErr = s.save()
			s.clog.close()
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

// reset empties the registry.
func (s *Store) reset() {
	s.merchants = map[string]*terminal.Merchant{}
	s.mids = nil
	s.terminals = map[string]*terminal.Terminal{}
	s.tids = nil
	s.byMID = map[string][]string{}
	s.sns = map[string]string{}
	s.codes = map[string]*terminal.ActivationCode{}
}

// write is every write's frame: under the write lock fn checks the current state and returns
// the change to make (nil for none, which touches nothing); write logs it, applies it, releases
// the lock and then waits until the log line is durable. fn must not modify installed records.
func (s *Store) write(fn func() (*entry, error)) error {
	seq, err := s.commit(fn)
	if err != nil || seq == 0 {
		return err
	}
	return s.clog.wait(seq)
}

func (s *Store) commit(fn func() (*entry, error)) (uint64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	e, err := fn()
	if err != nil || e == nil {
		return 0, err
	}
	var seq uint64
	if s.clog != nil {
		if seq, err = s.clog.append(e); err != nil {
			return 0, err
		}
	}
	s.apply(e)
	s.changes++
	return seq, nil
}

// apply installs the records of e and updates the indexes; called with the write lock held, by
// live writes (after their checks) and by replay (after check).
func (s *Store) apply(e *entry) {
	if m := e.Merchant; m != nil {
		if _, ok := s.merchants[m.MID]; !ok {
			s.mids = insertSorted(s.mids, m.MID)
		}
		s.merchants[m.MID] = m
	}
	if t := e.Terminal; t != nil {
		if old, ok := s.terminals[t.TID]; !ok {
			s.tids = insertSorted(s.tids, t.TID)
			s.byMID[t.MID] = insertSorted(s.byMID[t.MID], t.TID)
		} else {
			if old.MID != t.MID {
				s.byMID[old.MID] = removeSorted(s.byMID[old.MID], t.TID)
				s.byMID[t.MID] = insertSorted(s.byMID[t.MID], t.TID)
			}
			if old.SN != "" && old.SN != t.SN && s.sns[old.SN] == t.TID {
				delete(s.sns, old.SN)
			}
		}
		if t.SN != "" {
			s.sns[t.SN] = t.TID
		}
		s.terminals[t.TID] = t
	}
	if e.DropCode != "" {
		delete(s.codes, e.DropCode)
	}
	if c := e.Code; c != nil {
		s.codes[c.TID] = c
	}
}

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
