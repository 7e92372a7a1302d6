package flashsim

import (
	"bytes"
	"errors"
	"testing"
)

func TestPowerCutOff(t *testing.T) {
	f := newFlash(t, "stm32f407vg")
	f.PowerCutAfter(2)
	if _, err := f.WriteAt([]byte{0, 0, 0, 0}, 0); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 0}, 4); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("second write = %v, want ErrPowerCut", err)
	}
	if f.Powered() {
		t.Errorf("Powered() = true after a cut")
	}
	checks := []struct {
		name string
		do   func() error
	}{
		{name: "read", do: func() error { _, err := f.ReadAt(make([]byte, 4), 0); return err }},
		{name: "write", do: func() error { _, err := f.WriteAt([]byte{0, 0, 0, 0}, 8); return err }},
		{name: "erase", do: func() error { return f.EraseSector(1) }},
		{name: "erase range", do: func() error { return f.Erase(0x4000, 1) }},
	}
	for _, c := range checks {
		if err := c.do(); !errors.Is(err, ErrPowerCut) {
			t.Errorf("%s while off = %v, want ErrPowerCut", c.name, err)
		}
	}
	if got := f.Ops(); got != 2 {
		t.Errorf("Ops() = %d, want 2 (operations while off do not count)", got)
	}
	f.PowerOn()
	if got := read(t, f, 0, 4); !allBytes(got, 0) {
		t.Errorf("the write before the cut was lost: % x", got)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 0}, 8); err != nil {
		t.Errorf("write after PowerOn: %v", err)
	}
}

func TestPowerCutDisarm(t *testing.T) {
	tests := []struct {
		name   string
		disarm func(f *Flash)
	}{
		{name: "PowerCutAfter(0)", disarm: func(f *Flash) { f.PowerCutAfter(0) }},
		{name: "PowerOn", disarm: func(f *Flash) { f.PowerOn() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlash(t, "nrf52840")
			f.PowerCutAfter(1)
			tt.disarm(f)
			if err := f.EraseSector(0); err != nil {
				t.Errorf("erase after disarming = %v", err)
			}
		})
	}
}

func TestPowerOff(t *testing.T) {
	f := newFlash(t, "nrf52840")
	f.PowerOff()
	if err := f.EraseSector(0); !errors.Is(err, ErrPowerCut) {
		t.Errorf("erase while off = %v, want ErrPowerCut", err)
	}
	f.PowerOn()
	if f.EraseCount(0) != 0 || f.Ops() != 0 {
		t.Errorf("PowerOff changed the flash: count %d, ops %d", f.EraseCount(0), f.Ops())
	}
}

// TestTornWrite checks the §3.5 model: only bits being cleared may change,
// bytes outside the write stay, and the same operation number tears the
// same way.
func TestTornWrite(t *testing.T) {
	for _, name := range PartNames() {
		t.Run(name, func(t *testing.T) {
			var first []byte
			for round := range 2 {
				f := newFlash(t, name)
				old := bytes.Repeat([]byte{0xF5, 0xFF, 0x7F, 0xFF}, 64)
				if name == "stm32f103c8" || name == "stm32f103cb" {
					old = bytes.Repeat([]byte{0xFF}, 256) // ErasedOnly parts program erased units
				}
				if _, err := f.WriteAt(old, 0x100); err != nil {
					t.Fatal(err)
				}
				data := bytes.Repeat([]byte{0x05, 0x0F, 0x00, 0xFF}, 64)
				f.PowerCutAfter(1)
				if _, err := f.WriteAt(data, 0x100); !errors.Is(err, ErrPowerCut) {
					t.Fatalf("torn write = %v, want ErrPowerCut", err)
				}
				f.PowerOn()
				got := read(t, f, 0, 0x400)
				if !allBytes(got[:0x100], 0xFF) || !allBytes(got[0x200:], 0xFF) {
					t.Errorf("a torn write changed bytes outside its range")
				}
				for i, b := range got[0x100:0x200] {
					if b&^old[i] != 0 || (old[i]&data[i])&^b != 0 {
						t.Fatalf("byte %d: old %#x, data %#x, torn %#x; want only bits being cleared to change",
							i, old[i], data[i], b)
					}
				}
				if round == 0 {
					first = got
				} else if !bytes.Equal(first, got) {
					t.Errorf("the same torn write gave different contents")
				}
			}
		})
	}
}

func TestTornErase(t *testing.T) {
	f := newFlash(t, "nrf52840")
	old := bytes.Repeat([]byte{0x12, 0x34, 0x00, 0x80}, 1024)
	if _, err := f.WriteAt(old, 0x1000); err != nil {
		t.Fatal(err)
	}
	f.PowerCutAfter(1)
	if err := f.Erase(0x1000, 0x1000); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("torn erase = %v, want ErrPowerCut", err)
	}
	f.PowerOn()
	got := read(t, f, 0x1000, 0x1000)
	var erased, kept int
	for i, b := range got {
		if old[i]&^b != 0 {
			t.Fatalf("byte %d: old %#x, torn erase %#x; an erase may only set bits", i, old[i], b)
		}
		switch b {
		case 0xFF:
			erased++
		case old[i]:
			kept++
		}
	}
	if erased == 0 || kept == 0 {
		t.Errorf("torn erase left %d erased and %d old bytes; want some of each", erased, kept)
	}
	if f.EraseCount(1) != 1 {
		t.Errorf("EraseCount(1) = %d, want 1 (a torn erase still wears)", f.EraseCount(1))
	}
	if b := read(t, f, 0, 0x1000); !allBytes(b, 0xFF) {
		t.Errorf("a torn erase changed another sector")
	}
}
