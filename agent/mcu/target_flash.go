package mcu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/atota/atota/flashsim"
)

// flashTarget writes the image into the inactive slot of a simulated
// flash with A/B slots, sets it pending, boots it and confirms it; the
// flash file is saved atomically afterwards.
type flashTarget struct {
	path string
	dev  *flashsim.Device
}

func openFlashTarget(spec string) (*flashTarget, error) {
	path, part, err := flashsim.ParseTarget(spec)
	if err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	f, err := flashsim.Open(path, part)
	if err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	l, err := flashsim.DefaultLayout(f.Part())
	if err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	if _, err := d.Boot(); err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: boot: %w", spec, err)
	}
	return &flashTarget{path: path, dev: d}, nil
}

func (t *flashTarget) String() string {
	return fmt.Sprintf("flashsim:%s (%s, slot %s running)", t.path, t.dev.Flash().Part().Name, t.dev.Running())
}

func (t *flashTarget) Capacity() int64 { return t.dev.Inactive().Size }

func (t *flashTarget) Close() error { return nil }

func (t *flashTarget) Open(ctx context.Context, component string, size int64) (Image, error) {
	slot := t.dev.Inactive()
	if size <= 0 {
		return nil, fmt.Errorf("mcu: target %s: image of %d bytes: want at least 1", t, size)
	}
	if size > slot.Size {
		return nil, fmt.Errorf("mcu: target %s: %w: image of %d bytes, slot %s holds %d; use a larger part (?part=NAME)",
			t, flashsim.ErrTooLarge, size, slot, slot.Size)
	}
	if err := t.dev.Flash().Erase(slot.Off, size); err != nil {
		return nil, fmt.Errorf("mcu: target %s: erase slot %s: %w", t, slot, err)
	}
	return &flashImage{t: t, slot: slot, size: size, unit: t.dev.Flash().Part().WriteUnit}, nil
}

// flashImage programs bytes that arrive in order, whole write units at a
// time: a tail shorter than the unit waits in pending, a copy, for the
// next bytes; Sync programs the last tail padded with 0xFF (programming
// 0xFF leaves erased bits as they are).
type flashImage struct {
	t       *flashTarget
	slot    flashsim.Slot
	size    int64
	unit    int
	pending []byte // bytes at next not yet programmed; shorter than unit
	next    int64  // offset in the slot of the first byte not yet programmed
}

func (im *flashImage) WriteAt(p []byte, off int64) (int, error) {
	at := im.next + int64(len(im.pending))
	if off != at {
		return 0, fmt.Errorf("mcu: flash image: write at %d, want %d (bytes must arrive in order)", off, at)
	}
	if int64(len(p)) > im.size-off {
		return 0, fmt.Errorf("mcu: flash image: write of %d bytes at %d passes the image size %d", len(p), off, im.size)
	}
	buf := append(im.pending[:len(im.pending):len(im.pending)], p...) // a new array: p is not kept
	n := len(buf) / im.unit * im.unit
	if err := im.program(buf[:n]); err != nil {
		return 0, err
	}
	im.pending = buf[n:]
	return len(p), nil
}

func (im *flashImage) program(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := im.t.dev.Flash().WriteAt(b, im.slot.Off+im.next); err != nil {
		return fmt.Errorf("mcu: flash image: program %d bytes at slot %s offset %d: %w", len(b), im.slot, im.next, err)
	}
	im.next += int64(len(b))
	return nil
}

// Sync programs the tail once the whole image has arrived; before that a
// tail shorter than the write unit stays pending, since a unit cannot be
// programmed twice on every part.
func (im *flashImage) Sync() error {
	if len(im.pending) == 0 || im.next+int64(len(im.pending)) < im.size {
		return nil
	}
	tail := append(im.pending[:len(im.pending):len(im.pending)], bytes.Repeat([]byte{0xFF}, im.unit-len(im.pending))...)
	if err := im.program(tail); err != nil {
		return err
	}
	im.next = im.size
	im.pending = nil
	return nil
}

// ReadAt reads the image back from the slot: what the flash holds.
func (im *flashImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("mcu: flash image: read at negative offset %d", off)
	}
	if off >= im.size {
		return 0, io.EOF
	}
	short := int64(len(p)) > im.size-off
	if short {
		p = p[:im.size-off]
	}
	n, err := im.t.dev.Flash().ReadAt(p, im.slot.Off+off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

func (im *flashImage) Commit(ctx context.Context) (string, error) {
	if im.next != im.size {
		return "", fmt.Errorf("mcu: flash image: %d of %d bytes programmed; write the rest and Sync before Commit", im.next, im.size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(im, 0, im.size)); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	d := im.t.dev
	if err := d.SetPending(im.size, sum); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	running, err := d.Boot()
	if err != nil {
		return "", fmt.Errorf("mcu: flash image: boot: %w", err)
	}
	if running.Name != im.slot.Name {
		return "", fmt.Errorf("mcu: flash image: the new image in slot %s did not boot (slot %s runs)", im.slot, running)
	}
	if err := d.Confirm(); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	if err := d.Flash().Save(im.t.path); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	return fmt.Sprintf("%s, slot %s %s active", im.t.path, running, running.Region), nil
}

// Abort leaves the slot as it is: it is not pending, so the running image
// keeps booting; the next image erases the slot again.
func (im *flashImage) Abort() error { return nil }
