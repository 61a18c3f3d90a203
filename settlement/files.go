package settlement

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// File names of a run, in OUT/<YYYYMMDD>/.
const (
	FileMerchants    = "merchants.csv"
	FileTransactions = "transactions.csv"
	FileBatches      = "batches.csv"
	FileSummary      = "summary.json"
)

// Files lists a run's files in the order they are described in the summary.
var Files = []string{FileMerchants, FileTransactions, FileBatches, FileSummary}

// IsFile reports whether name is one of a run's files.
func IsFile(name string) bool {
	for _, f := range Files {
		if f == name {
			return true
		}
	}
	return false
}

// CSV headers.
var (
	merchantsHeader = []string{"business_date", "mid", "name", "account", "fee_plan", "sales_count", "gross_fen",
		"refund_count", "refunds_fen", "fees_fen", "net_fen", "excluded_count"}
	transactionsHeader = []string{"business_date", "txn_id", "type", "status", "reason", "mid", "tid", "batch",
		"stan", "rrn", "auth_code", "masked_pan", "card_kind", "amount_fen", "fee_fen", "net_fen",
		"original_txn_id", "original_date", "request_time"}
	batchesHeader = []string{"business_date", "mid", "tid", "batch", "journal_debit_count", "journal_debit_fen",
		"journal_credit_count", "journal_credit_fen", "result", "terminal_debit_count", "terminal_debit_fen",
		"terminal_credit_count", "terminal_credit_fen", "posgate_debit_count", "posgate_debit_fen",
		"posgate_credit_count", "posgate_credit_fen", "differences"}
)

// hashedFile writes a file through a buffer while hashing it.
type hashedFile struct {
	name string
	f    *os.File
	w    *asyncWriter // hashes and writes on its own goroutine
	h    hash.Hash
	n    int64
	rows int64
	line []byte // the row being built
}

func createHashed(dir, name string) (*hashedFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("settlement: %w", err)
	}
	h := sha256.New()
	return &hashedFile{name: name, f: f, w: newAsyncWriter(io.MultiWriter(h, f)), h: h}, nil
}

func (hf *hashedFile) Write(p []byte) (int, error) {
	hf.n += int64(len(p))
	return hf.w.Write(p)
}

// header writes the CSV header line (not counted as a row).
func (hf *hashedFile) header(cols []string) error {
	hf.line = hf.line[:0]
	for _, c := range cols {
		hf.field(c)
	}
	return hf.endRow(false)
}

// field appends one CSV field to the current row, quoted when it holds a comma, quote or
// line break (RFC 4180).
func (hf *hashedFile) field(s string) {
	if len(hf.line) > 0 {
		hf.line = append(hf.line, ',')
	}
	quote := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		hf.line = append(hf.line, s...)
		return
	}
	hf.line = append(hf.line, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			hf.line = append(hf.line, '"')
		}
		hf.line = append(hf.line, s[i])
	}
	hf.line = append(hf.line, '"')
}

func (hf *hashedFile) int(v int64) {
	if len(hf.line) > 0 {
		hf.line = append(hf.line, ',')
	}
	hf.line = strconv.AppendInt(hf.line, v, 10)
}

// raw appends a field that needs no quoting, built by fn.
func (hf *hashedFile) raw(fn func([]byte) []byte) {
	if len(hf.line) > 0 {
		hf.line = append(hf.line, ',')
	}
	hf.line = fn(hf.line)
}

func (hf *hashedFile) endRow(count bool) error {
	hf.line = append(hf.line, '\n')
	_, err := hf.Write(hf.line)
	hf.line = hf.line[:0]
	if count {
		hf.rows++
	}
	return err
}

// close flushes, fsyncs and closes the file and returns its description.
func (hf *hashedFile) close() (FileInfo, error) {
	err := hf.w.Close()
	hf.w = nil
	if err == nil {
		err = hf.f.Sync()
	}
	if cerr := hf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return FileInfo{}, fmt.Errorf("settlement: write %s: %w", hf.name, err)
	}
	return FileInfo{Name: hf.name, SHA256: hex.EncodeToString(hf.h.Sum(nil)), Bytes: hf.n, Rows: hf.rows}, nil
}

// abort releases the file of a run that failed (a no-op after close).
func (hf *hashedFile) abort() {
	if hf.w != nil {
		_ = hf.w.Close()
		hf.w = nil
		_ = hf.f.Close()
	}
}

// writeFileSynced writes data to dir/name and fsyncs it.
func writeFileSynced(dir, name string, data []byte) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("settlement: write %s: %w", name, err)
	}
	return nil
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// publish moves the finished temporary directory tmp to final, replacing an earlier run's
// directory; a reader sees either the old or the new set of files, never a mix.
func publish(tmp, final string) error {
	old := ""
	if _, err := os.Stat(final); err == nil {
		old = filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".old-"+randomSuffix())
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("settlement: publish: %w", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			_ = os.Rename(old, final)
		}
		return fmt.Errorf("settlement: publish: %w", err)
	}
	if old != "" {
		_ = os.RemoveAll(old)
	}
	if d, err := os.Open(filepath.Dir(final)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// OpenFile opens file name of the run published for date dir name under out. It refuses
// names that are not run files (no path traversal).
func OpenFile(out, dateDir, name string) (io.ReadSeekCloser, error) {
	if !IsFile(name) || len(dateDir) != 8 {
		return nil, ErrBadFile
	}
	if _, err := ParseDate(dateDir); err != nil {
		return nil, ErrBadFile
	}
	f, err := os.Open(filepath.Join(out, dateDir, name))
	if err != nil {
		return nil, err
	}
	return f, nil
}
