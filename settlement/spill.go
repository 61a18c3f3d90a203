package settlement

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/posgate/posgate/journal"
)

// tidHash is FNV-1a (64 bit) of a TID followed by the splitmix64 finalizer (FNV alone
// leaves the high bits, which pick the partition, nearly equal for TIDs that differ in the
// last digit). It is fixed and unseeded, so the order of the output files — partitions are
// taken in hash order — is the same on every run and machine.
func tidHash(tid string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(tid); i++ {
		h ^= uint64(tid[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// spill writes journal records to partition files by the high bits of tidHash(TID): every
// record of one terminal — a sale, its void, refunds and reversals, which the gateway only
// accepts on the terminal of the original — lands in one partition, so a partition can be
// netted on its own. Records are stored in the journal's binary encoding, each prefixed by
// its uvarint length, in read (stream) order. Each partition collects spillChunk bytes in
// memory; full chunks are written by a goroutine of their own, so reading the journal and
// writing the disk overlap.
type spill struct {
	dir   string
	shift uint
	bufs  [][]byte
	n     []int
	buf   []byte

	chunks chan spillChunk
	done   chan error
	closed bool
	err    error
}

type spillChunk struct {
	p int
	b []byte
}

const spillChunkSize = 64 << 10

func newSpill(tempDir string, parts int) (*spill, error) {
	dir, err := os.MkdirTemp(tempDir, "posgate-settle-")
	if err != nil {
		return nil, fmt.Errorf("settlement: spill directory: %w", err)
	}
	s := &spill{dir: dir, shift: uint(64 - bits.TrailingZeros(uint(parts))), bufs: make([][]byte, parts),
		n: make([]int, parts), chunks: make(chan spillChunk, 8), done: make(chan error, 1)}
	go s.writer(parts)
	return s, nil
}

// writer appends chunks to their partition files.
func (s *spill) writer(parts int) {
	files := make([]*os.File, parts)
	var err error
	for c := range s.chunks {
		if err != nil {
			continue
		}
		f := files[c.p]
		if f == nil {
			if f, err = os.OpenFile(s.path(c.p), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
				continue
			}
			files[c.p] = f
		}
		_, err = f.Write(c.b)
	}
	for _, f := range files {
		if f != nil {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	s.done <- err
}

func (s *spill) partition(tid string) int {
	if s.shift == 64 {
		return 0
	}
	return int(tidHash(tid) >> s.shift)
}

func (s *spill) path(p int) string { return filepath.Join(s.dir, fmt.Sprintf("p%05d", p)) }

// add appends r to its partition.
func (s *spill) add(r *journal.Record) error {
	p := s.partition(r.TID)
	s.buf, _ = r.AppendBinary(s.buf[:0])
	b := s.bufs[p]
	if b == nil {
		b = make([]byte, 0, spillChunkSize)
	}
	b = binary.AppendUvarint(b, uint64(len(s.buf)))
	b = append(b, s.buf...)
	s.n[p]++
	if len(b) >= spillChunkSize-maxSpillRecord {
		s.chunks <- spillChunk{p, b}
		b = nil
	}
	s.bufs[p] = b
	return nil
}

// maxSpillRecord bounds one spilled record (length prefix included).
const maxSpillRecord = 4096 + binary.MaxVarintLen32

// close writes the remaining chunks and waits for the writer.
func (s *spill) close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	for p, b := range s.bufs {
		if len(b) > 0 {
			s.chunks <- spillChunk{p, b}
		}
		s.bufs[p] = nil
	}
	close(s.chunks)
	if err := <-s.done; err != nil {
		s.err = fmt.Errorf("settlement: spill: %w", err)
	}
	return s.err
}

// load reads partition p back: its records in spill order. It returns nil for an empty
// partition. The partition file is removed once read.
func (s *spill) load(p int, into []journal.Record) ([]journal.Record, error) {
	into = into[:0]
	if s.n[p] == 0 {
		return into, nil
	}
	data, err := os.ReadFile(s.path(p))
	if err != nil {
		return nil, fmt.Errorf("settlement: spill: %w", err)
	}
	_ = os.Remove(s.path(p))
	for off := 0; off < len(data); {
		l, n := binary.Uvarint(data[off:])
		if n <= 0 || l > uint64(len(data)-off-n) {
			return nil, fmt.Errorf("settlement: spill partition %d: %w", p, journal.ErrCorrupt)
		}
		off += n
		into = append(into, journal.Record{})
		if err := into[len(into)-1].UnmarshalBinary(data[off : off+int(l)]); err != nil {
			return nil, fmt.Errorf("settlement: spill partition %d: %w", p, err)
		}
		off += int(l)
	}
	return into, nil
}

// remove deletes the spill directory.
func (s *spill) remove() {
	_ = s.close()
	_ = os.RemoveAll(s.dir)
}
