package flashsim

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func newFlash(t testing.TB, part string) *Flash {
	t.Helper()
	return New(mustPart(t, part))
}

func read(t testing.TB, f *Flash, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("ReadAt(%d bytes at %#x) = %v", n, off, err)
	}
	return b
}

func TestNewIsErased(t *testing.T) {
	for _, name := range PartNames() {
		t.Run(name, func(t *testing.T) {
			f := newFlash(t, name)
			if got, want := f.Size(), f.Part().Size(); got != want {
				t.Fatalf("Size() = %d, want %d", got, want)
			}
			if b := read(t, f, 0, int(f.Size())); !allBytes(b, 0xFF) {
				t.Errorf("a new flash is not all 0xFF")
			}
			if f.Ops() != 0 || f.EraseCount(0) != 0 {
				t.Errorf("Ops() = %d, EraseCount(0) = %d; want 0, 0", f.Ops(), f.EraseCount(0))
			}
		})
	}
}

func TestWriteRules(t *testing.T) {
	type write struct {
		off  int64
		data []byte
	}
	tests := []struct {
		name    string
		part    string
		before  []write // applied first, must succeed
		off     int64
		data    []byte
		wantErr error
		want    []byte // contents at off afterwards (len(data) bytes unless set longer)
	}{
		{name: "f103 into erased", part: "stm32f103c8", off: 0x400, data: []byte{0x12, 0x34}, want: []byte{0x12, 0x34}},
		{name: "f103 clear more bits of a programmed unit", part: "stm32f103c8",
			before: []write{{0, []byte{0xFE, 0xFF}}}, data: []byte{0xFC, 0xFF}, wantErr: ErrNotErased, want: []byte{0xFE, 0xFF}},
		{name: "f103 zeros over a programmed unit", part: "stm32f103c8",
			before: []write{{0, []byte{0x12, 0x34}}}, data: []byte{0, 0}, want: []byte{0, 0}},
		{name: "f103 0xFFFF over a programmed unit", part: "stm32f103c8",
			before: []write{{0, []byte{0x12, 0x34}}}, data: []byte{0xFF, 0xFF}, wantErr: ErrNotErased, want: []byte{0x12, 0x34}},
		{name: "f103 half zero over a programmed unit", part: "stm32f103cb",
			before: []write{{0, []byte{0x12, 0x34}}}, data: []byte{0x00, 0x34}, wantErr: ErrNotErased, want: []byte{0x12, 0x34}},
		{name: "f103 bad second unit changes nothing", part: "stm32f103c8",
			before: []write{{2, []byte{0x12, 0x34}}}, data: []byte{0x01, 0x02, 0x03, 0x04},
			wantErr: ErrNotErased, want: []byte{0xFF, 0xFF, 0x12, 0x34}},
		{name: "f407 clear more bits", part: "stm32f407vg",
			before: []write{{8, []byte{0xF0, 0xFF, 0x0F, 0xFF}}}, off: 8, data: []byte{0x30, 0x7F, 0x0F, 0x00},
			want: []byte{0x30, 0x7F, 0x0F, 0x00}},
		{name: "f407 set a bit", part: "stm32f407vg",
			before: []write{{8, []byte{0xF0, 0xFF, 0xFF, 0xFF}}}, off: 8, data: []byte{0xF1, 0xFF, 0xFF, 0xFF},
			wantErr: ErrNotErased, want: []byte{0xF0, 0xFF, 0xFF, 0xFF}},
		{name: "nrf clear more bits", part: "nrf52840",
			before: []write{{0xFF000, []byte{0x55, 0x55, 0x55, 0x55}}}, off: 0xFF000, data: []byte{0x54, 0x15, 0x05, 0x00},
			want: []byte{0x54, 0x15, 0x05, 0x00}},
		{name: "nrf set a bit", part: "nrf52840",
			before: []write{{0, []byte{0, 0, 0, 0}}}, data: []byte{0, 0, 0, 1}, wantErr: ErrNotErased, want: []byte{0, 0, 0, 0}},
		{name: "f103 odd offset", part: "stm32f103c8", off: 1, data: []byte{0, 0}, wantErr: ErrAlign, want: []byte{0xFF, 0xFF}},
		{name: "f103 odd length", part: "stm32f103c8", data: []byte{0, 0, 0}, wantErr: ErrAlign, want: []byte{0xFF, 0xFF, 0xFF}},
		{name: "f407 half-word", part: "stm32f407vg", off: 4, data: []byte{0, 0}, wantErr: ErrAlign, want: []byte{0xFF, 0xFF}},
		{name: "nrf offset 2", part: "nrf52840", off: 2, data: []byte{0, 0, 0, 0}, wantErr: ErrAlign, want: []byte{0xFF, 0xFF, 0xFF, 0xFF}},
		{name: "past the end", part: "stm32f103c8", off: 64 * kib, data: []byte{0, 0}, wantErr: ErrRange},
		{name: "across the end", part: "stm32f103c8", off: 64*kib - 2, data: []byte{0, 0, 0, 0}, wantErr: ErrRange, want: []byte{0xFF, 0xFF}},
		{name: "negative offset", part: "nrf52840", off: -4, data: []byte{0, 0, 0, 0}, wantErr: ErrRange},
		{name: "empty", part: "nrf52840", off: 16, data: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlash(t, tt.part)
			for _, w := range tt.before {
				if _, err := f.WriteAt(w.data, w.off); err != nil {
					t.Fatalf("setup WriteAt(%x, %#x) = %v", w.data, w.off, err)
				}
			}
			ops := f.Ops()
			n, err := f.WriteAt(tt.data, tt.off)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WriteAt(%x, %#x) = %v, want %v", tt.data, tt.off, err, tt.wantErr)
			}
			if err != nil {
				var oe *OpError
				if !errors.As(err, &oe) || oe.Op != "write" {
					t.Errorf("error %v is not a write *OpError", err)
				}
				if n != 0 || f.Ops() != ops {
					t.Errorf("rejected write: n = %d, ops %d -> %d; want 0 and no operation", n, ops, f.Ops())
				}
			} else if n != len(tt.data) || (len(tt.data) > 0 && f.Ops() != ops+1) {
				t.Errorf("n = %d, ops %d -> %d; want %d and one operation", n, ops, f.Ops(), len(tt.data))
			}
			if tt.want != nil {
				if got := read(t, f, tt.off, len(tt.want)); !bytes.Equal(got, tt.want) {
					t.Errorf("contents = % x, want % x", got, tt.want)
				}
			}
		})
	}
}

func TestWriteErrorOffset(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	if _, err := f.WriteAt([]byte{0x12, 0x34}, 0x106); err != nil {
		t.Fatal(err)
	}
	_, err := f.WriteAt(make([]byte, 16)[:8], 0x100) // zeros are allowed anywhere
	if err != nil {
		t.Fatalf("zeros over a programmed unit: %v", err)
	}
	_, err = f.WriteAt([]byte{1, 1, 1, 1}, 0x104)
	var oe *OpError
	if !errors.As(err, &oe) || oe.Off != 0x104 {
		t.Fatalf("err = %v, want an *OpError at offset 0x104", err)
	}
}

func TestErase(t *testing.T) {
	tests := []struct {
		name       string
		part       string
		off, n     int64
		wantErr    error
		wantErased []int // sectors erased (and counted)
	}{
		{name: "f103 one page", part: "stm32f103c8", off: 0x400, n: 1, wantErased: []int{1}},
		{name: "f103 three pages", part: "stm32f103c8", off: 0x800, n: 0x801, wantErased: []int{2, 3, 4}},
		{name: "f103 misaligned", part: "stm32f103c8", off: 0x402, n: 2, wantErr: ErrAlign},
		{name: "f103 past the end", part: "stm32f103c8", off: 63 * kib, n: 2 * kib, wantErr: ErrRange},
		{name: "f407 sector 4 (64 KiB)", part: "stm32f407vg", off: 0x10000, n: 0x10000, wantErased: []int{4}},
		{name: "f407 sectors 3 to 5", part: "stm32f407vg", off: 0xC000, n: 0x10001 + 0x4000, wantErased: []int{3, 4, 5}},
		{name: "f407 inside sector 5", part: "stm32f407vg", off: 0x30000, n: 4, wantErr: ErrAlign},
		{name: "nrf last sector", part: "nrf52840", off: 0xFF000, n: 0x1000, wantErased: []int{255}},
		{name: "nothing", part: "nrf52840", off: 0x1000, n: 0},
		{name: "negative", part: "nrf52840", off: 0x1000, n: -1, wantErr: ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlash(t, tt.part)
			zeros := make([]byte, f.Size())
			if _, err := f.WriteAt(zeros, 0); err != nil {
				t.Fatal(err)
			}
			err := f.Erase(tt.off, tt.n)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Erase(%#x, %#x) = %v, want %v", tt.off, tt.n, err, tt.wantErr)
			}
			erased := map[int]bool{}
			for _, i := range tt.wantErased {
				erased[i] = true
			}
			for i := 0; i < f.NumSectors(); i++ {
				_, start, size, _ := f.Sector(f.starts[i])
				b := read(t, f, start, int(size))
				wantCount, wantByte := 0, byte(0)
				if erased[i] {
					wantCount, wantByte = 1, 0xFF
				}
				if !allBytes(b, wantByte) || f.EraseCount(i) != wantCount {
					t.Errorf("sector %d: erase count %d, all %#x = %v; want count %d, all %#x",
						i, f.EraseCount(i), wantByte, allBytes(b, wantByte), wantCount, wantByte)
				}
			}
			if got := f.Ops(); got != 1+len(tt.wantErased) {
				t.Errorf("Ops() = %d, want %d (one write, one per sector erased)", got, 1+len(tt.wantErased))
			}
		})
	}
}

func TestEraseSectorRange(t *testing.T) {
	f := newFlash(t, "stm32f407vg")
	for _, i := range []int{-1, 12} {
		if err := f.EraseSector(i); !errors.Is(err, ErrRange) {
			t.Errorf("EraseSector(%d) = %v, want ErrRange", i, err)
		}
	}
	if got := f.EraseCount(12); got != 0 {
		t.Errorf("EraseCount(12) = %d, want 0", got)
	}
}

func TestSector(t *testing.T) {
	tests := []struct {
		part      string
		off       int64
		wantIndex int
		wantStart int64
		wantSize  int64
		wantErr   error
	}{
		{part: "stm32f103c8", off: 0, wantIndex: 0, wantStart: 0, wantSize: kib},
		{part: "stm32f103c8", off: 0x7FF, wantIndex: 1, wantStart: 0x400, wantSize: kib},
		{part: "stm32f103cb", off: 0x1FFFF, wantIndex: 127, wantStart: 0x1FC00, wantSize: kib},
		{part: "stm32f407vg", off: 0xFFFF, wantIndex: 3, wantStart: 0xC000, wantSize: 16 * kib},
		{part: "stm32f407vg", off: 0x10000, wantIndex: 4, wantStart: 0x10000, wantSize: 64 * kib},
		{part: "stm32f407vg", off: 0x20000, wantIndex: 5, wantStart: 0x20000, wantSize: 128 * kib},
		{part: "stm32f407vg", off: 0xFFFFF, wantIndex: 11, wantStart: 0xE0000, wantSize: 128 * kib},
		{part: "nrf52840", off: 0x12345, wantIndex: 0x12, wantStart: 0x12000, wantSize: 4 * kib},
		{part: "nrf52840", off: 1 * mib, wantErr: ErrRange},
		{part: "nrf52840", off: -1, wantErr: ErrRange},
	}
	for _, tt := range tests {
		f := newFlash(t, tt.part)
		i, start, size, err := f.Sector(tt.off)
		if !errors.Is(err, tt.wantErr) || i != tt.wantIndex || start != tt.wantStart || size != tt.wantSize {
			t.Errorf("%s Sector(%#x) = %d, %#x, %#x, %v; want %d, %#x, %#x, %v",
				tt.part, tt.off, i, start, size, err, tt.wantIndex, tt.wantStart, tt.wantSize, tt.wantErr)
		}
	}
}

func TestReadAt(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	tests := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantErr error
	}{
		{name: "inside", off: 10, n: 4, wantN: 4},
		{name: "up to the end", off: 64*kib - 4, n: 4, wantN: 4},
		{name: "across the end", off: 64*kib - 4, n: 8, wantN: 4, wantErr: io.EOF},
		{name: "at the end", off: 64 * kib, n: 1, wantErr: io.EOF},
		{name: "negative", off: -1, n: 1, wantErr: ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := f.ReadAt(make([]byte, tt.n), tt.off)
			if n != tt.wantN || !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadAt(%d bytes at %#x) = %d, %v; want %d, %v", tt.n, tt.off, n, err, tt.wantN, tt.wantErr)
			}
		})
	}
}

func TestWornSectors(t *testing.T) {
	p := mustPart(t, "stm32f103c8")
	p.Endurance = 2
	f := New(p)
	for range 3 {
		if err := f.EraseSector(5); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.EraseSector(6); err != nil {
		t.Fatal(err)
	}
	if got := f.WornSectors(); len(got) != 1 || got[0] != 5 {
		t.Errorf("WornSectors() = %v, want [5]", got)
	}
}

func TestClone(t *testing.T) {
	f := newFlash(t, "nrf52840")
	g := f.Clone()
	if _, err := g.WriteAt([]byte{0, 0, 0, 0}, 0); err != nil {
		t.Fatal(err)
	}
	if b := read(t, f, 0, 4); !allBytes(b, 0xFF) || f.Ops() != 0 {
		t.Errorf("writing the clone changed the original: % x, ops %d", b, f.Ops())
	}
}
