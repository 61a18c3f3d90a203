package memstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/posgate/posgate/terminal"
)

// snapshotVersion is written into every snapshot. Open also reads version 1 (before the change
// log: it names no generation) and refuses others; version 2 is refused by code that predates the
// log, which would silently ignore the log.
const snapshotVersion = 2

// snapshot is the file format: JSON of the domain records with Go field names. Keys appear only
// as hsm.WrappedKey text ("TYPE:KCV:CIPHER", cipher under the LMK).
type snapshot struct {
	Version int
	// Log is the first change-log generation the snapshot does not cover: Open replays the logs
	// of this generation and later ones.
	Log       uint64 `json:",omitempty"`
	Merchants []*terminal.Merchant
	Terminals []*terminal.Terminal
	Codes     []*terminal.ActivationCode
}

// Save writes a snapshot now if anything changed since the last one, and so compacts the change
// log. It is called periodically and by Close; every acknowledged write is already durable
// without it.
func (s *Store) Save() error {
	if s.clog == nil {
		return nil
	}
	return s.save()
}

// save writes a snapshot and starts a new log generation. Under the write lock it only ends the
// generation and copies record pointers (records are copy-on-write); encoding and writing happen
// outside it.
func (s *Store) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	l := s.clog
	l.presync() // so that rotate rarely fsyncs under the lock
	s.mu.Lock()
	changes := s.changes
	if changes == s.saved && !l.failed() {
		s.mu.Unlock()
		return nil
	}
	gen := l.rotate()
	seq := l.seq.Load()
	snap := snapshot{Version: snapshotVersion, Log: gen}
	snap.Merchants = make([]*terminal.Merchant, 0, len(s.mids))
	for _, mid := range s.mids {
		snap.Merchants = append(snap.Merchants, s.merchants[mid])
	}
	snap.Terminals = make([]*terminal.Terminal, 0, len(s.tids))
	for _, tid := range s.tids {
		snap.Terminals = append(snap.Terminals, s.terminals[tid])
		if c, ok := s.codes[tid]; ok {
			snap.Codes = append(snap.Codes, c)
		}
	}
	s.mu.Unlock()
	data, err := json.Marshal(&snap)
	if err != nil {
		return fmt.Errorf("memstore: encode snapshot: %w", err)
	}
	if err := writeAtomic(s.cfg.Path, data); err != nil {
		return err // the logs stay: the old snapshot and every generation since still hold it all
	}
	s.saved = changes
	l.covered(gen, seq)
	l.removeBefore(gen)
	return nil
}

// writeAtomic replaces path with data so that a crash leaves either the old or the new file:
// write a temp file in the same directory (mode 0600), fsync it, rename it over path, fsync
// the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory, making the creation or renaming of its entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

// load reads the snapshot at cfg.Path (a missing file is an empty registry) and replays the
// change logs it does not cover. It returns the generation the store's next log line starts:
// a new one, so that no line is ever appended after a torn one.
func (s *Store) load() (uint64, error) {
	for attempt := 1; ; attempt++ {
		gen, err := s.loadOnce()
		if !errors.Is(err, errCompacted) || attempt == 5 {
			return gen, err
		}
		// The node that owns the files compacted while this store (a reader) was loading them.
		// Start over from the new snapshot.
		s.reset()
	}
}

// errCompacted reports that the snapshot was replaced, or a log file removed, while Open was
// reading them: another process owns the files and compacted meanwhile.
var errCompacted = errors.New("memstore: registry compacted while loading")

func (s *Store) loadOnce() (uint64, error) {
	// Keep the snapshot open until the logs are read: if it is still the file at Path then, no
	// compaction finished meanwhile, so no log this snapshot needs was deleted before we read it
	// (and, held open, its inode cannot be reused by the next snapshot).
	f, err := os.Open(s.cfg.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("memstore: load snapshot: %w", err)
	}
	var from uint64
	var before os.FileInfo
	if f != nil {
		defer f.Close()
		if before, err = f.Stat(); err != nil {
			return 0, fmt.Errorf("memstore: load snapshot: %w", err)
		}
		if from, err = s.loadSnapshot(f); err != nil {
			return 0, err
		}
	}
	gens, err := logGenerations(s.cfg.Path)
	if err != nil {
		return 0, err
	}
	next := max(from, 1)
	for _, g := range gens {
		next = max(next, g+1)
		if g < from {
			continue // covered by the snapshot; a crash came before its deletion
		}
		if err := s.replay(logName(s.cfg.Path, g)); err != nil {
			return 0, err
		}
	}
	after, err := os.Stat(s.cfg.Path)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("memstore: load snapshot: %w", err)
	case (before == nil) != (err != nil), before != nil && !os.SameFile(before, after):
		return 0, errCompacted
	}
	return next, nil
}

// loadSnapshot reads the snapshot from f and returns the log generation it names.
func (s *Store) loadSnapshot(f *os.File) (uint64, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("memstore: load snapshot: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return 0, fmt.Errorf("%w: %s", errSnapshot, jsonErrorKind(err))
	}
	if snap.Version != snapshotVersion && snap.Version != 1 {
		return 0, fmt.Errorf("%w: version %d, want %d", errSnapshot, snap.Version, snapshotVersion)
	}
	for _, m := range snap.Merchants {
		if m == nil || m.Validate() != nil || s.merchants[m.MID] != nil {
			return 0, fmt.Errorf("%w: bad or duplicate merchant", errSnapshot)
		}
		s.merchants[m.MID] = m
		s.mids = append(s.mids, m.MID)
	}
	for _, t := range snap.Terminals {
		if t == nil || t.Validate() != nil || s.terminals[t.TID] != nil || s.merchants[t.MID] == nil {
			return 0, fmt.Errorf("%w: bad or duplicate terminal", errSnapshot)
		}
		if t.SN != "" {
			if _, dup := s.sns[t.SN]; dup {
				return 0, fmt.Errorf("%w: serial number bound twice", errSnapshot)
			}
			s.sns[t.SN] = t.TID
		}
		s.terminals[t.TID] = t
		s.tids = append(s.tids, t.TID)
		s.byMID[t.MID] = append(s.byMID[t.MID], t.TID)
	}
	for _, c := range snap.Codes {
		if c == nil || s.terminals[c.TID] == nil || s.codes[c.TID] != nil {
			return 0, fmt.Errorf("%w: bad activation code", errSnapshot)
		}
		s.codes[c.TID] = c
	}
	// The snapshot is written in sorted order, but sort anyway: the file may be hand-edited.
	sortStrings(s.mids)
	sortStrings(s.tids)
	for _, l := range s.byMID {
		sortStrings(l)
	}
	return snap.Log, nil
}

// jsonErrorKind describes a decoding error without quoting the file's content.
func jsonErrorKind(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "wrong type for field " + typ.Field
	}
	return "undecodable"
}
