package mcu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/atota/atota/flashsim"
)

// flashTarget writes the image into the inactive slot of a simulated
// flash with A/B slots (flashsim.Device): sectors are erased as the
// writes reach them, Commit sets the image pending and boots it, Confirm
// (after the version report) makes it the active slot. Opening the
// target is a reset of the simulated MCU: it boots, which counts a try of
// an image on trial, and the device reverts one not confirmed within its
// tries. With a file, every change is made durable through a
// flashsim.Store.
type flashTarget struct {
	spec  string          // flashsim:ABS?part=NAME; "" in memory
	store *flashsim.Store // nil in memory
	dev   *flashsim.Device
}

func openFlashTarget(spec string) (*flashTarget, error) {
	path, part, err := flashsim.ParseTarget(spec)
	if err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	store, err := flashsim.OpenStore(path, part)
	if err != nil {
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	t, err := newFlashTarget(store.Flash(), store, "flashsim:"+flashsim.FormatTarget(path, store.Flash().Part().Name))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("mcu: target flashsim:%s: %w", spec, err)
	}
	return t, nil
}

// NewFlashTarget returns a target over a simulated flash held in memory,
// laid out by flashsim.DefaultLayout: for simulations and power-cut
// tests, where the flash outlives the target as a device's flash outlives
// a reset. Like OpenTarget("flashsim:..."), it boots the device.
func NewFlashTarget(f *flashsim.Flash, opts ...flashsim.Option) (Target, error) {
	t, err := newFlashTarget(f, nil, "", opts...)
	if err != nil {
		return nil, fmt.Errorf("mcu: flash target: %w", err)
	}
	return t, nil
}

func newFlashTarget(f *flashsim.Flash, store *flashsim.Store, spec string, opts ...flashsim.Option) (*flashTarget, error) {
	l, err := flashsim.DefaultLayout(f.Part())
	if err != nil {
		return nil, err
	}
	d, err := flashsim.NewDevice(f, l, opts...)
	if err != nil {
		return nil, err
	}
	t := &flashTarget{spec: spec, store: store, dev: d}
	if _, err := d.Boot(); err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	// Boot counted a try of an image on trial, or reverted it.
	if err := t.persist(); err != nil {
		return nil, err
	}
	return t, nil
}

// persist makes the flash's changes durable.
func (t *flashTarget) persist() error {
	if t.store == nil {
		return nil
	}
	return t.store.Sync()
}

// save writes the whole flash file, folding the operation log in.
func (t *flashTarget) save() error {
	if t.store == nil {
		return nil
	}
	return t.store.Save()
}

// Spec returns the target as opened, with an absolute path.
func (t *flashTarget) Spec() string { return t.spec }

func (t *flashTarget) String() string {
	name := "flashsim (in memory)"
	if t.store != nil {
		name = "flashsim:" + t.store.Path()
	}
	return fmt.Sprintf("%s (%s, slot %s running)", name, t.dev.Flash().Part().Name, t.dev.Running())
}

func (t *flashTarget) Capacity(context.Context) (int64, error) { return t.dev.Inactive().Size, nil }

func (t *flashTarget) Close() error {
	if t.store == nil {
		return nil
	}
	return t.store.Close()
}

// imageState is the State of an image of size bytes in slot s.
func imageState(s flashsim.Slot, size int64) string {
	return fmt.Sprintf("slot=%s size=%d", s, size)
}

// Trial returns the state of the image on trial and of the last image
// confirmed, by the boot record.
func (t *flashTarget) Trial() (pending, confirmed string) {
	r := t.dev.Record()
	switch {
	case r.Pending.Name != 0:
		pending = imageState(r.Pending, r.ImageSize)
	case !r.Reverted && r.ImageSize > 0:
		confirmed = imageState(r.Active, r.ImageSize)
	}
	return pending, confirmed
}

// Confirm makes the image on trial the active slot.
func (t *flashTarget) Confirm() error {
	if err := t.dev.Confirm(); err != nil {
		return fmt.Errorf("mcu: target %s: confirm: %w", t, err)
	}
	if err := t.save(); err != nil {
		return fmt.Errorf("mcu: target %s: %w", t, err)
	}
	return nil
}

// Revert gives the image on trial up.
func (t *flashTarget) Revert() error {
	if err := t.dev.Revert(); err != nil {
		return fmt.Errorf("mcu: target %s: revert: %w", t, err)
	}
	if err := t.save(); err != nil {
		return fmt.Errorf("mcu: target %s: %w", t, err)
	}
	return nil
}

func (t *flashTarget) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	slot := t.dev.Inactive()
	switch {
	case spec.Size <= 0:
		return nil, fmt.Errorf("mcu: target %s: image of %d bytes: want at least 1", t, spec.Size)
	case spec.Size > slot.Size:
		return nil, fmt.Errorf("mcu: target %s: %w: image of %d bytes, slot %s holds %d; use a larger part (?part=NAME)",
			t, flashsim.ErrTooLarge, spec.Size, slot, slot.Size)
	}
	f := t.dev.Flash()
	im := &flashImage{t: t, slot: slot, size: spec.Size, unit: f.Part().WriteUnit, checkpoint: spec.Checkpoint}
	if spec.Resume == "" {
		return im, nil
	}
	pending, _ := t.Trial()
	st, ok := parseImageState(spec.Resume)
	next := spec.Done - int64(len(st.tail))
	switch {
	case !ok || st.base != imageState(slot, spec.Size) || pending != "":
		return nil, fmt.Errorf("%w: %s: the journal's image is %q, the flash has slot %s free (on trial: %q)", ErrResume, t, spec.Resume, slot, pending)
	case spec.Done < 0 || spec.Done > spec.Size || len(st.tail) >= im.unit ||
		next%int64(im.unit) != 0 && spec.Done != spec.Size ||
		st.repair != nil && st.repair.off+int64(len(st.repair.prefix)) != next:
		return nil, fmt.Errorf("%w: %s: %d bytes written with a tail of %d is not a whole number of %d-byte units", ErrResume, t, spec.Done, len(st.tail), im.unit)
	}
	im.next, im.pending = next, st.tail
	if spec.Done == spec.Size && len(st.tail) == 0 {
		im.next = (spec.Size + int64(im.unit) - 1) / int64(im.unit) * int64(im.unit)
	}
	if im.next > 0 {
		// Every sector up to the one holding the last programmed byte
		// was erased for this image; after that byte, the rest of its
		// sector may hold a write the journal never heard of, or a torn
		// one.
		_, start, size, err := f.Sector(slot.Off + im.next - 1)
		if err != nil {
			return nil, err
		}
		im.erased = start + size - slot.Off
		im.dirty = im.erased
	}
	if st.repair != nil {
		// A repair was under way: do it again from the journal's copy.
		im.repairing = st.repair
		if err := im.restore(); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// imageFields is a parsed image State:
// "slot=B size=N[ tail=HEX][ repair=OFF:HEX]".
type imageFields struct {
	base   string
	tail   []byte
	repair *repairCopy
}

// repairCopy is the start of a sector being repaired: the durable bytes
// from off (a slot offset) to the write position.
type repairCopy struct {
	off    int64
	prefix []byte
}

func parseImageState(s string) (imageFields, bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return imageFields{}, false
	}
	st := imageFields{base: f[0] + " " + f[1]}
	for _, kv := range f[2:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "tail":
			b, err := hex.DecodeString(v)
			if err != nil || st.tail != nil {
				return imageFields{}, false
			}
			st.tail = b
		case "repair":
			o, h, _ := strings.Cut(v, ":")
			off, err1 := strconv.ParseInt(o, 10, 64)
			b, err2 := hex.DecodeString(h)
			if err1 != nil || err2 != nil || off < 0 || st.repair != nil {
				return imageFields{}, false
			}
			st.repair = &repairCopy{off: off, prefix: b}
		default:
			return imageFields{}, false
		}
	}
	return st, true
}

// flashImage programs the bytes that arrive in order, whole write units
// at a time: a tail shorter than the unit waits in pending, a copy, for
// the next bytes; the last tail is padded with 0xFF (programming 0xFF
// leaves erased bits as they are). Sectors are erased when the writes
// reach them.
type flashImage struct {
	t          *flashTarget
	slot       flashsim.Slot
	size       int64
	unit       int
	checkpoint func(int64, string) error
	pending    []byte // bytes at next not yet programmed; shorter than unit
	next       int64  // offset in the slot of the first byte not yet programmed
	erased     int64  // sectors before this slot offset are erased for the image
	dirty      int64  // [next, dirty) may hold leftovers of an interrupted write
	repairing  *repairCopy
}

// State names the slot and the size; while the image is incomplete it
// also carries the bytes of an unfinished write unit (shorter than the
// unit, so at most a few), which Sync counts as durable once the journal
// holds this state, and during a repair the durable bytes of the sector
// being erased (at most a sector: a page of the parts that need repairs).
func (im *flashImage) State() string {
	s := imageState(im.slot, im.size)
	if len(im.pending) > 0 {
		s += " tail=" + hex.EncodeToString(im.pending)
	}
	if r := im.repairing; r != nil {
		s += fmt.Sprintf(" repair=%d:%s", r.off, hex.EncodeToString(r.prefix))
	}
	return s
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

// program writes b at next, erasing each sector when the writes reach it.
func (im *flashImage) program(b []byte) error {
	f := im.t.dev.Flash()
	for len(b) > 0 {
		if im.next >= im.erased {
			_, _, size, err := f.Sector(im.slot.Off + im.next)
			if err != nil {
				return err
			}
			if err := f.Erase(im.slot.Off+im.next, size); err != nil {
				return fmt.Errorf("mcu: flash image: erase slot %s at offset %d: %w", im.slot, im.next, err)
			}
			im.erased = im.next + size
		}
		n := min(int64(len(b)), im.erased-im.next)
		var err error
		if im.next < im.dirty {
			err = im.programOver(b[:n])
		} else {
			_, err = f.WriteAt(b[:n], im.slot.Off+im.next)
		}
		if err != nil {
			return fmt.Errorf("mcu: flash image: program %d bytes at slot %s offset %d: %w", n, im.slot, im.next, err)
		}
		im.next += n
		b = b[n:]
	}
	return nil
}

// programOver writes b at next where the flash may already hold it, or
// part of it from a torn write: units that hold it are left alone, units
// the flash can still turn into it are programmed, and any other unit
// needs its sector erased and rewritten (repair).
func (im *flashImage) programOver(b []byte) error {
	f := im.t.dev.Flash()
	at := im.slot.Off + im.next
	cur := make([]byte, len(b))
	if _, err := f.ReadAt(cur, at); err != nil {
		return err
	}
	andBits := f.Part().Reprogram == flashsim.AndBits
	u := im.unit
	for i := 0; i < len(b); i += u {
		want, have := b[i:i+u], cur[i:i+u]
		switch {
		case bytes.Equal(want, have):
			continue
		case allFF(have) || andBits && covers(have, want):
			if _, err := f.WriteAt(want, at+int64(i)); err != nil {
				return err
			}
		default:
			return im.repair(b)
		}
	}
	return nil
}

// repair erases the sector at next, whose start may hold durable bytes
// of the image, and writes them back with b after them. The journal
// takes a copy of those bytes first (checkpoint), so a power cut in
// between loses nothing: the next Open does the repair again.
func (im *flashImage) repair(b []byte) error {
	f := im.t.dev.Flash()
	_, start, _, err := f.Sector(im.slot.Off + im.next)
	if err != nil {
		return err
	}
	prefix := make([]byte, im.slot.Off+im.next-start)
	if _, err := f.ReadAt(prefix, start); err != nil {
		return err
	}
	im.repairing = &repairCopy{off: start - im.slot.Off, prefix: prefix}
	if im.checkpoint != nil {
		if err := im.checkpoint(im.next+int64(len(im.pending)), im.State()); err != nil {
			return err
		}
	}
	if err := im.restore(); err != nil {
		return err
	}
	_, err = f.WriteAt(b, im.slot.Off+im.next)
	return err
}

// restore erases the sector of the repair under way and writes its
// durable bytes back; the rest of the sector is then clean.
func (im *flashImage) restore() error {
	f := im.t.dev.Flash()
	r := im.repairing
	i, start, size, err := f.Sector(im.slot.Off + r.off)
	if err != nil {
		return err
	}
	if start != im.slot.Off+r.off {
		return fmt.Errorf("mcu: flash image: repair at slot offset %d is not the start of sector %d", r.off, i)
	}
	if err := f.Erase(start, size); err != nil {
		return err
	}
	if _, err := f.WriteAt(r.prefix, start); err != nil {
		return err
	}
	im.erased = max(im.erased, start+size-im.slot.Off)
	im.dirty = im.next
	return nil
}

// covers reports whether programming want over have (have AND want)
// gives want: have has every 1 bit of want.
func covers(have, want []byte) bool {
	for i := range want {
		if have[i]&want[i] != want[i] {
			return false
		}
	}
	return true
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}

// Sync programs the tail once the whole image has arrived (before that a
// tail shorter than the write unit stays pending, since a unit cannot be
// programmed twice on every part, and State carries it) and makes the
// flash durable.
func (im *flashImage) Sync() (int64, error) {
	if len(im.pending) > 0 && im.next+int64(len(im.pending)) == im.size {
		tail := append(im.pending[:len(im.pending):len(im.pending)], bytes.Repeat([]byte{0xFF}, im.unit-len(im.pending))...)
		if err := im.program(tail); err != nil {
			return 0, err
		}
		im.pending = nil
	}
	if err := im.t.persist(); err != nil {
		return 0, fmt.Errorf("mcu: flash image: %w", err)
	}
	im.repairing = nil // done and durable: the journal needs no copy now
	return min(im.next+int64(len(im.pending)), im.size), nil
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

// Commit sets the image pending and boots it (a reset): it runs on trial
// until Confirm.
func (im *flashImage) Commit(ctx context.Context) (string, error) {
	if im.next < im.size {
		return "", fmt.Errorf("mcu: flash image: %d of %d bytes programmed; write the rest and Sync before Commit", im.next, im.size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(im, 0, im.size)); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	d := im.t.dev
	if err := d.SetPending(im.size, [32]byte(h.Sum(nil))); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	running, err := d.Boot()
	if err != nil {
		return "", fmt.Errorf("mcu: flash image: boot: %w", err)
	}
	if err := im.t.save(); err != nil {
		return "", fmt.Errorf("mcu: flash image: %w", err)
	}
	if running.Name != im.slot.Name {
		return "", fmt.Errorf("mcu: flash image: the new image in slot %s did not boot (slot %s runs)", im.slot, running)
	}
	where := "in memory"
	if im.t.store != nil {
		where = im.t.store.Path()
	}
	return fmt.Sprintf("%s, slot %s %s", where, running, running.Region), nil
}

// Confirm makes the slot the active one.
func (im *flashImage) Confirm() error { return im.t.Confirm() }

// Abort leaves the slot as it is: it is not pending, so the running image
// keeps booting; the next image erases the slot again.
func (im *flashImage) Abort() error { return nil }

// Close keeps the slot as it is for a resume.
func (im *flashImage) Close() error { return nil }

// RunningImage returns the slot the device runs, read only: the image a
// delta applies to.
func (t *flashTarget) RunningImage(context.Context) (sourceImage, int64, error) {
	s := t.dev.Running()
	return slotReader{io.NewSectionReader(t.dev.Flash(), s.Off, s.Size)}, s.Size, nil
}

// slotReader reads a slot; closing it does nothing.
type slotReader struct{ *io.SectionReader }

func (slotReader) Close() error { return nil }
