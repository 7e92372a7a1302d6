package mcu

import (
	"context"
	"fmt"
	"os"

	"github.com/atota/atota/internal/atomicfile"
)

// fileTarget writes the image to a file, atomically: the old file stays
// whole until the new one is verified and renamed over it.
type fileTarget struct{ path string }

func (t *fileTarget) String() string  { return "file:" + t.path }
func (t *fileTarget) Capacity() int64 { return capacityUnknown }
func (t *fileTarget) Close() error    { return nil }

func (t *fileTarget) Open(ctx context.Context, component string, size int64) (Image, error) {
	f, err := atomicfile.Create(t.path, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mcu: target %s: %w", t, err)
	}
	return &fileImage{f: f, t: t}, nil
}

type fileImage struct {
	f *atomicfile.File
	t *fileTarget
}

func (im *fileImage) WriteAt(p []byte, off int64) (int, error) { return im.f.WriteAt(p, off) }
func (im *fileImage) ReadAt(p []byte, off int64) (int, error)  { return im.f.ReadAt(p, off) }
func (im *fileImage) Sync() error                              { return im.f.Sync() }
func (im *fileImage) Abort() error                             { return im.f.Abort() }

func (im *fileImage) Commit(ctx context.Context) (string, error) {
	if err := im.f.Commit(); err != nil {
		return "", fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	if fi, err := os.Stat(im.t.path); err == nil {
		return fmt.Sprintf("%s (%d bytes)", im.t.path, fi.Size()), nil
	}
	return im.t.path, nil
}
