package mcu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atota/atota/flashsim"
)

// writeBlocks writes img to im in blocks of odd sizes from one reused
// buffer, scribbled over after every write: WriteAt must not keep it.
func writeBlocks(t *testing.T, im Image, img []byte) {
	t.Helper()
	sizes := []int{1000, 7, 1024, 1, 333, 2}
	buf := make([]byte, 1024)
	for off, i := 0, 0; off < len(img); i++ {
		n := min(sizes[i%len(sizes)], len(img)-off)
		copy(buf, img[off:off+n])
		if got, err := im.WriteAt(buf[:n], int64(off)); err != nil || got != n {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", n, off, got, err)
		}
		for j := range buf {
			buf[j] = 0xA5
		}
		off += n
	}
}

func readAll(t *testing.T, r io.ReaderAt, n int64) []byte {
	t.Helper()
	got, err := io.ReadAll(io.NewSectionReader(r, 0, n))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFileTarget(t *testing.T) {
	ctx := context.Background()
	old, img := []byte("the old image"), image(1, 5000)
	tests := []struct {
		name   string
		exists bool
		commit bool
	}{
		{name: "commit over an old file", exists: true, commit: true},
		{name: "commit a new file", commit: true},
		{name: "abort leaves the old file", exists: true},
		{name: "abort leaves no file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "app.bin")
			if tt.exists {
				if err := os.WriteFile(path, old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tg, err := OpenTarget("file:" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			if got := tg.String(); got != "file:"+path {
				t.Errorf("String() = %q", got)
			}
			im, err := tg.Open(ctx, ImageSpec{Component: "STM32", Size: int64(len(img))})
			if err != nil {
				t.Fatal(err)
			}
			writeBlocks(t, im, img)
			if _, err := im.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, im, int64(len(img))); !bytes.Equal(got, img) {
				t.Fatal("read back differs from the image written")
			}
			checkFile(t, path, tt.exists, old) // untouched until Commit
			if tt.commit {
				where, err := im.Commit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(where, path) {
					t.Errorf("Commit = %q, want it to name %s", where, path)
				}
				checkFile(t, path, true, img)
			} else {
				if err := im.Abort(); err != nil {
					t.Fatal(err)
				}
				checkFile(t, path, tt.exists, old)
			}
			if tmp := tempFiles(t, dir); len(tmp) > 0 {
				t.Errorf("temporary files left behind: %q", tmp)
			}
		})
	}
}

// checkFile checks that path holds want, or does not exist.
func checkFile(t *testing.T, path string, exists bool, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	switch {
	case !exists && !errors.Is(err, os.ErrNotExist):
		t.Fatalf("%s: %v, want no file", path, err)
	case exists && err != nil:
		t.Fatal(err)
	case exists && !bytes.Equal(got, want):
		t.Fatalf("%s holds %d bytes %.20q..., want %d bytes %.20q...", path, len(got), got, len(want), want)
	}
}

// loadDevice loads the flash file at path as a device.
func loadDevice(t *testing.T, path string) *flashsim.Device {
	t.Helper()
	f, err := flashsim.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := flashsim.DefaultLayout(f.Part())
	if err != nil {
		t.Fatal(err)
	}
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// slotImage returns the first n bytes of the device's active slot.
func slotImage(t *testing.T, d *flashsim.Device, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := d.Flash().ReadAt(b, d.Active().Off); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFlashTarget(t *testing.T) {
	ctx := context.Background()
	for _, part := range []string{"stm32f103c8", "stm32f407vg", "nrf52840"} {
		t.Run(part, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flash.bin")
			tg, err := OpenTarget("flashsim:" + path + "?part=" + part)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			ft := tg.(*flashTarget)
			for i, want := range []byte{'B', 'A'} {
				inactive := ft.dev.Inactive()
				if got, err := tg.Capacity(ctx); err != nil || got != inactive.Size {
					t.Errorf("Capacity() = %d, want the inactive slot's %d", got, inactive.Size)
				}
				img := image(uint64(i), 20001)
				im, err := tg.Open(ctx, ImageSpec{Component: "STM32", Size: int64(len(img))})
				if err != nil {
					t.Fatal(err)
				}
				writeBlocks(t, im, img)
				if _, err := im.Sync(); err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, im, int64(len(img))); !bytes.Equal(got, img) {
					t.Fatal("read back differs from the image written")
				}
				where, err := im.Commit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(where, "slot "+string(want)) {
					t.Errorf("Commit = %q, want slot %c", where, want)
				}
				if got := ft.dev.Running().Name; got != want {
					t.Errorf("after Commit slot %c runs, want %c on trial", got, want)
				}
				if err := im.Confirm(); err != nil {
					t.Fatal(err)
				}
				if got := ft.dev.Active().Name; got != want {
					t.Errorf("active slot %c, want %c", got, want)
				}
				d := loadDevice(t, path)
				if got := d.Active().Name; got != want {
					t.Fatalf("the saved flash has slot %c active, want %c", got, want)
				}
				if !bytes.Equal(slotImage(t, d, len(img)), img) {
					t.Fatalf("the saved flash's slot %c does not hold the image", want)
				}
				if !strings.Contains(tg.String(), "slot "+string(want)+" running") {
					t.Errorf("String() = %q, want slot %c running", tg.String(), want)
				}
			}
		})
	}
}

func TestFlashTargetRefusals(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flash.bin")
	tg, err := OpenTarget("flashsim:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	capacity, err := tg.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Open(ctx, ImageSpec{Component: "STM32", Size: capacity + 1}); !errors.Is(err, flashsim.ErrTooLarge) || !strings.Contains(err.Error(), "stm32f103c8") {
		t.Errorf("Open of an image larger than the slot = %v, want flashsim.ErrTooLarge naming the part", err)
	}
	if _, err := tg.Open(ctx, ImageSpec{Component: "STM32"}); err == nil {
		t.Error("Open of an empty image succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening the target saved the flash file (%v); nothing changed", err)
	}

	img := image(3, 3001)
	im, err := tg.Open(ctx, ImageSpec{Component: "STM32", Size: int64(len(img))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.WriteAt(img[:10], 5); err == nil || !strings.Contains(err.Error(), "must arrive in order") {
		t.Errorf("a write out of order = %v, want an error", err)
	}
	if _, err := im.WriteAt(append(img, 0), 0); err == nil || !strings.Contains(err.Error(), "passes the image size") {
		t.Errorf("a write past the end = %v, want an error", err)
	}
	if _, err := im.WriteAt(img[:3000], 0); err != nil {
		t.Fatal(err)
	}
	if n, err := im.Sync(); err != nil || n != 3000 {
		t.Fatalf("Sync = %d, %v; want 3000 bytes durable", n, err)
	}
	if _, err := im.Commit(ctx); err == nil || !strings.Contains(err.Error(), "3000 of 3001 bytes programmed") {
		t.Errorf("Commit of an incomplete image = %v, want an error", err)
	}
	// The image can still be completed after a Sync in the middle.
	if _, err := im.WriteAt(img[3000:], 3000); err != nil {
		t.Fatal(err)
	}
	if err := im.Abort(); err != nil {
		t.Fatal(err)
	}
	d := loadDevice(t, path)
	if got := d.Active().Name; got != 'A' || d.Record().Pending.Name != 0 {
		t.Errorf("after Abort slot %c is active with %v pending, want A and nothing", got, d.Record().Pending)
	}
}

func TestOpenTarget(t *testing.T) {
	tests := []struct{ spec, wantErr string }{
		{"", targetForms},
		{"file:", targetForms},
		{"flashsim:", targetForms},
		{"app.bin", targetForms},
		{"ftp:/dev/ttyUSB0", `unknown kind "ftp"`},
		{"flashsim:x.bin?part=z80", "unknown part"},
		{"flashsim:x.bin?speed=1", "unknown parameter"},
		{"exec: ", "empty command"},
		{"stm32:/dev/ttyUSB0?baud=x", `baud "x"`},
		{"stm32:/dev/ttyUSB0?addr=0x08000002", "word-aligned"},
		{"stm32:/dev/ttyUSB0?part=nrf52840", "want an STM32 part"},
		{"stm32:/dev/ttyUSB0?speed=1", `unknown parameter "speed"`},
		{"stm32:/dev/ttyUSB0?parity=odd", `parity "odd"`},
		{"stm32:ftp://x", "stm32:ftp://x"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			tg, err := OpenTarget(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "mcu: ") {
				t.Fatalf("OpenTarget(%q) = %v, %v; want an error with %q", tt.spec, tg, err, tt.wantErr)
			}
		})
	}
}
