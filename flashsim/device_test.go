package flashsim

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
)

// image returns a deterministic test image of n bytes.
func image(seed uint64, n int) []byte {
	r := newRNG(seed)
	b := make([]byte, n)
	for i := range b {
		b[i] = r.byte()
	}
	return b
}

func newDevice(t testing.TB, f *Flash, opts ...Option) *Device {
	t.Helper()
	l, err := DefaultLayout(f.Part())
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDevice(f, l, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// update writes img to the inactive slot and marks it pending.
func update(t testing.TB, d *Device, img []byte) {
	t.Helper()
	if err := d.WriteInactive(img); err != nil {
		t.Fatalf("WriteInactive: %v", err)
	}
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
		t.Fatalf("SetPending: %v", err)
	}
}

func boot(t testing.TB, d *Device, want byte) {
	t.Helper()
	s, err := d.Boot()
	if err != nil || s.Name != want {
		t.Fatalf("Boot() = %v, %v; want slot %c", s, err, want)
	}
}

func TestDefaultLayout(t *testing.T) {
	tests := []struct {
		part      string
		slot      int64
		record    Region
		wantError bool
	}{
		{part: "stm32f103c8", slot: 31 * kib, record: Region{0xF800, 2 * kib}},
		{part: "stm32f103cb", slot: 63 * kib, record: Region{0x1F800, 2 * kib}},
		{part: "stm32f407vg", slot: 384 * kib, record: Region{0xC0000, 256 * kib}},
		{part: "nrf52840", slot: 508 * kib, record: Region{0xFE000, 8 * kib}},
		{part: "w25q32", slot: 2044 * kib, record: Region{0x3FE000, 8 * kib}},
	}
	for _, tt := range tests {
		t.Run(tt.part, func(t *testing.T) {
			p := mustPart(t, tt.part)
			l, err := DefaultLayout(p)
			if err != nil {
				t.Fatal(err)
			}
			want := Layout{A: Region{0, tt.slot}, B: Region{tt.slot, tt.slot}, Record: tt.record}
			if l != want {
				t.Errorf("DefaultLayout = %+v, want %+v", l, want)
			}
			if err := l.check(New(p)); err != nil {
				t.Errorf("the default layout does not pass its own check: %v", err)
			}
		})
	}
	t.Run("too few sectors", func(t *testing.T) {
		p := mustPart(t, "nrf52840")
		p.Sectors = p.Sectors[:3]
		if _, err := DefaultLayout(p); err == nil {
			t.Errorf("DefaultLayout of 3 sectors = nil error, want one")
		}
	})
}

func TestNewDeviceLayoutErrors(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	good, _ := DefaultLayout(f.Part())
	tests := []struct {
		name   string
		change func(*Layout)
	}{
		{name: "record one sector", change: func(l *Layout) { l.Record = Region{0xFC00, kib} }},
		{name: "slot misaligned", change: func(l *Layout) { l.B.Off += 2 }},
		{name: "slots overlap", change: func(l *Layout) { l.B = l.A }},
		{name: "record overlaps B", change: func(l *Layout) { l.Record = Region{l.B.Off, 2 * kib} }},
		{name: "outside the flash", change: func(l *Layout) { l.Record = Region{63 * kib, 2 * kib} }},
		{name: "empty slot", change: func(l *Layout) { l.A.Size = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := good
			tt.change(&l)
			if _, err := NewDevice(f, l); err == nil {
				t.Errorf("NewDevice(%+v) = nil error, want one", l)
			}
		})
	}
}

func TestDeviceUpdate(t *testing.T) {
	for _, name := range PartNames() {
		t.Run(name, func(t *testing.T) {
			f := newFlash(t, name)
			d := newDevice(t, f)
			if d.Active().Name != 'A' || d.Running().Name != 0 || d.Record().Seq != 0 {
				t.Fatalf("fresh device: active %v running %v seq %d; want A, none, 0", d.Active(), d.Running(), d.Record().Seq)
			}
			boot(t, d, 'A')
			img := image(1, 5000)
			update(t, d, img)
			if r := d.Record(); r.Pending.Name != 'B' || r.Tries != 0 || r.ImageSize != 5000 {
				t.Fatalf("after SetPending: %+v", r)
			}
			boot(t, d, 'B')
			if err := d.Confirm(); err != nil {
				t.Fatalf("Confirm: %v", err)
			}
			r := d.Record()
			if r.Active.Name != 'B' || r.Pending.Name != 0 || r.Active.Region != d.Layout().B {
				t.Fatalf("after Confirm: %+v", r)
			}
			if d.Inactive().Name != 'A' {
				t.Errorf("Inactive() = %v, want A", d.Inactive())
			}
			// The state survives a reset and a save and load.
			path := filepath.Join(t.TempDir(), "dev.flash")
			if err := f.Save(path); err != nil {
				t.Fatal(err)
			}
			g, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			d2 := newDevice(t, g)
			if d2.Record() != r {
				t.Errorf("record after reload = %+v, want %+v", d2.Record(), r)
			}
			boot(t, d2, 'B')
			if err := d2.Confirm(); err != nil {
				t.Errorf("Confirm with nothing pending = %v, want nil", err)
			}
		})
	}
}

func TestDeviceRevertAfterTries(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		maxTries int
	}{
		{name: "default", maxTries: DefaultMaxTries},
		{name: "one try", opts: []Option{WithMaxTries(1)}, maxTries: 1},
		{name: "five tries", opts: []Option{WithMaxTries(5)}, maxTries: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t, newFlash(t, "stm32f103c8"), tt.opts...)
			update(t, d, image(2, 3000))
			for i := 1; i <= tt.maxTries; i++ {
				boot(t, d, 'B')
				if got := d.Record().Tries; got != i {
					t.Fatalf("tries after boot %d = %d", i, got)
				}
			}
			boot(t, d, 'A')
			r := d.Record()
			if r.Pending.Name != 0 || !r.Reverted || r.Active.Name != 'A' {
				t.Errorf("after the tries ran out: %+v; want A active, nothing pending, reverted", r)
			}
			if err := d.Confirm(); err != nil {
				t.Errorf("Confirm of the running active slot = %v", err)
			}
		})
	}
}

func TestDeviceImageMismatch(t *testing.T) {
	d := newDevice(t, newFlash(t, "nrf52840"))
	img := image(3, 4096)
	if err := d.WriteInactive(img); err != nil {
		t.Fatal(err)
	}
	wrong := sha256.Sum256(img[1:])
	if err := d.SetPending(int64(len(img)), wrong); !errors.Is(err, ErrImageMismatch) {
		t.Fatalf("SetPending with a wrong SHA-256 = %v, want ErrImageMismatch", err)
	}
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
		t.Fatal(err)
	}
	// Damage the pending image: Boot must revert at once.
	if _, err := d.Flash().WriteAt([]byte{0, 0, 0, 0}, d.Inactive().Off+100); err != nil {
		t.Fatal(err)
	}
	boot(t, d, 'A')
	if r := d.Record(); r.Pending.Name != 0 || !r.Reverted || r.Tries != 0 {
		t.Errorf("after a mismatching boot: %+v; want reverted with nothing pending", r)
	}
}

func TestDeviceErrors(t *testing.T) {
	d := newDevice(t, newFlash(t, "stm32f103c8"))
	big := make([]byte, d.Inactive().Size+1)
	if err := d.WriteInactive(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("WriteInactive of %d bytes = %v, want ErrTooLarge", len(big), err)
	}
	if err := d.SetPending(d.Inactive().Size+1, [32]byte{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("SetPending past the slot = %v, want ErrTooLarge", err)
	}
	if err := d.Confirm(); !errors.Is(err, ErrNotBooted) {
		t.Errorf("Confirm before Boot = %v, want ErrNotBooted", err)
	}
	boot(t, d, 'A')
	update(t, d, image(4, 100))
	if err := d.Confirm(); !errors.Is(err, ErrNotBooted) {
		t.Errorf("Confirm of a pending image not yet booted = %v, want ErrNotBooted", err)
	}
}

// TestRecordRollover runs enough updates to fill and recycle both
// record sectors several times, checking the erases alternate.
func TestRecordRollover(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	d := newDevice(t, f)
	perSector := kib / recordSlot(f.Part())
	for i := range 3 * perSector {
		update(t, d, image(uint64(i), 200))
		boot(t, d, d.Inactive().Name)
		if err := d.Confirm(); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 { // a reset now and then reads the record back
			want := d.Record()
			d = newDevice(t, f)
			if d.Record() != want {
				t.Fatalf("update %d: record after reset %+v, want %+v", i, d.Record(), want)
			}
		}
	}
	if got, want := d.Record().Seq, uint32(9*perSector); got != want {
		t.Errorf("Seq = %d, want %d", got, want)
	}
	a, b := f.EraseCount(62), f.EraseCount(63)
	if a < 4 || b < 4 || a-b > 1 || b-a > 1 {
		t.Errorf("record sector erase counts %d and %d; want them alternating", a, b)
	}
}

// TestDeviceRereadsAfterFailure: after a failed change the same Device
// rereads the record instead of trusting its memory.
func TestDeviceRereadsAfterFailure(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	d := newDevice(t, f)
	img := image(5, 2048)
	if err := d.WriteInactive(img); err != nil {
		t.Fatal(err)
	}
	f.PowerCutAfter(1)
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("SetPending during a cut = %v, want ErrPowerCut", err)
	}
	if _, err := d.Boot(); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("Boot while off = %v, want ErrPowerCut", err)
	}
	f.PowerOn()
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
		t.Fatalf("SetPending after PowerOn: %v", err)
	}
	boot(t, d, 'B')
	if err := d.Confirm(); err != nil {
		t.Fatal(err)
	}
	if got := newDevice(t, f).Record(); got != d.Record() {
		t.Errorf("record on flash %+v, device says %+v", got, d.Record())
	}
}

func TestErrorMessages(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	if _, err := f.WriteAt([]byte{1, 2}, 0x800); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{
			name: "not erased",
			err:  func() error { _, err := f.WriteAt([]byte{1, 1}, 0x800); return err },
			want: "flashsim: write at offset 0x800: unit not erased: the unit holds 01 02, the write wants 01 01; " +
				"on this part a unit can only be programmed when erased (all 0xFF) or to all zeros, so erase the sector first",
		},
		{
			name: "align",
			err:  func() error { _, err := f.WriteAt([]byte{1}, 0x801); return err },
			want: "flashsim: write at offset 0x801: misaligned offset or length: length 1; offset and length must be multiples of the 2-byte write unit",
		},
		{
			name: "sector index",
			err:  func() error { return f.EraseSector(64) },
			want: "flashsim: erase: outside the flash: sector 64; the part has sectors 0 to 63",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err(); got == nil || got.Error() != tt.want {
				t.Errorf("error = %v\nwant    %s", got, tt.want)
			}
		})
	}
}

func TestDeviceInstall(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	d := newDevice(t, f)
	img := image(9, 3000)
	s, err := d.Install(img)
	if err != nil {
		t.Fatal(err)
	}
	r := d.Record()
	if s.Name != 'B' || r.Active.Name != 'B' || r.Pending.Name != 0 || r.ImageSize != 3000 || r.ImageSHA256 != sha256.Sum256(img) {
		t.Fatalf("Install: slot %v, record %+v; want B active with the image, nothing pending", s, r)
	}
	// A reset runs it.
	boot(t, newDevice(t, f), 'B')
	if _, err := d.Install(make([]byte, 1<<20)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Install of 1 MiB = %v, want ErrTooLarge", err)
	}
}
