package module

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/atota/atota/agent/plan"
)

// cache holds the module's copies of the packages of the task in
// progress, one file per package named by its SHA-256: what a real module
// keeps in its own memory once downloaded. A plan file edited or removed
// mid-task cannot change the bytes served, and nothing of a package is
// held in RAM: reads go to the copy.
type cache struct {
	dir  string // "" until a temporary directory is made
	temp bool   // the directory is temporary: removed on close
}

// newCache returns the cache in dir; an empty dir means next to the state
// file, or a temporary directory made when first needed.
func newCache(dir, statePath string) *cache {
	if dir == "" && statePath != "" {
		dir = strings.TrimSuffix(statePath, filepath.Ext(statePath)) + ".cache"
	}
	return &cache{dir: dir, temp: dir == ""}
}

// path returns where the copy of a package with digests d lives.
func (c *cache) path(d plan.Digests) string { return filepath.Join(c.dir, d.SHA256+".pkg") }

// ensureDir makes the directory.
func (c *cache) ensureDir() error {
	if c.dir == "" {
		d, err := os.MkdirTemp("", "atota-module-cache-")
		if err != nil {
			return fmt.Errorf("package cache: %w", err)
		}
		c.dir = d
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("package cache: %w", err)
	}
	return nil
}

// open returns the cached copy of component c's package, copying it from
// the plan's file first if the cache does not hold it. A copy is checked
// against the digests announced in the offer, both when it is made and
// when an existing one is reused.
func (c *cache) open(ctx context.Context, tc *taskComponent) (*os.File, error) {
	if err := c.ensureDir(); err != nil {
		return nil, err
	}
	want := tc.Digests
	name := c.path(want)
	if f, err := os.Open(name); err == nil {
		d, err := plan.Digest(ctxReader{ctx, f})
		if err == nil && d == want {
			return f, nil
		}
		f.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		os.Remove(name) // damaged: copy it again
	}
	src, err := tc.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(c.dir, ".copy-*")
	if err != nil {
		return nil, fmt.Errorf("package cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, this fails harmlessly
	// One byte more than announced tells a grown file from the right one.
	d, err := plan.Digest(io.TeeReader(ctxReader{ctx, io.LimitReader(src, want.Size+1)}, tmp))
	if err == nil && d != want {
		err = fmt.Errorf("component %s: package %s changed since the plan was offered (%d bytes, SHA-256 %s; announced %d bytes, SHA-256 %s)",
			tc.ID, tc.path(), d.Size, d.SHA256, want.Size, want.SHA256)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		if errors.Is(err, ctx.Err()) {
			return nil, err
		}
		return nil, fmt.Errorf("package cache: %w", err)
	}
	return os.Open(name)
}

// prune removes the copies not in keep (names as path returns them).
func (c *cache) prune(keep map[string]bool) {
	if c.dir == "" {
		return
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := filepath.Join(c.dir, e.Name())
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".pkg") || strings.HasPrefix(e.Name(), ".copy-")) && !keep[name] {
			os.Remove(name)
		}
	}
}

// close removes a temporary cache directory.
func (c *cache) close() error {
	if c.temp && c.dir != "" {
		err := os.RemoveAll(c.dir)
		c.dir = ""
		return err
	}
	return nil
}

// ctxReader is a Reader that fails once ctx is done: a long copy stops
// when the module closes.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
