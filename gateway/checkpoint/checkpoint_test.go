package checkpoint

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/internal/securefile"
	"github.com/posgate/posgate/journal"
)

func newState(t *testing.T) *memstate.State {
	t.Helper()
	st, err := memstate.New(memstate.Config{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestLoad: a checkpoint loads back as written, and every file that cannot be trusted — cut
// short, a flipped byte, another stream, the other topology — is refused with its reason before
// the State is touched.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.bin")
	now := time.Now().UTC()
	date := journal.DateOf(now)
	pos := journal.Position{Stream: "J", Created: now.Add(-time.Hour).Truncate(time.Microsecond), Last: 900}
	src := newState(t)
	tr := gateway.TxnRecord{ID: "t1", Type: journal.TypePurchase, TID: "T0000001", Batch: 1, STAN: 7, Amount: 1234,
		Status: gateway.TxnApproved, BusinessDate: date, CreatedAt: now}
	if err := src.PutTxn(ctx, tr); err != nil {
		t.Fatal(err)
	}
	intent := journal.Record{TxnID: "t2-I", Type: journal.TypeIntent, Of: journal.TypePurchase, MTI: "0200",
		ProcessingCode: "000000", Amount: 500, Currency: "156", CardKind: journal.CardDebit, TID: "T0000001",
		MID: "123456789012345", Batch: "000001", STAN: "000008", Route: "cup", RequestTime: now, ResponseTime: now,
		BusinessDate: date, Original: journal.OriginalRef{TxnID: "t2", Batch: "000001", STAN: "000008", Date: date},
		Upstream: journal.Upstream{MTI: "0200", STAN: 42, Transmission: now.Format("0102150405")}}
	c := &Checkpoint{Meta: Meta{Stream: pos.Stream, Created: pos.Created, Seq: 800, From: 800,
		Dates: []journal.Date{date.AddDays(-1), date}, State: true, Written: now, Day: now.Format("0102"),
		LastSTAN: map[string]uint32{"cup": 42}}, Open: map[string]journal.Record{"t2": intent}}
	writeFile := func(c *Checkpoint, st *memstate.State) []byte {
		t.Helper()
		if err := securefile.ReplaceWith(path, 0o600, func(f io.Writer) error { return write(f, c, st) }); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := writeFile(c, src)

	st := newState(t)
	got, err := Load(path, pos, st)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 800 || len(got.Dates) != 2 || got.Dates[1] != date || got.LastSTAN["cup"] != 42 || got.Open["t2"].Upstream.STAN != 42 {
		t.Fatalf("loaded %+v", got)
	}
	if back, err := st.GetTxn(ctx, tr.Key()); err != nil || back.Amount != 1234 {
		t.Fatalf("loaded txn %+v, %v", back, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}

	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x40
	for _, b := range []struct {
		name string
		data []byte
		pos  journal.Position
		st   bool
		want error
	}{
		{"cut short", good[:len(good)-9], pos, true, ErrDamaged},
		{"a flipped byte", flipped, pos, true, ErrDamaged},
		{"empty", nil, pos, true, ErrDamaged},
		{"a stream created anew", good, journal.Position{Stream: "J", Created: pos.Created.Add(time.Second), Last: 900}, true, ErrOtherStream},
		{"a stream behind the checkpoint", good, journal.Position{Stream: "J", Created: pos.Created, Last: 799}, true, ErrOtherStream},
		{"another stream", good, journal.Position{Stream: "K", Created: pos.Created, Last: 900}, true, ErrOtherStream},
		{"a node without a State", good, pos, false, ErrOtherTopology},
	} {
		if err := os.WriteFile(path, b.data, 0o600); err != nil {
			t.Fatal(err)
		}
		var into *memstate.State
		if b.st {
			into = newState(t)
		}
		if _, err := Load(path, b.pos, into); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
		if into != nil {
			if _, n := into.Digest(); n != 0 {
				t.Errorf("%s: the State holds %d entries of a refused file", b.name, n)
			}
		}
	}
	noState := *c
	noState.State = false
	writeFile(&noState, nil)
	if _, err := Load(path, pos, newState(t)); !errors.Is(err, ErrOtherTopology) {
		t.Errorf("a checkpoint without a State into one: %v, want ErrOtherTopology", err)
	}
	if got, err := Load(path, pos, nil); err != nil || got.Open["t2"].TxnID != "t2-I" {
		t.Errorf("a checkpoint without a State: %+v, %v", got, err)
	}
	if got, err := Load(filepath.Join(dir, "none.bin"), pos, nil); got != nil || err != nil {
		t.Errorf("no file: %v, %v; want nothing", got, err)
	}
}

// TestOverlap: without a State, a restart replays from the newest position sampled at least
// Overlap before the checkpoint, however often checkpoints are made.
func TestOverlap(t *testing.T) {
	w := &Writer{cfg: Config{Overlap: 2 * time.Minute}}
	t0 := time.Now()
	var samples []Sample
	for i := 1; i <= 200; i++ { // one checkpoint every 10 s
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		samples = w.samples(samples, Sample{At: at, Seq: uint64(i * 100)})
		from := w.from(samples, at)
		want := uint64(0)
		if i > 12 {
			want = uint64((i - 12) * 100) // the checkpoint 120 s before
		}
		if from != want {
			t.Fatalf("checkpoint %d: from %d, want %d (samples %v)", i, from, want, samples)
		}
		if len(samples) > 14 {
			t.Fatalf("checkpoint %d keeps %d samples", i, len(samples))
		}
	}
	// More checkpoints within Overlap than samples are kept: the old-enough one stays.
	w.cfg.Overlap = time.Hour
	for i := 201; i <= 600; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		samples = w.samples(samples, Sample{At: at, Seq: uint64(i * 100)})
		if len(samples) > maxSamples {
			t.Fatalf("%d samples", len(samples))
		}
	}
	if from := w.from(samples, t0.Add(600*10*time.Second)); from == 0 || from > 240*100 {
		t.Fatalf("from %d after an hour of 10 s checkpoints; want one at least an hour old", from)
	}
}
