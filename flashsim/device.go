package flashsim

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
)

// Errors from Device operations; test for them with errors.Is.
var (
	// ErrImageMismatch: the slot contents do not match the SHA-256 given.
	ErrImageMismatch = errors.New("flashsim: slot contents do not match the image SHA-256")
	// ErrTooLarge: an image does not fit its slot.
	ErrTooLarge = errors.New("flashsim: image does not fit the slot")
	// ErrNotBooted: Confirm was called while the pending image is not the
	// one running.
	ErrNotBooted = errors.New("flashsim: the pending image is not running")
)

// DefaultMaxTries is how often a pending image is booted unconfirmed
// before the device reverts to the active slot.
const DefaultMaxTries = 3

// writeBlock is the size of the writes WriteInactive issues, like an MCU
// programming one received block at a time.
const writeBlock = 1024

// Option configures a Device.
type Option func(*config)

type config struct {
	maxTries int
}

// WithMaxTries sets how often SetPending's image may be booted without
// Confirm before the device reverts (1 to 255; default DefaultMaxTries).
func WithMaxTries(n int) Option {
	return func(c *config) { c.maxTries = min(max(n, 1), 255) }
}

// Device is a simulated MCU with two image slots and a boot record in a
// Flash: the update goes into the inactive slot, SetPending asks for a
// trial boot, Boot (a reset) runs the pending image up to MaxTries times,
// and Confirm makes it the active slot; an image never confirmed, or
// whose SHA-256 does not match, is reverted at the next Boot. Every
// change of the record is one append (or one erase and one append), so a
// power cut at any flash operation leaves the old or the new record in
// force. After an operation fails, the Device rereads the record before
// its next change; to model a reset after a power cut, call PowerOn and
// NewDevice. A Device is not safe for concurrent use.
type Device struct {
	f       *Flash
	l       Layout
	cfg     config
	secs    []Region   // record sectors, in ring order
	rec     BootRecord // the record in force
	pos     recordPos  // where rec lies; meaningful when rec.Seq > 0
	running Slot       // the slot booted by the last Boot
	stale   bool       // a flash operation failed: reread before changing
}

type recordPos struct{ sec, slot int }

// NewDevice opens the boot state kept in f under layout l: it reads the
// valid record with the highest sequence number, or starts a fresh device
// (active slot A, nothing pending) if there is none. Nothing is written
// until the state changes. Nothing is running until Boot.
func NewDevice(f *Flash, l Layout, opts ...Option) (*Device, error) {
	if err := l.check(f); err != nil {
		return nil, err
	}
	d := &Device{f: f, l: l, cfg: config{maxTries: DefaultMaxTries}}
	for _, o := range opts {
		o(&d.cfg)
	}
	for off := l.Record.Off; off < l.Record.End(); {
		_, start, size, _ := f.Sector(off)
		d.secs = append(d.secs, Region{Off: start, Size: size})
		off = start + size
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	return d, nil
}

// Flash returns the flash the device lives in.
func (d *Device) Flash() *Flash { return d.f }

// Layout returns the device's layout.
func (d *Device) Layout() Layout { return d.l }

// Active returns the confirmed slot.
func (d *Device) Active() Slot { return d.rec.Active }

// Inactive returns the slot that is not active: where an update goes.
func (d *Device) Inactive() Slot {
	if d.rec.Active.Name == 'A' {
		return d.slot('B')
	}
	return d.slot('A')
}

// Running returns the slot the last Boot started, or the zero Slot
// before the first Boot.
func (d *Device) Running() Slot { return d.running }

// Record returns the boot record in force.
func (d *Device) Record() BootRecord { return d.rec }

func (d *Device) slot(name byte) Slot {
	switch name {
	case 'A':
		return Slot{Name: 'A', Region: d.l.A}
	case 'B':
		return Slot{Name: 'B', Region: d.l.B}
	}
	return Slot{}
}

// WriteInactive erases the sectors of the inactive slot that img needs
// and writes img into them in 1 KiB blocks, the last padded with 0xFF to
// the write unit. It leaves the boot record alone: a pending image that
// is overwritten no longer matches its SHA-256, and Boot reverts it.
func (d *Device) WriteInactive(img []byte) error {
	if err := d.fresh(); err != nil {
		return err
	}
	s := d.Inactive()
	if int64(len(img)) > s.Size {
		return fmt.Errorf("%w: image of %d bytes, slot %s holds %d; use a smaller image or a larger part",
			ErrTooLarge, len(img), s, s.Size)
	}
	if err := d.f.Erase(s.Off, int64(len(img))); err != nil {
		return err
	}
	u := d.f.part.WriteUnit
	for off := 0; off < len(img); off += writeBlock {
		blk := img[off:min(off+writeBlock, len(img))]
		if pad := (u - len(blk)%u) % u; pad != 0 {
			blk = append(slices.Clone(blk), bytes.Repeat([]byte{0xFF}, pad)...)
		}
		if _, err := d.f.WriteAt(blk, s.Off+int64(off)); err != nil {
			return err
		}
	}
	return nil
}

// Install makes img the running image as an earlier update would have:
// written to the inactive slot, set pending, booted and confirmed. It
// returns the slot that now runs it. Tools and tests use it to start a
// device from a known old image.
func (d *Device) Install(img []byte) (Slot, error) {
	if err := d.WriteInactive(img); err != nil {
		return Slot{}, err
	}
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
		return Slot{}, err
	}
	s, err := d.Boot()
	if err != nil {
		return Slot{}, err
	}
	if err := d.Confirm(); err != nil {
		return Slot{}, err
	}
	return s, nil
}

// SetPending marks the image of size bytes now in the inactive slot for
// a trial boot. The slot must hold exactly that image (ErrImageMismatch).
func (d *Device) SetPending(size int64, sum [32]byte) error {
	if err := d.fresh(); err != nil {
		return err
	}
	s := d.Inactive()
	if size <= 0 {
		return fmt.Errorf("flashsim: set pending: image size %d must be positive", size)
	}
	if size > s.Size {
		return fmt.Errorf("%w: image of %d bytes, slot %s holds %d; use a smaller image or a larger part",
			ErrTooLarge, size, s, s.Size)
	}
	if err := d.checkImage(s, size, sum); err != nil {
		return wrap("set pending", err)
	}
	r := d.rec
	r.Pending, r.Tries, r.MaxTries = s, 0, d.cfg.maxTries
	r.ImageSize, r.ImageSHA256, r.Reverted = size, sum, false
	return d.append(r)
}

// Boot simulates a reset and returns the slot that runs. With an image
// pending, it checks the image against its SHA-256 and reverts at once
// on a mismatch; otherwise it counts a try and runs the pending slot, or
// reverts once MaxTries tries are used up. Reverting clears the pending
// slot and runs the active one.
func (d *Device) Boot() (Slot, error) {
	d.running = Slot{}
	if err := d.fresh(); err != nil {
		return Slot{}, err
	}
	r := d.rec
	if r.Pending.Name == 0 {
		d.running = r.Active
		return d.running, nil
	}
	err := d.checkImage(r.Pending, r.ImageSize, r.ImageSHA256)
	switch {
	case errors.Is(err, ErrImageMismatch) || r.Tries >= r.MaxTries:
		r.Pending, r.Tries, r.Reverted = Slot{}, 0, true
	case err != nil:
		return Slot{}, wrap("boot", err)
	default:
		r.Tries++
	}
	if err := d.append(r); err != nil {
		return Slot{}, wrap("boot", err)
	}
	d.running = r.Active
	if r.Pending.Name != 0 {
		d.running = r.Pending
	}
	return d.running, nil
}

// Confirm makes the running pending image the active slot. With nothing
// pending and the active slot running it does nothing.
func (d *Device) Confirm() error {
	if err := d.fresh(); err != nil {
		return err
	}
	r := d.rec
	switch {
	case r.Pending.Name == 0 && d.running.Name != 0 && d.running.Name == r.Active.Name:
		return nil
	case r.Pending.Name == 0 || d.running.Name != r.Pending.Name:
		return fmt.Errorf("%w: running slot %s, pending slot %s; call Boot first", ErrNotBooted, d.running, r.Pending)
	}
	r.Active, r.Pending, r.Tries, r.Reverted = r.Pending, Slot{}, 0, false
	if err := d.append(r); err != nil {
		return wrap("confirm", err)
	}
	return nil
}

// Revert gives up the pending image before it is confirmed: the active
// slot stays and runs at the next Boot, and the record notes the revert.
// With nothing pending it does nothing. An MCU that cannot vouch for an
// image left pending (it lost track of the update) reverts it this way
// rather than wait for MaxTries boots.
func (d *Device) Revert() error {
	if err := d.fresh(); err != nil {
		return err
	}
	r := d.rec
	if r.Pending.Name == 0 {
		return nil
	}
	r.Pending, r.Tries, r.Reverted = Slot{}, 0, true
	if err := d.append(r); err != nil {
		return wrap("revert", err)
	}
	if d.running.Name != r.Active.Name {
		d.running = Slot{} // the pending image stops at the next Boot
	}
	return nil
}

// fresh rereads the record after a failed operation.
func (d *Device) fresh() error {
	if d.stale {
		return d.load()
	}
	return nil
}

// checkImage compares the SHA-256 of the first size bytes of s with sum.
func (d *Device) checkImage(s Slot, size int64, sum [32]byte) error {
	if size <= 0 || size > s.Size {
		return fmt.Errorf("%w: image of %d bytes in slot %s of %d bytes", ErrImageMismatch, size, s, s.Size)
	}
	h := sha256.New()
	buf := make([]byte, 4096)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := d.f.ReadAt(buf[:n], s.Off+off); err != nil {
			return err
		}
		h.Write(buf[:n])
		off += n
	}
	if got := [32]byte(h.Sum(nil)); got != sum {
		return fmt.Errorf("%w: slot %s holds SHA-256 %x, want %x", ErrImageMismatch, s, got[:], sum[:])
	}
	return nil
}
