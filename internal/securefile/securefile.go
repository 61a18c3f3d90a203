// Package securefile writes the small files that hold secrets and addresses: atomically, with
// the data synced before the name appears, and for secrets never over an existing file.
package securefile

import (
	"io"
	"os"
	"path/filepath"
)

// CreateNew writes data to path with mode, failing with an error wrapping fs.ErrExist when path
// exists: the data goes to a synced temporary file in the same directory that is then
// hard-linked to path (the link fails if the name exists), and the directory is synced. A crash
// leaves no file or a complete one; two processes racing both see the winner's file.
func CreateNew(path string, data []byte, mode os.FileMode) error {
	tmp, err := writeTemp(path, data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the link this only drops the temporary name
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Replace writes data to path with mode, atomically replacing any existing file (temporary
// file, sync, rename, directory sync).
func Replace(path string, data []byte, mode os.FileMode) error {
	return ReplaceWith(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// ReplaceWith is Replace for data too large to hold in memory: write streams it into the
// temporary file; when write fails nothing is replaced.
func ReplaceWith(path string, mode os.FileMode, write func(io.Writer) error) error {
	tmp, err := writeTempWith(path, mode, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

func writeTemp(path string, data []byte, mode os.FileMode) (string, error) {
	return writeTempWith(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeTempWith(path string, mode os.FileMode, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err = f.Chmod(mode); err == nil {
		if err = write(f); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a new name durable; not every platform can sync a directory, so errors are
// ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
