package memstore

// Crash tests: an acknowledged write must survive the process dying without Close. They use only
// the Store's API and its maps, so they also run against the snapshot-only store that preceded
// the change log (where they fail: that store lost up to one snapshot interval).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posgate/posgate/hsm"
	"github.com/posgate/posgate/terminal"
)

// state is everything a Store holds, for comparing two stores.
type state struct {
	Merchants map[string]terminal.Merchant
	Terminals map[string]terminal.Terminal
	Codes     map[string]terminal.ActivationCode
	SNs       map[string]string
	ByMID     map[string][]string
	MIDs      []string
	TIDs      []string
}

func dump(t testing.TB, s *Store) state {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := state{
		Merchants: map[string]terminal.Merchant{}, Terminals: map[string]terminal.Terminal{},
		Codes: map[string]terminal.ActivationCode{}, SNs: map[string]string{}, ByMID: map[string][]string{},
		MIDs: slices.Clone(s.mids), TIDs: slices.Clone(s.tids),
	}
	for k, v := range s.merchants {
		st.Merchants[k] = *v
	}
	for k, v := range s.terminals {
		st.Terminals[k] = v.Clone()
	}
	for k, v := range s.codes {
		st.Codes[k] = copyCode(v)
	}
	for k, v := range s.sns {
		st.SNs[k] = v
	}
	for k, v := range s.byMID {
		if len(v) > 0 {
			st.ByMID[k] = slices.Clone(v)
		}
	}
	return st
}

// sameState fails t unless the stores hold the same records and indexes.
func sameState(t *testing.T, got, want state) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for tid, w := range want.Terminals {
		if g, ok := got.Terminals[tid]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("terminal %s:\n got %+v\nwant %+v", tid, g, w)
		}
	}
	for mid, w := range want.Merchants {
		if g := got.Merchants[mid]; !reflect.DeepEqual(g, w) {
			t.Errorf("merchant %s:\n got %+v\nwant %+v", mid, g, w)
		}
	}
	for tid, w := range want.Codes {
		if g, ok := got.Codes[tid]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("code %s:\n got %+v (present %v)\nwant %+v", tid, g, ok, w)
		}
	}
	t.Errorf("state differs:\n got %+v\nwant %+v", got, want)
}

const (
	mid2 = "898310048169999"
	tid2 = "10000002"
	tid3 = "10000003"
	sn2  = "000001024501ABC222"
	sn2b = "000001024501ABC22B"
	sn3  = "000001024501ABC333"
)

// writeEverything makes at least one write of every kind after populate: merchant update and
// creation, terminal moved to another merchant, batch advance, block, SN rebind (which deletes an
// activation code), unbind and an issued code.
func writeEverything(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	populate(t, s)
	v := hsm.WrappedKey{Type: hsm.KeyACV, Cipher: []byte("verifier-2"), KCV: hsm.KCV{9, 9, 9, 9}}
	m, err := s.GetMerchant(ctx, mid)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "Renamed shop"
	steps := []struct {
		name string
		fn   func() error
	}{
		{"UpdateMerchant", func() error { _, err := s.UpdateMerchant(ctx, m); return err }},
		{"CreateMerchant", func() error {
			_, err := s.CreateMerchant(ctx, terminal.Merchant{MID: mid2, Name: "Other", MCC: "5812"})
			return err
		}},
		{"AdvanceBatch", func() error { _, err := s.AdvanceBatch(ctx, tid, terminal.FirstBatch); return err }},
		{"CreateTerminal 2", func() error {
			_, err := s.CreateTerminal(ctx, terminal.Terminal{TID: tid2, MID: mid, SN: sn2})
			return err
		}},
		{"IssueActivationCode 2", func() error { _, err := s.IssueActivationCode(ctx, tid2, v, 0); return err }},
		{"BindSN 2 (drops its code)", func() error { _, err := s.BindSN(ctx, tid2, sn2b); return err }},
		{"UpdateTerminal 2 (other merchant)", func() error {
			t2, err := s.GetTerminal(ctx, tid2)
			if err != nil {
				return err
			}
			t2.MID, t2.TargetVersion = mid2, "V2"
			_, err = s.UpdateTerminal(ctx, t2)
			return err
		}},
		{"CreateTerminal 3", func() error {
			_, err := s.CreateTerminal(ctx, terminal.Terminal{TID: tid3, MID: mid2, SN: sn3})
			return err
		}},
		{"IssueActivationCode 3", func() error { _, err := s.IssueActivationCode(ctx, tid3, v, 0); return err }},
		{"UnbindSN 3 (drops its code)", func() error { _, err := s.UnbindSN(ctx, tid3); return err }},
		{"Block", func() error { _, err := s.Block(ctx, tid, terminal.ReasonLost); return err }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
}

// TestAbandonWithoutClose: every acknowledged write is in a store opened on the same path while
// the first is neither closed nor saved (as after kill -9).
func TestAbandonWithoutClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	a, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	writeEverything(t, a)
	want := dump(t, a)

	b, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer b.Close()
	got := dump(t, b)
	sameState(t, got, want)

	// The same facts, spelled out.
	ctx := context.Background()
	if tm, err := b.GetTerminal(ctx, tid); err != nil || tm.Status != terminal.StatusBlocked || tm.KeyGeneration != 1 ||
		tm.Batch != terminal.FirstBatch.Next() || tm.Keys.TMK.IsZero() || tm.Keys.MAK.IsZero() || tm.SoftwareVersion != "V1" {
		t.Errorf("terminal 1 after reopen: %+v, %v", tm, err)
	}
	if m, err := b.GetMerchant(ctx, mid); err != nil || m.Name != "Renamed shop" || m.Revision != 2 {
		t.Errorf("merchant after reopen: %+v, %v", m, err)
	}
	if _, err := b.GetActivationCode(ctx, sn2b); err == nil {
		t.Error("the code dropped by BindSN came back")
	}
	if c, err := b.GetActivationCode(ctx, sn); err != nil || c.WrongProofs != 1 {
		t.Errorf("re-issued code of terminal 1: %+v, %v", c, err)
	}
	if p, err := b.ListTerminals(ctx, terminal.TerminalQuery{MID: mid2}); err != nil || len(p.Terminals) != 2 {
		t.Errorf("terminals of merchant 2 after reopen: %+v, %v", p, err)
	}
}

// TestKill9 runs the writes in a child process and SIGKILLs it while it is writing: every write
// the child acknowledged (printed "done") is in the store the parent opens afterwards. The child
// snapshots every 20 ms, so the kill also races compactions.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for round := range 3 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			cmd.Env = append(os.Environ(), "MEMSTORE_HELPER_PATH="+path)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill after a different number of acknowledged writes each round.
			killAfter := 150 + 97*round
			acked := map[string]int{} // TID → last step acknowledged
			lines := 0
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 3 || f[0] != "done" {
					continue
				}
				step, _ := strconv.Atoi(f[2])
				acked[f[1]] = step
				if lines++; lines == killAfter {
					break
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if lines < killAfter {
				t.Fatalf("child acknowledged only %d writes before it ended", lines)
			}

			s, err := Open(Config{Path: path, SnapshotInterval: -1}, nil)
			if err != nil {
				t.Fatalf("open after kill -9: %v", err)
			}
			defer s.Close()
			ctx := context.Background()
			for id, step := range acked {
				if id == "merchant" {
					if _, err := s.GetMerchant(ctx, mid); err != nil {
						t.Errorf("acknowledged merchant lost: %v", err)
					}
					continue
				}
				tm, err := s.GetTerminal(ctx, id)
				if err != nil {
					t.Errorf("terminal %s (acknowledged step %d) lost: %v", id, step, err)
					continue
				}
				// Later, unacknowledged steps may be there too: check "at least".
				if step >= helperActivate && tm.Status != terminal.StatusActive {
					t.Errorf("terminal %s: acknowledged activation lost (status %v)", id, tm.Status)
				}
				if step >= helperRotate && tm.KeyGeneration != 1 {
					t.Errorf("terminal %s: acknowledged sign-on lost (key generation %d)", id, tm.KeyGeneration)
				}
				if step >= helperBatch && tm.Batch != terminal.FirstBatch.Next() {
					t.Errorf("terminal %s: acknowledged batch advance lost (batch %v)", id, tm.Batch)
				}
			}
		})
	}
}

// Steps of the helper process, per terminal.
const (
	helperCreate = iota + 1
	helperIssue
	helperActivate
	helperRotate
	helperBatch
)

// TestHelperProcess is the child of TestKill9; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("MEMSTORE_HELPER_PATH")
	if path == "" {
		t.Skip("helper process for TestKill9")
	}
	s, err := Open(Config{Path: path, SnapshotInterval: 20 * time.Millisecond}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	must := func(err error, id string, step int) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stdout, "done %s %d\n", id, step) // unbuffered: the parent sees it now
	}
	_, err = s.CreateMerchant(ctx, terminal.Merchant{MID: mid, Name: "Shop", MCC: "5411"})
	must(err, "merchant", 1)
	v := hsm.WrappedKey{Type: hsm.KeyACV, Cipher: []byte("verifier"), KCV: hsm.KCV{1, 2, 3, 4}}
	tmk := hsm.WrappedKey{Type: hsm.KeyTMK, Cipher: []byte("tmk-under-lmk"), KCV: hsm.KCV{5, 6, 7, 8}}
	keys := terminal.Keys{
		PIK: hsm.WrappedKey{Type: hsm.KeyPIK, Cipher: []byte("pik-under-lmk")},
		MAK: hsm.WrappedKey{Type: hsm.KeyMAK, Cipher: []byte("mak-under-lmk")},
	}
	for i := 0; ; i++ {
		id, serial := fmt.Sprintf("3%07d", i), fmt.Sprintf("SN%08d", i)
		_, err := s.CreateTerminal(ctx, terminal.Terminal{TID: id, MID: mid, SN: serial})
		must(err, id, helperCreate)
		_, err = s.IssueActivationCode(ctx, id, v, 0)
		must(err, id, helperIssue)
		_, err = s.Activate(ctx, serial, v, tmk)
		must(err, id, helperActivate)
		_, err = s.RotateKeys(ctx, id, 0, keys, terminal.SignOnSeq(1, 1))
		must(err, id, helperRotate)
		_, err = s.AdvanceBatch(ctx, id, terminal.FirstBatch)
		must(err, id, helperBatch)
	}
}
