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
	if size > slot.Size {
		return nil, fmt.Errorf("mcu: target %s: image of %d bytes does not fit slot %s (%d bytes)", t, size, slot, slot.Size)
	}
	if err := t.dev.Flash().Erase(slot.Off, size); err != nil {
		return nil, fmt.Errorf("mcu: target %s: erase slot %s: %w", t, slot, err)
	}
	return &flashImage{t: t, slot: slot, size: size, unit: t.dev.Flash().Part().WriteUnit}, nil
}

// flashImage programs bytes that arrive in order; a tail shorter than the
// flash's write unit waits for the next bytes or for Sync, which pads it
// with 0xFF (programming 0xFF leaves erased bits as they are).
type flashImage struct {
	t       *flashTarget
	slot    flashsim.Slot
	size    int64
	unit    int
	pending []byte
	next    int64 // offset of the first byte not yet programmed
}

func (im *flashImage) WriteAt(p []byte, off int64) (int, error) {
	if off != im.next+int64(len(im.pending)) {
		return 0, fmt.Errorf("mcu: flash image: write at %d, want %d (bytes must arrive in order)", off, im.next+int64(len(im.pending)))
	}
	if off+int64(len(p)) > im.size {
		return 0, fmt.Errorf("mcu: flash image: write of %d bytes at %d passes the image size %d", len(p), off, im.size)
	}
	im.pending = append(im.pending, p...)
	n := len(im.pending) / im.unit * im.unit
	if err := im.program(im.pending[:n]); err != nil {
		return 0, err
	}
	im.pending = append(im.pending[:0], im.pending[n:]...)
	return len(p), nil
}

func (im *flashImage) program(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := im.t.dev.Flash().WriteAt(b, im.slot.Off+im.next); err != nil {
		return fmt.Errorf("mcu: flash image: program %d bytes at slot offset %d: %w", len(b), im.next, err)
	}
	im.next += int64(len(b))
	return nil
}

func (im *flashImage) Sync() error {
	if len(im.pending) == 0 {
		return nil
	}
	pad := bytes.Repeat([]byte{0xFF}, (im.unit-len(im.pending)%im.unit)%im.unit)
	if err := im.program(append(im.pending, pad...)); err != nil {
		return err
	}
	im.next -= int64(len(pad))
	im.pending = im.pending[:0]
	return nil
}

func (im *flashImage) ReadAt(p []byte, off int64) (int, error) {
	if off >= im.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), im.size-off)]
	return im.t.dev.Flash().ReadAt(p, im.slot.Off+off)
}

func (im *flashImage) Commit(ctx context.Context) (string, error) {
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
