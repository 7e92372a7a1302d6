package flashsim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Reprogram says how a program unit that is not erased may be programmed.
type Reprogram int

const (
	// AndBits allows any write that only changes bits from 1 to 0, as on
	// the STM32F4 (RM0090) and the nRF52840. The result is old AND new.
	AndBits Reprogram = iota + 1
	// ErasedOnly allows a write only into a unit that reads all 0xFF,
	// except that writing all zeros is allowed anywhere, as on the
	// STM32F1 (RM0008: otherwise the write is skipped with PGERR).
	ErasedOnly
)

// String returns "and-bits" or "erased-only".
func (r Reprogram) String() string {
	switch r {
	case AndBits:
		return "and-bits"
	case ErasedOnly:
		return "erased-only"
	}
	return fmt.Sprintf("Reprogram(%d)", int(r))
}

// rule explains the rule in words, for error messages.
func (r Reprogram) rule() string {
	if r == ErasedOnly {
		return "on this part a unit can only be programmed when erased (all 0xFF) or to all zeros, so erase the sector first"
	}
	return "a write can only clear bits, so erase the sector first"
}

// Part describes the geometry and programming rules of one flash part.
type Part struct {
	Name      string    // lower-case part name, e.g. "stm32f103c8"
	PID       uint16    // STM32 ROM bootloader product ID (AN3155 Get ID); 0 if none
	Base      uint32    // address of the flash start in the MCU's memory map
	Sectors   []int64   // size of each erase unit (page or sector), in address order
	WriteUnit int       // program unit in bytes; writes are aligned to it and a multiple of it
	Reprogram Reprogram // how a unit that is not erased may be programmed
	Endurance int       // rated erase cycles per sector (datasheet minimum)
	RAMBase   uint32    // address of the main SRAM
	RAMSize   uint32    // size of the main SRAM in bytes
}

// Size returns the total flash size in bytes.
func (p Part) Size() int64 {
	var n int64
	for _, s := range p.Sectors {
		n += s
	}
	return n
}

// Validate reports whether p describes a usable flash: at least one
// sector, a positive write unit that divides every sector size, and a
// known Reprogram rule.
func (p Part) Validate() error {
	if p.Name == "" || len(p.Name) > 255 {
		return fmt.Errorf("flashsim: part name %q must be 1 to 255 bytes", p.Name)
	}
	if len(p.Sectors) == 0 {
		return fmt.Errorf("flashsim: part %q has no sectors", p.Name)
	}
	if p.WriteUnit <= 0 {
		return fmt.Errorf("flashsim: part %q: write unit %d must be positive", p.Name, p.WriteUnit)
	}
	for i, s := range p.Sectors {
		if s <= 0 || s%int64(p.WriteUnit) != 0 {
			return fmt.Errorf("flashsim: part %q: sector %d size %d is not a positive multiple of the %d-byte write unit",
				p.Name, i, s, p.WriteUnit)
		}
	}
	if p.Reprogram != AndBits && p.Reprogram != ErasedOnly {
		return fmt.Errorf("flashsim: part %q: unknown reprogram rule %v", p.Name, p.Reprogram)
	}
	return nil
}

// DefaultPart is the part used when none is named.
const DefaultPart = "stm32f103c8"

const (
	kib = 1024
	mib = 1024 * kib
)

// uniform returns n sectors of size bytes each.
func uniform(n int, size int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// parts is the part table. Sources: RM0008 (F103), RM0090 (F407),
// nRF52840 product specification, Winbond W25Q32JV datasheet, stm32flash
// dev_table.c for the PIDs.
var parts = []Part{
	{
		Name: "stm32f103c8", PID: 0x410, Base: 0x08000000,
		Sectors: uniform(64, 1*kib), WriteUnit: 2, Reprogram: ErasedOnly,
		Endurance: 10000, RAMBase: 0x20000000, RAMSize: 20 * kib,
	},
	{
		Name: "stm32f103cb", PID: 0x410, Base: 0x08000000,
		Sectors: uniform(128, 1*kib), WriteUnit: 2, Reprogram: ErasedOnly,
		Endurance: 10000, RAMBase: 0x20000000, RAMSize: 20 * kib,
	},
	{
		Name: "stm32f407vg", PID: 0x413, Base: 0x08000000,
		Sectors: []int64{
			16 * kib, 16 * kib, 16 * kib, 16 * kib,
			64 * kib,
			128 * kib, 128 * kib, 128 * kib, 128 * kib, 128 * kib, 128 * kib, 128 * kib,
		},
		WriteUnit: 4, Reprogram: AndBits,
		Endurance: 10000, RAMBase: 0x20000000, RAMSize: 128 * kib,
	},
	{
		Name: "nrf52840", PID: 0, Base: 0,
		Sectors: uniform(256, 4*kib), WriteUnit: 4, Reprogram: AndBits,
		Endurance: 10000, RAMBase: 0x20000000, RAMSize: 256 * kib,
	},
	// An external SPI NOR flash (Winbond W25Q32JV) as an MCU's update
	// store: 4 MiB in 4 KiB sectors, any byte programmable, no RAM.
	{
		Name: "w25q32", PID: 0, Base: 0,
		Sectors: uniform(1024, 4*kib), WriteUnit: 1, Reprogram: AndBits,
		Endurance: 100000,
	},
}

// ErrUnknownPart is wrapped by LookupPart for a name not in the part table.
var ErrUnknownPart = errors.New("flashsim: unknown part")

// PartNames returns the names of the known parts, sorted.
func PartNames() []string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.Name
	}
	slices.Sort(names)
	return names
}

// LookupPart returns the part with the given name (case-insensitive).
// The returned Part owns its Sectors slice.
func LookupPart(name string) (Part, error) {
	for _, p := range parts {
		if strings.EqualFold(p.Name, name) {
			p.Sectors = slices.Clone(p.Sectors)
			return p, nil
		}
	}
	return Part{}, fmt.Errorf("%w %q (known parts: %s)", ErrUnknownPart, name, strings.Join(PartNames(), ", "))
}

// PartsWithPID returns the known parts whose STM32 bootloader product ID
// is pid, largest flash first (stm32flash, too, takes a family's largest
// flash: the ID does not tell the size). pid 0 matches nothing.
func PartsWithPID(pid uint16) []Part {
	var ps []Part
	for _, p := range parts {
		if pid != 0 && p.PID == pid {
			p.Sectors = slices.Clone(p.Sectors)
			ps = append(ps, p)
		}
	}
	slices.SortStableFunc(ps, func(a, b Part) int { return int(b.Size() - a.Size()) })
	return ps
}
