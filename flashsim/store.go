package flashsim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Store keeps a Flash in a file and makes its operations durable one
// Sync at a time, without rewriting the whole file: Sync appends what
// the operations since the last Sync left in the flash to an operation
// log beside the file (path+".log") and fsyncs it; Save writes the whole
// flash atomically and removes the log; Load and OpenStore read the file
// and replay its log. A process killed at any moment, or a host that
// loses power, leaves the flash as it was at the last Sync or later.
//
// Use one Store per file at a time. A Store is not safe for concurrent
// use.
type Store struct {
	path   string
	f      *Flash
	log    *os.File // open for appending once a log exists
	exists bool     // the flash file exists
}

// OpenStore opens the flash file at path as Open does (loading it and
// replaying its log, or starting an erased flash of part that is written
// at the first Sync or Save), and records the flash's operations from
// now on.
func OpenStore(path, part string) (*Store, error) {
	f, good, err := load(path)
	exists := err == nil
	switch {
	case exists:
		if part != "" && !strings.EqualFold(part, f.part.Name) {
			return nil, fmt.Errorf("flashsim: flash file %s holds part %s, not %s; use ?part=%s or another file",
				path, f.part.Name, part, f.part.Name)
		}
	case errors.Is(err, fs.ErrNotExist):
		if f, err = Open(path, part); err != nil {
			return nil, err
		}
		// A log without its file belongs to a file deleted since.
		if err := os.Remove(logPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("flashsim: %w", err)
		}
	default:
		return nil, err
	}
	s := &Store{path: path, f: f, exists: exists}
	if exists && good > 0 {
		// Drop a torn tail so that new records follow whole ones.
		lf, err := os.OpenFile(logPath(path), os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("flashsim: open store: %w", err)
		}
		if err := lf.Truncate(good); err != nil {
			lf.Close()
			return nil, fmt.Errorf("flashsim: open store: %w", err)
		}
		if _, err := lf.Seek(good, 0); err != nil {
			lf.Close()
			return nil, fmt.Errorf("flashsim: open store: %w", err)
		}
		s.log = lf
	}
	f.recording = true
	return s, nil
}

// Flash returns the flash the store keeps.
func (s *Store) Flash() *Flash { return s.f }

// Path returns the flash file's path.
func (s *Store) Path() string { return s.path }

// Sync makes every operation so far durable: it appends them to the log
// and fsyncs it (the first Sync of a new flash that changed saves the
// whole file instead). Operations torn by a power cut are kept as torn.
func (s *Store) Sync() error {
	if len(s.f.oplog) == 0 {
		return nil
	}
	if !s.exists {
		return s.Save()
	}
	if s.log == nil {
		lf, err := os.OpenFile(logPath(s.path), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("flashsim: sync %s: %w", s.path, err)
		}
		if _, err := lf.Write(s.f.logFileHeader()); err != nil {
			lf.Close()
			return fmt.Errorf("flashsim: sync %s: %w", s.path, err)
		}
		if err := syncDir(dirOf(s.path)); err != nil {
			lf.Close()
			return fmt.Errorf("flashsim: sync %s: %w", s.path, err)
		}
		s.log = lf
	}
	if _, err := s.log.Write(s.f.oplog); err != nil {
		return fmt.Errorf("flashsim: sync %s: %w", s.path, err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("flashsim: sync %s: %w", s.path, err)
	}
	s.f.oplog = s.f.oplog[:0]
	return nil
}

// Save writes the whole flash to its file atomically and removes the log.
func (s *Store) Save() error {
	if err := s.f.Save(s.path); err != nil {
		return err
	}
	s.exists = true
	s.f.oplog = s.f.oplog[:0]
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
	return nil
}

// Close releases the log file. Operations since the last Sync are not
// written, as if the host had been killed.
func (s *Store) Close() error {
	s.f.recording = false
	s.f.oplog = nil
	if s.log == nil {
		return nil
	}
	err := s.log.Close()
	s.log = nil
	return err
}

func dirOf(path string) string {
	if d := filepath.Dir(path); d != "" {
		return d
	}
	return "."
}
