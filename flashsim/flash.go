package flashsim

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
)

var le = binary.LittleEndian

// Flash is a simulated NOR flash. The zero value is not usable; create one
// with New, Load or Open. A Flash is not safe for concurrent use.
type Flash struct {
	part   Part
	data   []byte
	starts []int64 // starts[i] is the offset of sector i; starts[len(Sectors)] is the size
	erases []int   // erase count per sector
	ops    int     // write and erase operations performed (incl. torn ones)
	cutAt  int     // operation number to tear; 0 when no cut is armed
	off    bool    // the device is off after a power cut

	recording bool   // append every operation's result to oplog (Store)
	oplog     []byte // records not yet taken by a Store; see oplog.go
}

// New returns a flash of part p with every byte erased (0xFF).
// It panics if p is not valid (see Part.Validate); parts from LookupPart
// always are.
func New(p Part) *Flash {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	p.Sectors = slices.Clone(p.Sectors)
	f := &Flash{
		part:   p,
		data:   make([]byte, p.Size()),
		starts: make([]int64, len(p.Sectors)+1),
		erases: make([]int, len(p.Sectors)),
	}
	fill(f.data, 0xFF)
	for i, s := range p.Sectors {
		f.starts[i+1] = f.starts[i] + s
	}
	return f
}

// Part returns the part the flash models.
func (f *Flash) Part() Part {
	p := f.part
	p.Sectors = slices.Clone(p.Sectors)
	return p
}

// Size returns the flash size in bytes.
func (f *Flash) Size() int64 { return int64(len(f.data)) }

// Clone returns an independent copy of f: contents, erase counts,
// operation count and power state. The copy records nothing for a Store.
func (f *Flash) Clone() *Flash {
	g := *f
	g.part.Sectors = slices.Clone(f.part.Sectors)
	g.data = slices.Clone(f.data)
	g.starts = slices.Clone(f.starts)
	g.erases = slices.Clone(f.erases)
	g.recording, g.oplog = false, nil
	return &g
}

// ReadAt reads len(p) bytes at offset off from the flash start. Like
// io.ReaderAt it returns io.EOF when fewer than len(p) bytes remain.
// It fails with ErrPowerCut while the device is off.
func (f *Flash) ReadAt(p []byte, off int64) (int, error) {
	if f.off {
		return 0, opErr("read", off, ErrPowerCut, "")
	}
	if off < 0 {
		return 0, opErr("read", off, ErrRange, "negative offset")
	}
	if off >= f.Size() {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt programs p at offset off from the flash start. Offset and
// length must be multiples of the write unit (ErrAlign), the range must
// lie inside the flash (ErrRange), and every unit must obey the part's
// Reprogram rule (ErrNotErased); a write that breaks a rule changes
// nothing. A write of zero bytes does nothing and is not an operation.
// Errors are *OpError values carrying the offset.
func (f *Flash) WriteAt(p []byte, off int64) (int, error) {
	if f.off {
		return 0, opErr("write", off, ErrPowerCut, "")
	}
	if off < 0 || off > f.Size() || int64(len(p)) > f.Size()-off {
		return 0, opErr("write", off, ErrRange, "%d bytes do not fit the %d-byte flash", len(p), f.Size())
	}
	u := f.part.WriteUnit
	if off%int64(u) != 0 || len(p)%u != 0 {
		return 0, opErr("write", off, ErrAlign,
			"length %d; offset and length must be multiples of the %d-byte write unit", len(p), u)
	}
	if len(p) == 0 {
		return 0, nil
	}
	dst := f.data[off : off+int64(len(p))]
	if i := f.firstBadUnit(dst, p); i >= 0 {
		return 0, opErr("write", off+int64(i), ErrNotErased,
			"the unit holds % x, the write wants % x; %s", dst[i:i+u], p[i:i+u], f.part.Reprogram.rule())
	}
	f.ops++
	if f.ops == f.cutAt {
		tearWrite(dst, p, f.ops, u)
		f.recordData(off, dst)
		f.cut()
		return 0, opErr("write", off, ErrPowerCut, "write of %d bytes torn at operation %d", len(p), f.ops)
	}
	andBytes(dst, p)
	f.recordData(off, dst)
	return len(p), nil
}

// firstBadUnit returns the index in dst of the first unit that p may not
// be programmed into, or -1.
func (f *Flash) firstBadUnit(dst, p []byte) int {
	u := f.part.WriteUnit
	switch f.part.Reprogram {
	case AndBits:
		i := 0
		for ; i+8 <= len(p); i += 8 {
			if le.Uint64(p[i:])&^le.Uint64(dst[i:]) != 0 {
				break
			}
		}
		for ; i < len(p); i++ {
			if p[i]&^dst[i] != 0 {
				return i / u * u
			}
		}
	case ErasedOnly:
		if allBytes(dst, 0xFF) {
			return -1
		}
		for i := 0; i < len(p); i += u {
			if !allBytes(p[i:i+u], 0x00) && !allBytes(dst[i:i+u], 0xFF) {
				return i
			}
		}
	}
	return -1
}

// andBytes sets dst[i] &= p[i], eight bytes at a time.
func andBytes(dst, p []byte) {
	i := 0
	for ; i+8 <= len(p); i += 8 {
		le.PutUint64(dst[i:], le.Uint64(dst[i:])&le.Uint64(p[i:]))
	}
	for ; i < len(p); i++ {
		dst[i] &= p[i]
	}
}

// allBytes reports whether every byte of b is v.
func allBytes(b []byte, v byte) bool {
	return len(b) == 0 || b[0] == v && bytes.Equal(b[1:], b[:len(b)-1])
}

// fill sets every byte of b to v.
func fill(b []byte, v byte) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// EraseSector sets every byte of sector i to 0xFF.
func (f *Flash) EraseSector(i int) error {
	if i < 0 || i >= len(f.erases) {
		return opErr("erase", -1, ErrRange, "sector %d; the part has sectors 0 to %d", i, len(f.erases)-1)
	}
	start, end := f.starts[i], f.starts[i+1]
	if f.off {
		return opErr("erase", start, ErrPowerCut, "")
	}
	f.ops++
	f.erases[i]++
	sec := f.data[start:end]
	if f.ops == f.cutAt {
		tearErase(sec, f.ops)
		f.recordData(start, sec)
		f.recordErase(i, false)
		f.cut()
		return opErr("erase", start, ErrPowerCut, "erase of sector %d torn at operation %d", i, f.ops)
	}
	fill(sec, 0xFF)
	f.recordErase(i, true)
	return nil
}

// Erase erases every sector that [off, off+n) touches, one operation per
// sector. off must be the start of a sector (ErrAlign) and the range must
// lie inside the flash (ErrRange). It stops at the first failure.
func (f *Flash) Erase(off, n int64) error {
	if off < 0 || n < 0 || off > f.Size() || n > f.Size()-off {
		return opErr("erase", off, ErrRange, "%d bytes do not fit the %d-byte flash", n, f.Size())
	}
	if n == 0 {
		return nil
	}
	i, start, _, err := f.Sector(off)
	if err != nil {
		return err
	}
	if start != off {
		return opErr("erase", off, ErrAlign, "sector %d starts at %#x", i, start)
	}
	for ; i < len(f.erases) && f.starts[i] < off+n; i++ {
		if err := f.EraseSector(i); err != nil {
			return err
		}
	}
	return nil
}

// Sector returns the index, start offset and size of the sector holding
// offset off.
func (f *Flash) Sector(off int64) (index int, start, size int64, err error) {
	if off < 0 || off >= f.Size() {
		return 0, 0, 0, opErr("sector lookup", off, ErrRange, "the flash is %d bytes", f.Size())
	}
	i, found := slices.BinarySearch(f.starts, off)
	if !found {
		i--
	}
	return i, f.starts[i], f.starts[i+1] - f.starts[i], nil
}

// NumSectors returns the number of sectors.
func (f *Flash) NumSectors() int { return len(f.erases) }

// EraseCount returns how often sector i has been erased (torn erases
// included), or 0 for an index out of range.
func (f *Flash) EraseCount(i int) int {
	if i < 0 || i >= len(f.erases) {
		return 0
	}
	return f.erases[i]
}

// WornSectors returns the indexes of the sectors erased more often than
// the part's rated endurance.
func (f *Flash) WornSectors() []int {
	var worn []int
	for i, n := range f.erases {
		if f.part.Endurance > 0 && n > f.part.Endurance {
			worn = append(worn, i)
		}
	}
	return worn
}

// Ops returns the number of write and erase operations performed so far
// (torn ones included; rejected ones not). Load and New start at 0.
func (f *Flash) Ops() int { return f.ops }
