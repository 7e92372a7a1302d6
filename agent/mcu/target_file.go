package mcu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// fileTarget writes the image to a file, atomically: the bytes go to a
// partial file beside it (.NAME.atota-partial), fsynced at every Sync,
// which a resume continues; Commit renames it over the file. The old
// file stays whole until then.
type fileTarget struct{ path string }

func openFileTarget(path string) (*fileTarget, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("mcu: target file:%s: %w", path, err)
	}
	return &fileTarget{path: abs}, nil
}

func (t *fileTarget) Spec() string   { return "file:" + t.path }
func (t *fileTarget) String() string { return "file:" + t.path }
func (t *fileTarget) Close() error   { return nil }

// partial returns the path of the file the image is written to first.
func (t *fileTarget) partial() string {
	return filepath.Join(filepath.Dir(t.path), "."+filepath.Base(t.path)+".atota-partial")
}

// Capacity returns the free space of the file's file system, plus what a
// partial file already takes.
func (t *fileTarget) Capacity(context.Context) (int64, error) {
	free, err := freeSpace(filepath.Dir(t.path))
	if err != nil {
		return 0, fmt.Errorf("mcu: target %s: free space: %w", t, err)
	}
	if fi, err := os.Stat(t.partial()); err == nil && free < capacityUnknown-fi.Size() {
		free += fi.Size()
	}
	return free, nil
}

func (t *fileTarget) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	return openFileImage(t.path, t.partial(), spec, t)
}

// openFileImage opens the partial file of an image bound for path.
func openFileImage(path, partial string, spec ImageSpec, t fmt.Stringer) (*fileImage, error) {
	state := "partial=" + partial
	if spec.Resume == "" {
		f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("mcu: target %s: %w", t, err)
		}
		if err := syncDir(filepath.Dir(partial)); err != nil {
			f.Close()
			return nil, fmt.Errorf("mcu: target %s: %w", t, err)
		}
		return &fileImage{f: f, path: path, partial: partial, state: state, t: t}, nil
	}
	if spec.Resume != state {
		return nil, fmt.Errorf("%w: %s: the journal's image is %q, want %q", ErrResume, t, spec.Resume, state)
	}
	f, err := os.OpenFile(partial, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) && spec.Done == spec.Size {
		// Renamed already: the commit happened before the restart.
		g, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrResume, t, err)
		}
		if fi, err := g.Stat(); err != nil || fi.Size() != spec.Size {
			g.Close()
			return nil, fmt.Errorf("%w: %s: neither a partial file nor the %d-byte image", ErrResume, t, spec.Size)
		}
		return &fileImage{f: g, path: path, partial: partial, state: state, t: t, written: spec.Size, committed: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrResume, t, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < spec.Done {
		err = fmt.Errorf("the partial file has %d bytes, the journal says %d were written", fi.Size(), spec.Done)
	}
	if err == nil {
		err = f.Truncate(spec.Done) // bytes after the journal's count were never reported durable
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrResume, t, err)
	}
	return &fileImage{f: f, path: path, partial: partial, state: state, t: t, written: spec.Done}, nil
}

// fileImage is an image in a partial file.
type fileImage struct {
	f         *os.File
	path      string
	partial   string
	state     string
	t         fmt.Stringer
	written   int64
	committed bool // renamed into place by an earlier run
	closed    bool
}

func (im *fileImage) State() string { return im.state }

func (im *fileImage) WriteAt(p []byte, off int64) (int, error) {
	if im.committed {
		return 0, fmt.Errorf("mcu: target %s: the image is complete", im.t)
	}
	if off != im.written {
		return 0, fmt.Errorf("mcu: target %s: write at %d, want %d (bytes must arrive in order)", im.t, off, im.written)
	}
	n, err := im.f.WriteAt(p, off)
	im.written += int64(n)
	if err != nil {
		return n, fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	return n, nil
}

func (im *fileImage) ReadAt(p []byte, off int64) (int, error) { return im.f.ReadAt(p, off) }

func (im *fileImage) Sync() (int64, error) {
	if im.committed {
		return im.written, nil
	}
	if err := im.f.Sync(); err != nil {
		return 0, fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	return im.written, nil
}

// Commit renames the partial file over the target file.
func (im *fileImage) Commit(ctx context.Context) (string, error) {
	where := fmt.Sprintf("%s (%d bytes)", im.path, im.written)
	if im.committed {
		return where, nil
	}
	if err := im.f.Sync(); err != nil {
		return "", fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	if err := os.Rename(im.partial, im.path); err != nil {
		return "", fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	if err := syncDir(filepath.Dir(im.path)); err != nil {
		return "", fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	im.committed = true
	return where, nil
}

func (im *fileImage) Confirm() error { return nil }

// Abort removes the partial file; the target file is untouched.
func (im *fileImage) Abort() error {
	im.Close()
	if im.committed {
		return nil
	}
	if err := os.Remove(im.partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	return nil
}

// Close keeps the partial file for a resume.
func (im *fileImage) Close() error {
	if im.closed {
		return nil
	}
	im.closed = true
	return im.f.Close()
}

// syncDir fsyncs a directory, so that a file created or renamed in it
// stays after a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var _ io.ReaderAt = (*fileImage)(nil)

// RunningImage opens the file as it is, read only: the image a delta
// applies to. The new image goes to the partial file, so this one stays
// whole until Commit.
func (t *fileTarget) RunningImage(context.Context) (sourceImage, int64, error) {
	f, err := os.Open(t.path)
	if err != nil {
		return nil, 0, fmt.Errorf("mcu: target %s: the running image: %w", t, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("mcu: target %s: the running image: %w", t, err)
	}
	return f, fi.Size(), nil
}
