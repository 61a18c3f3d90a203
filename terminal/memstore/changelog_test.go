package memstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/posgate/posgate/terminal"
)

func openAt(t *testing.T, path string, log *zap.Logger) *Store {
	t.Helper()
	s, err := Open(Config{Path: path, SnapshotInterval: -1}, log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// logFiles returns the change-log generations next to path.
func logFiles(t *testing.T, path string) []uint64 {
	t.Helper()
	gens, err := logGenerations(path)
	if err != nil {
		t.Fatal(err)
	}
	return gens
}

// newestLog is the file of the newest generation; the test fails if there is none.
func newestLog(t *testing.T, path string) string {
	t.Helper()
	gens := logFiles(t, path)
	if len(gens) == 0 {
		t.Fatal("no change log")
	}
	return logName(path, gens[len(gens)-1])
}

func TestLogFileHoldsNoKeyBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	s := openAt(t, path, nil)
	writeEverything(t, s)
	name := newestLog(t, path)
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(name)
	for _, raw := range []string{"tmk-under-lmk", "pik-under-lmk", "verifier-bytes"} {
		if bytes.Contains(data, []byte(raw)) {
			t.Errorf("log holds key bytes %q outside wrapped-key text", raw)
		}
	}
	// populate makes 8 writes, writeEverything 11 more.
	if n := bytes.Count(data, []byte{'\n'}); n != 19 {
		t.Errorf("log holds %d lines, want one per write (19)", n)
	}
}

func TestTornLastLine(t *testing.T) {
	for _, tc := range []struct{ name, tail string }{
		{"no newline", `1234abcd {"Terminal":{"TID":"1000`},
		{"zeros", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"bad checksum", `00000000 {"DropCode":"10000001"}` + "\n"},
		{"not json", "00000000 {\"Ter\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			a := openAt(t, path, nil)
			writeEverything(t, a)
			want := dump(t, a)
			f, err := os.OpenFile(newestLog(t, path), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(tc.tail)
			f.Close()

			core, logs := observer.New(zapcore.WarnLevel)
			b := openAt(t, path, zap.New(core))
			sameState(t, dump(t, b), want)
			if logs.FilterMessageSnippet("torn last line").Len() != 1 {
				t.Errorf("no warning about the torn line; logged %v", logs.All())
			}
			// The next write goes to a new generation, never after the torn line.
			if _, err := b.AdvanceBatch(context.Background(), tid, terminal.FirstBatch.Next()); err != nil {
				t.Fatal(err)
			}
			want = dump(t, b)
			sameState(t, dump(t, openAt(t, path, nil)), want)
		})
	}
}

func TestCorruptMiddleLine(t *testing.T) {
	unknownMerchant, err := appendLine(nil, &entry{Terminal: &terminal.Terminal{
		TID: "10000009", MID: "898310000000000", Status: terminal.StatusPending, Operators: terminal.Operators{"01"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(lines [][]byte)
	}{
		{"flipped byte", func(l [][]byte) { l[2][len(l[2])/2] ^= 0x01 }},
		{"blank line", func(l [][]byte) { l[2] = nil }},
		{"valid checksum, impossible change", func(l [][]byte) { l[2] = bytes.TrimSuffix(unknownMerchant, []byte{'\n'}) }},
		{"truncated line", func(l [][]byte) { l[2] = l[2][:len(l[2])/2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			writeEverything(t, openAt(t, path, nil))
			name := newestLog(t, path)
			data, _ := os.ReadFile(name)
			lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
			tc.spoil(lines)
			if err := os.WriteFile(name, append(bytes.Join(lines, []byte{'\n'}), '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
			if !errors.Is(err, errCorruptLog) {
				t.Fatalf("Open: %v, want errCorruptLog", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, "line 3") {
				t.Errorf("error %q: want one line naming line 3", msg)
			}
			for _, secret := range []string{"tmk-under-lmk", strings.ToUpper(hex.EncodeToString([]byte("tmk-under-lmk"))), "Renamed"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q quotes the log", msg)
				}
			}
		})
	}
}

// TestCompaction: a snapshot ends the generation and removes the older logs; the state still
// reloads, with the writes made after the snapshot.
func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	s := openAt(t, path, nil)
	writeEverything(t, s)
	if got := logFiles(t, path); len(got) != 1 || got[0] != 1 {
		t.Fatalf("logs before the snapshot: %v, want [1]", got)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if got := logFiles(t, path); len(got) != 0 {
		t.Errorf("logs after the snapshot: %v, want none (the next generation starts with its first write)", got)
	}
	var snap snapshot
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &snap); err != nil || snap.Log != 2 || snap.Version != snapshotVersion {
		t.Errorf("snapshot names generation %d (version %d, %v), want 2", snap.Log, snap.Version, err)
	}
	ctx := context.Background()
	if _, err := s.AdvanceBatch(ctx, tid2, terminal.FirstBatch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unblock(ctx, tid); err != nil {
		t.Fatal(err)
	}
	if got := logFiles(t, path); len(got) != 1 || got[0] != 2 {
		t.Errorf("logs after more writes: %v, want [2]", got)
	}
	sameState(t, dump(t, openAt(t, path, nil)), dump(t, s))

	// Close compacts too: only the snapshot is left.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("after Close the directory holds %d entries, want the snapshot only", len(entries))
	}
}

// TestCrashBetweenRenameAndDeletion: the new snapshot and the log it covers both exist. Open
// skips the covered log; and even replaying it over the snapshot (lines are idempotent) changes
// nothing.
func TestCrashBetweenRenameAndDeletion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	s := openAt(t, path, nil)
	writeEverything(t, s)
	oldLog := newestLog(t, path)
	covered, _ := os.ReadFile(oldLog)
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldLog, covered, 0o600); err != nil { // as if the deletion never ran
		t.Fatal(err)
	}
	if _, err := s.AdvanceBatch(context.Background(), tid2, terminal.FirstBatch); err != nil {
		t.Fatal(err)
	}
	want := dump(t, s)
	sameState(t, dump(t, openAt(t, path, nil)), want)

	// Make the snapshot name the covered generation: its lines are replayed over a state that
	// already holds them, then the newer generation's.
	var snap map[string]any
	data, _ := os.ReadFile(path)
	json.Unmarshal(data, &snap)
	snap["Log"] = 1
	data, _ = json.Marshal(snap)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sameState(t, dump(t, openAt(t, path, nil)), want)
}

// TestAppendFailure: a write whose line cannot be written fails and is not applied; later writes
// fail too until a snapshot covers the state; then writes are logged again.
func TestAppendFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	s := openAt(t, path, nil)
	populate(t, s)
	ctx := context.Background()
	s.clog.file.Load().Close() // every write to it now fails

	if _, err := s.AdvanceBatch(ctx, tid, terminal.FirstBatch); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("AdvanceBatch with a broken log: %v, want ErrLogFailed", err)
	}
	if got, _ := s.GetTerminal(ctx, tid); got.Batch != terminal.FirstBatch {
		t.Errorf("failed write applied: batch %v", got.Batch)
	}
	if err := s.Seen(ctx, tid, "V9"); !errors.Is(err, ErrLogFailed) {
		t.Errorf("Seen after a failure: %v, want ErrLogFailed", err)
	}
	if _, err := s.GetTerminal(ctx, tid); err != nil {
		t.Errorf("reads must go on: %v", err)
	}

	if err := s.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := s.AdvanceBatch(ctx, tid, terminal.FirstBatch); err != nil {
		t.Fatalf("AdvanceBatch after the snapshot: %v", err)
	}
	want := dump(t, s)
	r := openAt(t, path, nil)
	sameState(t, dump(t, r), want)
	if got, _ := r.GetTerminal(ctx, tid); got.Batch != terminal.FirstBatch.Next() || got.SoftwareVersion != "V1" {
		t.Errorf("after reopen: batch %v version %q, want the one acknowledged advance and no V9", got.Batch, got.SoftwareVersion)
	}
}

// TestReaderWritesNothing: a store that only reads (posgate settle next to a running node)
// creates, rewrites and deletes no file, even when closed.
func TestReaderWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	w := openAt(t, path, nil)
	writeEverything(t, w)
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AdvanceBatch(context.Background(), tid2, terminal.FirstBatch); err != nil {
		t.Fatal(err)
	}
	listing := func() string {
		entries, _ := os.ReadDir(filepath.Dir(path))
		var b strings.Builder
		for _, e := range entries {
			fi, _ := e.Info()
			b.WriteString(e.Name() + " " + fi.ModTime().String() + "\n")
		}
		return b.String()
	}
	before := listing()
	r, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, dump(t, r), dump(t, w))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := listing(); after != before {
		t.Errorf("reader changed the directory:\nbefore %s\nafter %s", before, after)
	}
}

// TestConcurrentWritesAndCompaction: writers on many terminals, readers and a saver running every
// millisecond; the store abandoned without Close reloads to the same state.
func TestConcurrentWritesAndCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	s, err := Open(Config{Path: path, SnapshotInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := s.CreateMerchant(ctx, terminal.Merchant{MID: mid, Name: "Shop", MCC: "5411"}); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(2)
		id := benchTID(w)
		go func() {
			defer wg.Done()
			if _, err := s.CreateTerminal(ctx, terminal.Terminal{TID: id, MID: mid}); err != nil {
				t.Error(err)
				return
			}
			b := terminal.FirstBatch
			for range rounds {
				next, err := s.AdvanceBatch(ctx, id, b)
				if err != nil {
					t.Error(err)
					return
				}
				b = next
				if err := s.Seen(ctx, id, "V"+b.String()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				s.GetTerminal(ctx, id)
				s.ListTerminals(ctx, terminal.TerminalQuery{})
			}
		}()
	}
	wg.Wait()
	want := dump(t, s)
	got := dump(t, openAt(t, path, nil))
	sameState(t, got, want)
	if tm := got.Terminals[benchTID(3)]; tm.Batch != terminal.Batch(1+rounds) {
		t.Errorf("batch %v after %d advances", tm.Batch, rounds)
	}
}

func TestOpenVersion1Snapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	v1 := `{"Version":1,"Merchants":[{"MID":"898310048161234","Name":"S","MCC":"5411"}]}`
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path, nil)
	if _, err := s.GetMerchant(context.Background(), mid); err != nil {
		t.Errorf("merchant of a version 1 snapshot: %v", err)
	}
}

// TestOpenDuringCompaction: a reader (posgate settle) opening the files of a running node that
// writes and compacts every millisecond sees at least every write acknowledged before Open.
func TestOpenDuringCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	w, err := Open(Config{Path: path, SnapshotInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ctx := context.Background()
	if _, err := w.CreateMerchant(ctx, terminal.Merchant{MID: mid, Name: "Shop", MCC: "5411"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateTerminal(ctx, terminal.Terminal{TID: tid, MID: mid}); err != nil {
		t.Fatal(err)
	}
	var acked sync.Map // "batch" → last acknowledged batch
	acked.Store("batch", terminal.FirstBatch)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := terminal.FirstBatch
		for {
			select {
			case <-stop:
				return
			default:
			}
			next, err := w.AdvanceBatch(ctx, tid, b)
			if err != nil {
				t.Error(err)
				return
			}
			b = next
			acked.Store("batch", b)
		}
	}()
	for range 100 {
		v, _ := acked.Load("batch")
		min := v.(terminal.Batch)
		r, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
		if err != nil {
			t.Fatalf("Open next to a compacting writer: %v", err)
		}
		got, err := r.GetTerminal(ctx, tid)
		if err != nil || got.Batch < min {
			t.Errorf("reader sees batch %v (%v), want at least %v", got.Batch, err, min)
		}
		r.Close()
	}
	close(stop)
	<-done
}
