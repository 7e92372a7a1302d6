// Package atomicfile writes files so that a crash at any moment leaves
// either the old content or the new, never a mix: the data goes to a
// temporary file in the same directory, is fsynced, renamed over the
// target, and the directory is fsynced.
//
//	err := atomicfile.WriteFile("state.json", data, 0o644)
package atomicfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces the file at path with data.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	return f.Commit()
}

// WriteJSON atomically replaces the file at path with v as indented JSON
// and a final newline: the form every state file of the project takes.
func WriteJSON(path string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	return WriteFile(path, append(data, '\n'), perm)
}

// File is a temporary file that replaces its target on Commit.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts an atomic write of path: it returns a temporary file in
// the same directory; Commit puts it in place, Abort removes it.
func Create(path string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: %w", err)
	}
	return &File{File: f, path: path}, nil
}

// Commit fsyncs the temporary file, renames it over the target and fsyncs
// the directory.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: %w", err)
	}
	return syncDir(filepath.Dir(f.path))
}

// Abort removes the temporary file; the target is untouched. Abort after
// Commit does nothing.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.Close()
	return os.Remove(f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", dir, err)
	}
	return nil
}
