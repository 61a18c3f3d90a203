package memstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/posgate/posgate/terminal"
)

// snapshotVersion is written into every snapshot; Open refuses other versions.
const snapshotVersion = 1

// snapshot is the file format: JSON of the domain records with Go field names. Keys appear only
// as hsm.WrappedKey text ("TYPE:KCV:CIPHER", cipher under the LMK).
type snapshot struct {
	Version   int
	Merchants []*terminal.Merchant
	Terminals []*terminal.Terminal
	Codes     []*terminal.ActivationCode
}

// Save writes a snapshot now if anything changed since the last one. It is called
// periodically and by Close; callers may call it after important changes.
func (s *Store) Save() error {
	if s.cfg.Path == "" {
		return nil
	}
	return s.save()
}

func (s *Store) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.RLock()
	changes := s.changes
	if changes == s.saved {
		s.mu.RUnlock()
		return nil
	}
	snap := snapshot{Version: snapshotVersion}
	for _, mid := range s.mids {
		snap.Merchants = append(snap.Merchants, s.merchants[mid])
	}
	for _, tid := range s.tids {
		snap.Terminals = append(snap.Terminals, s.terminals[tid])
		if c, ok := s.codes[tid]; ok {
			snap.Codes = append(snap.Codes, c)
		}
	}
	data, err := json.Marshal(&snap)
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("memstore: encode snapshot: %w", err)
	}
	if err := writeAtomic(s.cfg.Path, data); err != nil {
		return err
	}
	s.saved = changes
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
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("memstore: snapshot: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("memstore: snapshot: sync dir: %w", err)
	}
	return nil
}

// load reads the snapshot at cfg.Path; a missing file is an empty registry.
func (s *Store) load() error {
	data, err := os.ReadFile(s.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("memstore: load snapshot: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %s", errSnapshot, jsonErrorKind(err))
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", errSnapshot, snap.Version, snapshotVersion)
	}
	for _, m := range snap.Merchants {
		if m == nil || m.Validate() != nil || s.merchants[m.MID] != nil {
			return fmt.Errorf("%w: bad or duplicate merchant", errSnapshot)
		}
		s.merchants[m.MID] = m
		s.mids = append(s.mids, m.MID)
	}
	for _, t := range snap.Terminals {
		if t == nil || t.Validate() != nil || s.terminals[t.TID] != nil || s.merchants[t.MID] == nil {
			return fmt.Errorf("%w: bad or duplicate terminal", errSnapshot)
		}
		if t.SN != "" {
			if _, dup := s.sns[t.SN]; dup {
				return fmt.Errorf("%w: serial number bound twice", errSnapshot)
			}
			s.sns[t.SN] = t.TID
		}
		s.terminals[t.TID] = t
		s.tids = append(s.tids, t.TID)
		s.byMID[t.MID] = append(s.byMID[t.MID], t.TID)
	}
	for _, c := range snap.Codes {
		if c == nil || s.terminals[c.TID] == nil || s.codes[c.TID] != nil {
			return fmt.Errorf("%w: bad activation code", errSnapshot)
		}
		s.codes[c.TID] = c
	}
	// The snapshot is written in sorted order, but sort anyway: the file may be hand-edited.
	sortStrings(s.mids)
	sortStrings(s.tids)
	for _, l := range s.byMID {
		sortStrings(l)
	}
	return nil
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
