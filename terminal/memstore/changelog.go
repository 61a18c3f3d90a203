package memstore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/posgate/posgate/terminal"
)

// ErrLogFailed is wrapped by the error of a write whose change-log line could not be written or
// fsynced, and of every write after it until a snapshot covers the store's state again (see
// the package comment).
var ErrLogFailed = errors.New("memstore: change log failed")

// errCorruptLog is wrapped by Open's error for a log line that is bad anywhere but at the end of
// its file. The text names the file and line, never the line's content.
var errCorruptLog = errors.New("memstore: corrupt change log")

// entry is one line of the change log: the whole new state of every record a write changed.
// Replaying an entry twice gives the same state, so replay needs no sequence numbers.
type entry struct {
	Merchant *terminal.Merchant       `json:",omitempty"`
	Terminal *terminal.Terminal       `json:",omitempty"`
	Code     *terminal.ActivationCode `json:",omitempty"`
	DropCode string                   `json:",omitempty"` // TID whose activation code is deleted
}

// A log line is "CRC SP JSON LF": CRC is the CRC-32C of JSON in 8 hex digits, so a line that
// still parses but was damaged on disk is noticed.
const crcLen = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendLine(dst []byte, e *entry) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return dst, fmt.Errorf("memstore: encode change: %w", err)
	}
	var crc [4]byte
	sum := crc32.Checksum(data, castagnoli)
	crc[0], crc[1], crc[2], crc[3] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	dst = hex.AppendEncode(dst[:0], crc[:])
	dst = append(dst, ' ')
	dst = append(dst, data...)
	return append(dst, '\n'), nil
}

// parseLine decodes a line without its LF; the error text never quotes the line.
func parseLine(line []byte) (*entry, error) {
	if len(line) < crcLen+2 || line[crcLen] != ' ' {
		return nil, errors.New("malformed line")
	}
	var crc [4]byte
	if _, err := hex.Decode(crc[:], line[:crcLen]); err != nil {
		return nil, errors.New("malformed checksum")
	}
	data := line[crcLen+1:]
	sum := crc32.Checksum(data, castagnoli)
	if sum != uint32(crc[0])<<24|uint32(crc[1])<<16|uint32(crc[2])<<8|uint32(crc[3]) {
		return nil, errors.New("checksum mismatch")
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, errors.New(jsonErrorKind(err))
	}
	return &e, nil
}

// logName is the file of generation gen of the log of the snapshot at path.
func logName(path string, gen uint64) string { return fmt.Sprintf("%s.log.%08d", path, gen) }

// logGenerations lists the generations of the log files next to the snapshot at path, ascending.
func logGenerations(path string) ([]uint64, error) {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("memstore: list change logs: %w", err)
	}
	prefix := filepath.Base(path) + ".log."
	var gens []uint64
	for _, de := range entries {
		name, ok := strings.CutPrefix(de.Name(), prefix)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		g, err := strconv.ParseUint(name, 10, 64)
		if err != nil || filepath.Base(logName(path, g)) != de.Name() {
			continue // not ours (or not in our spelling)
		}
		gens = append(gens, g)
	}
	slices.Sort(gens)
	return gens, nil
}

// changeLog is the write-ahead log of a Store with a Path.
//
// Lines are appended under the Store's write lock, so their order is the order of the changes,
// and fsynced by wait after the lock is released: one goroutine at a time (syncMu) fsyncs
// everything appended so far, and the writers that queued behind it find their lines already
// durable (group commit). An acknowledged line therefore implies every earlier line is durable.
//
// Generations: the log is split into files numbered by generation. A snapshot ends the current
// generation (rotate, under the Store's write lock) and names the next one; Open replays the
// logs from that generation on. A generation's file is created by its first line, so a store
// that only reads (posgate settle reading the registry of a running node) creates nothing.
type changeLog struct {
	path string // the snapshot's path
	log  *zap.Logger

	// gen changes only with both the Store's write lock and syncMu held; buf is used under the
	// Store's write lock.
	gen uint64
	buf []byte

	file  atomic.Pointer[os.File] // current generation's file; nil until its first line
	dirty atomic.Bool             // a file was created and the directory is not yet fsynced
	seq   atomic.Uint64           // lines appended over the store's life, stored after the write

	syncMu sync.Mutex
	synced uint64 // lines known durable (under syncMu)

	errMu  sync.Mutex
	err    error  // sticky failure, see fail
	errGen uint64 // generation the failure happened in
}

func newChangeLog(path string, gen uint64, log *zap.Logger) *changeLog {
	return &changeLog{path: path, gen: gen, log: log}
}

// append writes e as the next line; called with the Store's write lock held. It returns the
// line's sequence number for wait. On an error nothing may be applied: either no byte was
// written, or the log is failed (its tail is unknown) and takes no more lines.
func (l *changeLog) append(e *entry) (uint64, error) {
	if err := l.failure(); err != nil {
		return 0, err
	}
	line, err := appendLine(l.buf, e)
	if err != nil {
		return 0, err
	}
	l.buf = line
	f := l.file.Load()
	if f == nil {
		f, err = os.OpenFile(logName(l.path, l.gen), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if err != nil {
			return 0, l.fail(err)
		}
		l.file.Store(f)
		l.dirty.Store(true)
	}
	if _, err := f.Write(line); err != nil {
		return 0, l.fail(err)
	}
	return l.seq.Add(1), nil
}

// wait returns once line seq is durable. Called without the Store's lock.
func (l *changeLog) wait(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.syncLocked(seq)
}

// syncLocked makes lines up to seq durable; called with syncMu held.
func (l *changeLog) syncLocked(seq uint64) error {
	if l.synced >= seq {
		return nil
	}
	if err := l.failure(); err != nil {
		return err
	}
	// Load the count before the file: every line counted was written to the file loaded (or to
	// an earlier generation, which rotate made durable before it let the next one begin).
	target := l.seq.Load()
	if l.dirty.Swap(false) {
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			return l.fail(err)
		}
	}
	if f := l.file.Load(); f != nil {
		if err := f.Sync(); err != nil {
			return l.fail(err)
		}
	}
	l.synced = target
	return nil
}

// rotate ends the current generation and returns the next; called with the Store's write lock
// held. The ending generation's lines are made durable first, so no line of the next one is on
// disk before them. The caller fsyncs just before taking the lock (presync), so this rarely
// touches the disk. A failed log is not synced: the snapshot that follows covers its lines.
func (l *changeLog) rotate() uint64 {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	_ = l.syncLocked(l.seq.Load()) // on failure the log is failed; the snapshot covers it
	if f := l.file.Swap(nil); f != nil {
		f.Close()
	}
	l.dirty.Store(false)
	l.gen++
	return l.gen
}

// presync makes every line appended so far durable; called without the Store's lock.
func (l *changeLog) presync() { _ = l.wait(l.seq.Load()) }

// covered is called once a snapshot holding every change logged before generation gen (lines up
// to seq) is durable. A failure in an earlier generation no longer matters: the store takes
// writes again.
func (l *changeLog) covered(gen, seq uint64) {
	l.errMu.Lock()
	if l.err != nil && l.errGen < gen {
		l.err = nil
		l.log.Info("change log recovered: a snapshot covers every change", zap.Uint64("generation", gen))
	}
	l.errMu.Unlock()
	l.syncMu.Lock()
	l.synced = max(l.synced, seq)
	l.syncMu.Unlock()
}

// removeBefore deletes the log files of generations before gen (covered by a durable snapshot).
// Failures are only logged: a stale log is never replayed.
func (l *changeLog) removeBefore(gen uint64) {
	gens, err := logGenerations(l.path)
	if err != nil {
		l.log.Warn("cannot list old change logs", zap.Error(err))
		return
	}
	for _, g := range gens {
		if g >= gen {
			break
		}
		if err := os.Remove(logName(l.path, g)); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.log.Warn("cannot remove old change log", zap.Error(err))
		}
	}
}

// close closes the current file; the Store is closed and its last snapshot written.
func (l *changeLog) close() {
	if f := l.file.Swap(nil); f != nil {
		f.Close()
	}
}

// fail records the first failure; the log takes no more lines until covered.
func (l *changeLog) fail(err error) error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("%w: %w", ErrLogFailed, err)
		l.errGen = l.gen
		l.log.Error("change log failed: writes are refused until a snapshot succeeds", zap.Error(err))
	}
	return l.err
}

func (l *changeLog) failure() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

// failed reports whether the log is failed.
func (l *changeLog) failed() bool { return l.failure() != nil }
