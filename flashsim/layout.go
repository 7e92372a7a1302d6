package flashsim

import (
	"errors"
	"fmt"
)

// Region is a range of flash, as offsets from the flash start.
type Region struct {
	Off  int64 // first byte
	Size int64 // length in bytes
}

// End returns the offset just past the region.
func (r Region) End() int64 { return r.Off + r.Size }

// String returns "[0x7c00, 0xf800)".
func (r Region) String() string { return fmt.Sprintf("[%#x, %#x)", r.Off, r.End()) }

func (r Region) overlaps(s Region) bool { return r.Off < s.End() && s.Off < r.End() }

// Layout places the two image slots and the boot record region in a flash.
// Each region starts and ends on sector boundaries.
type Layout struct {
	Record Region // boot records; at least two sectors
	A, B   Region // the image slots
}

// DefaultLayout returns the layout used when none is given: the last two
// sectors hold the boot record (two, so the record survives a torn
// erase), and the flash before them is split into two equal,
// sector-aligned slots A and B, as large as possible, A first. No space is
// set aside for a bootloader. A sector left over when the count is odd
// stays unused between B and the record. For the known parts:
//
//	part          slot A              slot B                record
//	stm32f103c8   0x0     +31 KiB     0x7c00  +31 KiB       0xf800  +2 KiB
//	stm32f103cb   0x0     +63 KiB     0xfc00  +63 KiB       0x1f800 +2 KiB
//	stm32f407vg   0x0     +384 KiB    0x60000 +384 KiB      0xc0000 +256 KiB
//	nrf52840      0x0     +508 KiB    0x7f000 +508 KiB      0xfe000 +8 KiB
//	w25q32        0x0     +2044 KiB   0x1ff000 +2044 KiB    0x3fe000 +8 KiB
//
// On the stm32f407vg the last two sectors are 128 KiB each, so the record
// takes 256 KiB; in exchange the remaining 768 KiB split evenly at the
// 384 KiB boundary: slot A is sectors 0-6 (4x16, 64 and 2x128 KiB) and
// slot B is sectors 7-9. Offsets are from the flash start (add Part.Base
// for addresses).
func DefaultLayout(p Part) (Layout, error) {
	if err := p.Validate(); err != nil {
		return Layout{}, err
	}
	n := len(p.Sectors)
	if n < 4 {
		return Layout{}, fmt.Errorf("flashsim: part %s has %d sectors; A/B slots and a record need at least 4", p.Name, n)
	}
	bounds := make([]int64, n+1) // bounds[i] is the offset of sector i
	for i, s := range p.Sectors {
		bounds[i+1] = bounds[i] + s
	}
	recStart := bounds[n-2]
	isBound := make(map[int64]bool, n)
	for _, b := range bounds[:n-1] {
		isBound[b] = true
	}
	for i := n - 2; i > 0; i-- {
		s := bounds[i]
		if 2*s <= recStart && isBound[2*s] {
			return Layout{
				A:      Region{Off: 0, Size: s},
				B:      Region{Off: s, Size: s},
				Record: Region{Off: recStart, Size: p.Size() - recStart},
			}, nil
		}
	}
	return Layout{}, fmt.Errorf("flashsim: part %s: no two equal sector-aligned slots fit before the record", p.Name)
}

// check reports whether l fits f: every region non-empty, sector aligned,
// inside the flash and disjoint from the others, and the record region at
// least two sectors of whole boot records.
func (l Layout) check(f *Flash) error {
	regions := []struct {
		name string
		r    Region
	}{{"record", l.Record}, {"slot A", l.A}, {"slot B", l.B}}
	for i, x := range regions {
		if x.r.Size <= 0 || x.r.Off < 0 || x.r.End() > f.Size() {
			return fmt.Errorf("flashsim: layout: %s %v is empty or outside the %d-byte flash", x.name, x.r, f.Size())
		}
		if !f.isBound(x.r.Off) || !f.isBound(x.r.End()) {
			return fmt.Errorf("flashsim: layout: %s %v does not start and end on sector boundaries", x.name, x.r)
		}
		for _, y := range regions[:i] {
			if x.r.overlaps(y.r) {
				return fmt.Errorf("flashsim: layout: %s %v overlaps %s %v", x.name, x.r, y.name, y.r)
			}
		}
	}
	first, _, _, _ := f.Sector(l.Record.Off)
	last, _, _, _ := f.Sector(l.Record.End() - 1)
	if last == first {
		return errors.New("flashsim: layout: the record region needs at least two sectors so a torn erase cannot lose the record")
	}
	for i := first; i <= last; i++ {
		if f.part.Sectors[i]%int64(recordSlot(f.part)) != 0 {
			return fmt.Errorf("flashsim: layout: record sector %d (%d bytes) does not hold whole %d-byte records",
				i, f.part.Sectors[i], recordSlot(f.part))
		}
	}
	return nil
}

func (f *Flash) isBound(off int64) bool {
	if off == f.Size() {
		return true
	}
	_, start, _, err := f.Sector(off)
	return err == nil && start == off
}
