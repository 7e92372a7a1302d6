package flashsim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// script is a link whose host side is fixed in advance: Serve reads in
// and its answers collect in out.
type script struct {
	in  io.Reader
	out bytes.Buffer
}

func (s *script) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *script) Write(p []byte) (int, error) { return s.out.Write(p) }

// Host-side encodings, as AN3155 words them.
func cmd(c byte) []byte { return []byte{c, c ^ 0xFF} }

func addr(a uint32) []byte {
	p := []byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
	return append(p, p[0]^p[1]^p[2]^p[3])
}

func block(data []byte) []byte {
	sum := byte(len(data) - 1)
	for _, c := range data {
		sum ^= c
	}
	return append(append([]byte{byte(len(data) - 1)}, data...), sum)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

const (
	ack  = blACK
	nack = blNACK
)

func TestBootloader(t *testing.T) {
	f1 := uint32(0x08000000)
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name    string
		part    string
		setup   func(f *Flash)
		in      []byte
		want    []byte
		check   func(t *testing.T, f *Flash)
		started uint32
	}{
		{name: "noise before sync", part: "stm32f103c8", in: []byte{0x00, 0x55, 0x7F, 0x7F, 0x7F},
			want: []byte{ack, nack}}, // after the sync a 0x7F pair is a bad command
		{name: "get F1", part: "stm32f103c8", in: cat([]byte{0x7F}, cmd(0x00)),
			want: []byte{ack, ack, 7, 0x22, 0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x43, ack}},
		{name: "get F4", part: "stm32f407vg", in: cat([]byte{0x7F}, cmd(0x00)),
			want: []byte{ack, ack, 7, 0x31, 0x00, 0x01, 0x02, 0x11, 0x21, 0x31, 0x44, ack}},
		{name: "get version", part: "stm32f407vg", in: cat([]byte{0x7F}, cmd(0x01)),
			want: []byte{ack, ack, 0x31, 0, 0, ack}},
		{name: "get ID", part: "stm32f407vg", in: cat([]byte{0x7F}, cmd(0x02)),
			want: []byte{ack, ack, 1, 0x04, 0x13, ack}},
		{name: "bad complement", part: "stm32f103c8", in: []byte{0x7F, 0x00, 0x00, 0x44, 0xBB},
			want: []byte{ack, nack, nack}}, // 0x44 is not the F1's erase
		{name: "write and read back", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x31), addr(f1+0x400), block(data), cmd(0x11), addr(f1+0x400), []byte{7, 0xF8}),
			want: cat([]byte{ack, ack, ack, ack, ack, ack, ack}, data),
			check: func(t *testing.T, f *Flash) {
				if got := read(t, f, 0x400, 8); !bytes.Equal(got, data) {
					t.Errorf("flash holds % x", got)
				}
			}},
		{name: "write bad checksum", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x31), addr(f1), []byte{1, 0xAA, 0xBB, 0x00}),
			want: []byte{ack, ack, ack, nack},
			check: func(t *testing.T, f *Flash) {
				if got := read(t, f, 0, 2); !bytes.Equal(got, []byte{0xFF, 0xFF}) {
					t.Errorf("flash holds % x after a refused write", got)
				}
			}},
		{name: "write bad address checksum", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x31), []byte{0x08, 0, 0, 0, 0x07}),
			want: []byte{ack, ack, nack}},
		{name: "write outside memory", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x31), addr(0x09000000)),
			want: []byte{ack, ack, nack}},
		{name: "write past the flash end", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x31), addr(f1+64*1024-4), block(data)),
			want: []byte{ack, ack, ack, nack}},
		{name: "write not erased", part: "stm32f103c8",
			setup: func(f *Flash) { f.WriteAt([]byte{0x12, 0x34}, 0) },
			in:    cat([]byte{0x7F}, cmd(0x31), addr(f1), block([]byte{0x10, 0x30})),
			want:  []byte{ack, ack, ack, nack}},
		{name: "write misaligned", part: "stm32f407vg",
			in:   cat([]byte{0x7F}, cmd(0x31), addr(f1+2), block(data)),
			want: []byte{ack, ack, ack, nack}},
		{name: "RAM", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x31), addr(0x20000200), block(data), cmd(0x11), addr(0x20000204), []byte{1, 0xFE}),
			want: []byte{ack, ack, ack, ack, ack, ack, ack, 5, 6}},
		{name: "read 256", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x11), addr(f1), []byte{0xFF, 0x00}),
			want: cat([]byte{ack, ack, ack, ack}, bytes.Repeat([]byte{0xFF}, 256))},
		{name: "read bad count complement", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x11), addr(f1), []byte{0x10, 0x10}),
			want: []byte{ack, ack, ack, nack}},
		{name: "erase pages", part: "stm32f103c8",
			setup: func(f *Flash) { f.WriteAt(bytes.Repeat([]byte{0}, 3*1024), 0) },
			in:    cat([]byte{0x7F}, cmd(0x43), []byte{1, 0, 2, 3}),
			want:  []byte{ack, ack, ack},
			check: func(t *testing.T, f *Flash) {
				for i, want := range []byte{0xFF, 0x00, 0xFF} {
					if got := read(t, f, int64(i)*1024, 1)[0]; got != want {
						t.Errorf("page %d starts with %#x, want %#x", i, got, want)
					}
				}
			}},
		{name: "erase global", part: "stm32f103c8",
			setup: func(f *Flash) { f.WriteAt([]byte{0, 0}, 63*1024) },
			in:    cat([]byte{0x7F}, cmd(0x43), []byte{0xFF, 0x00}),
			want:  []byte{ack, ack, ack},
			check: func(t *testing.T, f *Flash) {
				if f.EraseCount(63) != 1 || f.EraseCount(0) != 1 {
					t.Error("not every page erased")
				}
			}},
		{name: "erase bad page", part: "stm32f103c8",
			in:   cat([]byte{0x7F}, cmd(0x43), []byte{0, 64, 64}),
			want: []byte{ack, ack, nack}},
		{name: "extended erase sectors", part: "stm32f407vg",
			setup: func(f *Flash) { f.WriteAt([]byte{0, 0, 0, 0}, 16*1024) },
			in:    cat([]byte{0x7F}, cmd(0x44), []byte{0, 1, 0, 1, 0, 4, 4}),
			want:  []byte{ack, ack, ack},
			check: func(t *testing.T, f *Flash) {
				if f.EraseCount(1) != 1 || f.EraseCount(4) != 1 || f.EraseCount(0) != 0 {
					t.Error("wrong sectors erased")
				}
				if read(t, f, 16*1024, 1)[0] != 0xFF {
					t.Error("sector 1 not erased")
				}
			}},
		{name: "extended erase mass", part: "stm32f407vg",
			in:   cat([]byte{0x7F}, cmd(0x44), []byte{0xFF, 0xFF, 0x00}),
			want: []byte{ack, ack, ack},
			check: func(t *testing.T, f *Flash) {
				if f.EraseCount(11) != 1 {
					t.Error("mass erase missed sector 11")
				}
			}},
		{name: "extended erase bank", part: "stm32f407vg",
			in:   cat([]byte{0x7F}, cmd(0x44), []byte{0xFF, 0xFE, 0x01}),
			want: []byte{ack, ack, nack}},
		{name: "extended erase bad checksum", part: "stm32f407vg",
			in:   cat([]byte{0x7F}, cmd(0x44), []byte{0, 0, 0, 3, 0}),
			want: []byte{ack, ack, nack}},
		{name: "go", part: "stm32f407vg", in: cat([]byte{0x7F}, cmd(0x21), addr(f1), cmd(0x02)),
			want: []byte{ack, ack, ack}, started: f1},
		{name: "go nowhere", part: "stm32f407vg", in: cat([]byte{0x7F}, cmd(0x21), addr(0x40000000)),
			want: []byte{ack, ack, nack}},
		{name: "unknown command", part: "stm32f407vg", in: cat([]byte{0x7F}, cmd(0x63)),
			want: []byte{ack, nack}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlash(t, tt.part)
			if tt.setup != nil {
				tt.setup(f)
			}
			changes := 0
			b, err := NewBootloader(f, WithAfterChange(func() error { changes++; return nil }))
			if err != nil {
				t.Fatal(err)
			}
			link := &script{in: bytes.NewReader(tt.in)}
			err = b.Serve(context.Background(), link)
			if tt.started != 0 {
				if err != nil || b.Started() != tt.started {
					t.Fatalf("Serve = %v, Started = %#x; want nil after Go to %#x", err, b.Started(), tt.started)
				}
			} else if !errors.Is(err, io.EOF) {
				t.Fatalf("Serve = %v, want io.EOF at the end of the input", err)
			}
			if got := link.out.Bytes(); !bytes.Equal(got, tt.want) {
				t.Errorf("answers\n% x\nwant\n% x", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestBootloaderAfterChange(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	fail := errors.New("disk full")
	b, err := NewBootloader(f, WithAfterChange(func() error { return fail }))
	if err != nil {
		t.Fatal(err)
	}
	link := &script{in: bytes.NewReader(cat([]byte{0x7F}, cmd(0x31), addr(0x08000000), block([]byte{1, 2})))}
	if err := b.Serve(context.Background(), link); !errors.Is(err, fail) {
		t.Fatalf("Serve = %v, want the hook's error", err)
	}
	if got := link.out.Bytes(); !bytes.Equal(got, []byte{ack, ack, ack, nack}) {
		t.Errorf("answers % x, want a NACK for the write that could not be kept", got)
	}
}

func TestBootloaderReset(t *testing.T) {
	f := newFlash(t, "stm32f103c8")
	b, err := NewBootloader(f)
	if err != nil {
		t.Fatal(err)
	}
	link := &script{in: bytes.NewReader([]byte{0x7F})}
	b.Serve(context.Background(), link)
	b.Reset()
	link = &script{in: bytes.NewReader(cat([]byte{0x7F}, cmd(0x02)))}
	b.Serve(context.Background(), link)
	if got := link.out.Bytes(); !bytes.Equal(got, []byte{ack, ack, 1, 0x04, 0x10, ack}) {
		t.Errorf("after Reset: % x, want a new sync then Get ID", got)
	}
	if _, err := NewBootloader(newFlash(t, "nrf52840")); !errors.Is(err, ErrNoBootloader) {
		t.Errorf("NewBootloader(nrf52840) = %v, want ErrNoBootloader", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Serve(ctx, &script{in: bytes.NewReader([]byte{0x7F})}); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve with a canceled context = %v", err)
	}
}

// FuzzBootloader feeds arbitrary host bytes: the bootloader must not
// panic, answer only after the sync, and leave the flash obeying its
// rules (checked by the flash itself).
func FuzzBootloader(f *testing.F) {
	f.Add(cat([]byte{0x7F}, cmd(0x00), cmd(0x31), addr(0x08000000), block([]byte{1, 2, 3, 4})))
	f.Add(cat([]byte{0x7F}, cmd(0x43), []byte{0xFF, 0x00}, cmd(0x11), addr(0x08000000), []byte{3, 0xFC}))
	f.Add(cat([]byte{0x7F}, cmd(0x21), addr(0x20000000)))
	f.Fuzz(func(t *testing.T, in []byte) {
		fl := New(mustPart(t, "stm32f103c8"))
		b, err := NewBootloader(fl)
		if err != nil {
			t.Fatal(err)
		}
		link := &script{in: bytes.NewReader(in)}
		b.Serve(context.Background(), link)
		if i := bytes.IndexByte(in, 0x7F); i < 0 && link.out.Len() > 0 {
			t.Fatalf("answered % x without a sync", link.out.Bytes())
		}
	})
}
