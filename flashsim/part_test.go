package flashsim

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func mustPart(t testing.TB, name string) Part {
	t.Helper()
	p, err := LookupPart(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPartTable(t *testing.T) {
	tests := []struct {
		name      string
		pid       uint16
		base      uint32
		size      int64
		sectors   int
		writeUnit int
		reprogram Reprogram
	}{
		{name: "stm32f103c8", pid: 0x410, base: 0x08000000, size: 64 * kib, sectors: 64, writeUnit: 2, reprogram: ErasedOnly},
		{name: "stm32f103cb", pid: 0x410, base: 0x08000000, size: 128 * kib, sectors: 128, writeUnit: 2, reprogram: ErasedOnly},
		{name: "stm32f407vg", pid: 0x413, base: 0x08000000, size: 1 * mib, sectors: 12, writeUnit: 4, reprogram: AndBits},
		{name: "nrf52840", pid: 0, base: 0, size: 1 * mib, sectors: 256, writeUnit: 4, reprogram: AndBits},
		{name: "w25q32", pid: 0, base: 0, size: 4 * mib, sectors: 1024, writeUnit: 1, reprogram: AndBits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPart(t, tt.name)
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if p.PID != tt.pid || p.Base != tt.base || p.WriteUnit != tt.writeUnit || p.Reprogram != tt.reprogram {
				t.Errorf("got PID %#x base %#x unit %d %v, want %#x %#x %d %v",
					p.PID, p.Base, p.WriteUnit, p.Reprogram, tt.pid, tt.base, tt.writeUnit, tt.reprogram)
			}
			if got := p.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
			if got := len(p.Sectors); got != tt.sectors {
				t.Errorf("len(Sectors) = %d, want %d", got, tt.sectors)
			}
		})
	}
	if got, want := len(PartNames()), len(tests); got != want {
		t.Errorf("len(PartNames()) = %d, want %d", got, want)
	}
}

func TestLookupPart(t *testing.T) {
	t.Run("case-insensitive", func(t *testing.T) {
		p, err := LookupPart("STM32F407VG")
		if err != nil || p.Name != "stm32f407vg" {
			t.Fatalf("LookupPart(STM32F407VG) = %q, %v; want stm32f407vg", p.Name, err)
		}
	})
	t.Run("unknown lists the known names", func(t *testing.T) {
		_, err := LookupPart("stm32f030")
		if !errors.Is(err, ErrUnknownPart) {
			t.Fatalf("err = %v, want ErrUnknownPart", err)
		}
		for _, name := range PartNames() {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		}
	})
	t.Run("returned sectors are a copy", func(t *testing.T) {
		p := mustPart(t, "stm32f407vg")
		p.Sectors[0] = 1
		if q := mustPart(t, "stm32f407vg"); q.Sectors[0] != 16*kib {
			t.Errorf("part table changed through a returned Part: sector 0 = %d", q.Sectors[0])
		}
	})
}

func TestPartValidate(t *testing.T) {
	good := mustPart(t, "nrf52840")
	tests := []struct {
		name   string
		change func(*Part)
	}{
		{name: "no name", change: func(p *Part) { p.Name = "" }},
		{name: "no sectors", change: func(p *Part) { p.Sectors = nil }},
		{name: "zero write unit", change: func(p *Part) { p.WriteUnit = 0 }},
		{name: "sector not a multiple of the unit", change: func(p *Part) { p.Sectors = []int64{4096, 4095} }},
		{name: "no reprogram rule", change: func(p *Part) { p.Reprogram = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			p.Sectors = append([]int64(nil), good.Sectors...)
			tt.change(&p)
			if err := p.Validate(); err == nil {
				t.Errorf("Validate() = nil, want an error")
			}
		})
	}
}

func TestPartsWithPID(t *testing.T) {
	tests := []struct {
		pid  uint16
		want []string
	}{
		{pid: 0x410, want: []string{"stm32f103cb", "stm32f103c8"}},
		{pid: 0x413, want: []string{"stm32f407vg"}},
		{pid: 0x999},
		{pid: 0},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range PartsWithPID(tt.pid) {
			got = append(got, p.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("PartsWithPID(%#x) = %q, want %q", tt.pid, got, tt.want)
		}
	}
}
