package memstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/posgate/posgate/terminal"
)

// replay applies the lines of the log file name in order. The last line may be torn by a crash
// in the middle of its append (no newline, or a checksum or syntax that fails): it was never
// acknowledged, and is ignored with a warning. Any other bad line is corruption.
func (s *Store) replay(name string) error {
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return errCompacted // listed, then deleted by a compaction
	}
	if err != nil {
		return fmt.Errorf("memstore: load change log: %w", err)
	}
	base := filepath.Base(name)
	applied := 0
	for n := 1; len(data) > 0; n++ {
		line, rest, complete := bytes.Cut(data, []byte{'\n'})
		data = rest
		e, err := parseLine(line)
		if !complete || (err != nil && len(data) == 0) {
			s.log.Warn("change log: ignoring a torn last line (a crash during its append)",
				zap.String("file", base), zap.Int("line", n))
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %s line %d: %v", errCorruptLog, base, n, err)
		}
		if reason := s.check(e); reason != "" {
			return fmt.Errorf("%w: %s line %d: %s", errCorruptLog, base, n, reason)
		}
		s.apply(e)
		applied++
	}
	if applied > 0 {
		s.log.Info("replayed change log", zap.String("file", base), zap.Int("changes", applied))
	}
	return nil
}

// check validates a replayed entry against the state built so far, as loadSnapshot validates
// records. It returns "" or a reason that never holds a value.
func (s *Store) check(e *entry) string {
	if e.Merchant == nil && e.Terminal == nil && e.Code == nil && e.DropCode == "" {
		return "empty change"
	}
	if m := e.Merchant; m != nil && m.Validate() != nil {
		return "bad merchant"
	}
	hasTerminal := func(tid string) bool {
		_, ok := s.terminals[tid]
		return ok || (e.Terminal != nil && e.Terminal.TID == tid)
	}
	if t := e.Terminal; t != nil {
		if t.Validate() != nil {
			return "bad terminal"
		}
		if _, ok := s.merchants[t.MID]; !ok {
			return "terminal of an unknown merchant"
		}
		if holder, ok := s.sns[t.SN]; t.SN != "" && ok && holder != t.TID {
			return "serial number bound twice"
		}
	}
	if e.DropCode != "" && !hasTerminal(e.DropCode) {
		return "activation code of an unknown terminal"
	}
	if c := e.Code; c != nil && (!hasTerminal(c.TID) || terminal.ValidSN(c.SN) != nil) {
		return "bad activation code"
	}
	return ""
}
