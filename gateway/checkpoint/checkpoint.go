// Package checkpoint keeps a node's replay of the journal in a file, so that a node restarted
// after a crash loads it and replays only the records journaled since, instead of whole days
// (docs/gateway.md, "Checkpoints").
//
// A checkpoint is made in the background, from the journal alone, never from the serving State:
// the previous checkpoint is loaded into a State of its own (a shadow), the journal records that
// followed it are replayed into the shadow exactly as a restart would replay them, and the
// shadow is written out with the stream position it reached. The file therefore always holds
// replay(journal up to position) — whatever the serving State held at the time, whatever was in
// flight — and a restart that loads it and replays the records after the position ends in the
// State a replay from the first record would have built.
//
// A node on Redis (its State survives) checkpoints no State, only what the replay carries
// besides it: the open write-ahead intents and today's upstream STANs. Its restart replays from
// an earlier position (Config.Overlap before the checkpoint), so answers the crash left
// unstored in Redis are restored from the records just before it.
package checkpoint

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
	"time"

	"github.com/posgate/posgate/gateway"
	"github.com/posgate/posgate/gateway/memstate"
	"github.com/posgate/posgate/journal"
)

// Journal is what checkpoints read (journal.Journal).
type Journal interface {
	Position(ctx context.Context) (journal.Position, error)
	ReadRange(ctx context.Context, d journal.Date, r journal.Range, fn func(journal.Record) error) error
}

// ErrDamaged is wrapped by Load's error for a file that is not a checkpoint, is cut short or
// fails its checksum. The node then replays from the first record, as without a checkpoint.
var ErrDamaged = errors.New("checkpoint: damaged file")

// ErrOtherStream is wrapped by Load's error for a checkpoint of another journal stream — the
// stream was created anew (its data wiped) or the file belongs to another installation.
var ErrOtherStream = errors.New("checkpoint: written for another journal stream")

// ErrOtherTopology is wrapped by Load's error for a checkpoint with a State loaded without one
// (the node moved to Redis) or the other way round.
var ErrOtherTopology = errors.New("checkpoint: written for a node with another State")

// fileMagic begins a checkpoint file; the last 4 bytes are the CRC-32C of everything before.
const fileMagic = "posgate checkpoint 1\n"

// maxMeta bounds the JSON header a checkpoint file may declare.
const maxMeta = 1 << 20

// Sample is the journal's last stream sequence at a moment: a checkpoint keeps the last few, so
// the next can tell which position lies far enough in the past (Config.Overlap).
type Sample struct {
	At  time.Time `json:"at"`
	Seq uint64    `json:"seq"`
}

// Meta is a checkpoint's header.
type Meta struct {
	Stream  string    `json:"stream"`  // the journal's stream
	Created time.Time `json:"created"` // and its creation time (journal.Position)
	// Seq is the stream position the checkpoint replayed up to; From is the position a
	// restart replays from — Seq when the State is in the file, earlier otherwise.
	Seq  uint64 `json:"seq"`
	From uint64 `json:"from"`
	// Dates are the business dates replayed; a restart reads a date not among them from its
	// first record.
	Dates []journal.Date `json:"dates"`
	// State: the file holds the replayed State (the embedded node's memstate).
	State   bool      `json:"state"`
	Written time.Time `json:"written"`
	// Records counts the records replayed into this checkpoint since the previous one.
	Records int `json:"records"`
	// Day and LastSTAN are gateway.Replayed's (the open intents follow the header).
	Day      string            `json:"day"`
	LastSTAN map[string]uint32 `json:"last_stan"`
	Samples  []Sample          `json:"samples"`
}

// Checkpoint is a loaded checkpoint.
type Checkpoint struct {
	Meta
	Open map[string]journal.Record
}

// Replayed returns what the replay that made c left besides the State.
func (c *Checkpoint) Replayed() *gateway.Replayed {
	return &gateway.Replayed{Open: c.Open, Day: c.Day, LastSTAN: c.LastSTAN}
}

// Recovery returns the gateway.Recovery of a restart that continues from c (nil: from the
// first record) over dates, and the journal source it reads: each date from c's position when
// c replayed it, from its first record otherwise.
func (c *Checkpoint) Recovery(j Journal, dates []journal.Date, rebuild bool) (gateway.Recovery, gateway.JournalSource) {
	r := gateway.Recovery{Dates: dates, Rebuild: rebuild}
	src := rangeSource{j: j}
	if c != nil {
		r.From = c.Replayed()
		src.after, src.dates = c.From, c.Dates
	}
	return r, src
}

// rangeSource reads each date after a position: the dates a checkpoint replayed from the
// position, the others from their first record; no further than upTo (0: to the end).
type rangeSource struct {
	j     Journal
	after uint64
	dates []journal.Date
	upTo  uint64
}

func (s rangeSource) Read(ctx context.Context, d journal.Date, fn func(journal.Record) error) error {
	r := journal.Range{UpTo: s.upTo}
	if slices.Contains(s.dates, d) {
		r.After = s.after
	}
	return s.j.ReadRange(ctx, d, r, fn)
}

// Load reads the checkpoint at path and loads the State it holds into st, which must be empty;
// st is nil for a node whose State is elsewhere (Redis), whose checkpoints hold none. It returns
// nil and no error when there is no file. The file is checked whole (checksum) before st is
// touched; it must belong to the stream at pos.
func Load(path string, pos journal.Position, st *memstate.State) (*Checkpoint, error) {
	c, f, br, err := open(path)
	if c == nil || err != nil {
		return nil, err
	}
	defer f.Close()
	if c.Stream != pos.Stream || !c.Created.Equal(pos.Created) || c.Seq > pos.Last {
		return nil, fmt.Errorf("%w: %s created %s at %d, the journal is %s created %s at %d", ErrOtherStream,
			c.Stream, c.Created.Format(time.RFC3339Nano), c.Seq, pos.Stream, pos.Created.Format(time.RFC3339Nano), pos.Last)
	}
	if c.State != (st != nil) {
		return nil, fmt.Errorf("%w: state in the file %t", ErrOtherTopology, c.State)
	}
	if st != nil {
		if err := st.ReadSnapshot(br); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
	}
	return c, nil
}

// Inspect reads the checkpoint at path (checked whole) without loading its State; nil and no
// error when there is none.
func Inspect(path string) (*Checkpoint, error) {
	c, f, _, err := open(path)
	if f != nil {
		f.Close()
	}
	return c, err
}

// open opens and verifies the checkpoint at path and reads its header; the reader is then at
// the State. Nothing and no error when there is no file.
func open(path string) (*Checkpoint, *os.File, *bufio.Reader, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, br, err := func() (*Checkpoint, *bufio.Reader, error) {
		if err := verify(f); err != nil {
			return nil, nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, fmt.Errorf("checkpoint: %w", err)
		}
		br := bufio.NewReaderSize(f, 1<<16)
		c, err := readHeader(br)
		return c, br, err
	}()
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return c, f, br, nil
}

// verify checks the file's length and trailing CRC-32C.
func verify(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	size := info.Size()
	if size < int64(len(fileMagic))+4 {
		return fmt.Errorf("%w: %d bytes", ErrDamaged, size)
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.CopyN(h, f, size-4); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var sum [4]byte
	if _, err := io.ReadFull(f, sum[:]); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if binary.BigEndian.Uint32(sum[:]) != h.Sum32() {
		return fmt.Errorf("%w: checksum mismatch", ErrDamaged)
	}
	return nil
}

// readHeader reads the magic, the JSON header and the open intents.
func readHeader(br *bufio.Reader) (*Checkpoint, error) {
	magic := make([]byte, len(fileMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != fileMagic {
		return nil, fmt.Errorf("%w: not a checkpoint", ErrDamaged)
	}
	c := &Checkpoint{}
	meta, err := readChunk(br, maxMeta)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(meta, &c.Meta); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrDamaged, err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: intents: %v", ErrDamaged, err)
	}
	c.Open = make(map[string]journal.Record, min(n, 1<<16))
	for range n {
		b, err := readChunk(br, 1<<16)
		if err != nil {
			return nil, err
		}
		var rec journal.Record
		if err := rec.UnmarshalBinary(b); err != nil || rec.Type != journal.TypeIntent {
			return nil, fmt.Errorf("%w: intent: %v", ErrDamaged, err)
		}
		c.Open[rec.Original.TxnID] = rec
	}
	return c, nil
}

func readChunk(br *bufio.Reader, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil || n > limit {
		return nil, fmt.Errorf("%w: bad length", ErrDamaged)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return b, nil
}

// write writes a checkpoint: header, open intents, the State (st, when not nil), checksum.
func write(w io.Writer, c *Checkpoint, st *memstate.State) error {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<16)
	meta, err := json.Marshal(&c.Meta)
	if err != nil {
		return fmt.Errorf("checkpoint: header: %w", err)
	}
	bw.WriteString(fileMagic)
	bw.Write(binary.AppendUvarint(nil, uint64(len(meta))))
	bw.Write(meta)
	bw.Write(binary.AppendUvarint(nil, uint64(len(c.Open))))
	var rec []byte
	for _, in := range c.Open {
		if rec, err = in.AppendBinary(rec[:0]); err != nil {
			return fmt.Errorf("checkpoint: intent: %w", err)
		}
		bw.Write(binary.AppendUvarint(nil, uint64(len(rec))))
		bw.Write(rec)
	}
	if st != nil {
		if err := st.WriteSnapshot(bw); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = w.Write(binary.BigEndian.AppendUint32(nil, h.Sum32()))
	return err
}
