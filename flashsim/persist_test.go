package flashsim

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sample returns a flash of part with some data written and some erases.
func sample(t testing.TB, part string) *Flash {
	t.Helper()
	f := newFlash(t, part)
	for i := range 3 {
		if err := f.EraseSector(i); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, 1024)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func encoded(t testing.TB, f *Flash) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSaveLoad(t *testing.T) {
	for _, name := range PartNames() {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "flash.bin")
			f := sample(t, name)
			for range 2 { // the second Save replaces the first
				if err := f.Save(path); err != nil {
					t.Fatalf("Save: %v", err)
				}
			}
			g, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if g.Part().Name != name {
				t.Errorf("part = %s, want %s", g.Part().Name, name)
			}
			if !bytes.Equal(g.data, f.data) {
				t.Errorf("loaded contents differ from saved")
			}
			if !slices.Equal(g.erases, f.erases) {
				t.Errorf("erase counts = %v, want %v", g.erases[:4], f.erases[:4])
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d files after Save, want 1 (no temp files left)", len(entries))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	good := encoded(t, sample(t, "stm32f103c8"))
	hlen := len(good) - 64*kib
	corrupt := func(i int) []byte {
		b := slices.Clone(good)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name    string
		content []byte
		want    string // in the message
	}{
		{name: "empty", content: nil, want: "truncated"},
		{name: "cut in the header start", content: good[:5], want: "truncated"},
		{name: "cut in the header", content: good[:hlen-3], want: "truncated header"},
		{name: "cut in the data", content: good[:len(good)-1], want: "truncated data"},
		{name: "trailing bytes", content: append(slices.Clone(good), 0), want: "trailing"},
		{name: "wrong magic", content: corrupt(0), want: "magic"},
		{name: "wrong version", content: corrupt(8), want: "version"},
		{name: "corrupted part name", content: corrupt(16), want: "checksum"},
		{name: "corrupted erase count", content: corrupt(hlen - 8), want: "checksum"},
		{name: "corrupted checksum", content: corrupt(hlen - 1), want: "checksum"},
		{name: "impossible header length", content: corrupt(13), want: "header length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.flash")
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Load = %v, want a *FormatError", err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name the file and %q", msg, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "none"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load = %v, want os.ErrNotExist", err)
		}
	})
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	saved := filepath.Join(dir, "f407.flash")
	if err := sample(t, "stm32f407vg").Save(saved); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		part     string
		wantPart string
		wantErr  bool
	}{
		{name: "new default", path: filepath.Join(dir, "new1"), wantPart: "stm32f103c8"},
		{name: "new named", path: filepath.Join(dir, "new2"), part: "nrf52840", wantPart: "nrf52840"},
		{name: "new unknown part", path: filepath.Join(dir, "new3"), part: "z80", wantErr: true},
		{name: "existing any part", path: saved, wantPart: "stm32f407vg"},
		{name: "existing same part", path: saved, part: "STM32F407VG", wantPart: "stm32f407vg"},
		{name: "existing other part", path: saved, part: "nrf52840", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.path, tt.part)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Open(%s, %q) = nil error, want one", tt.path, tt.part)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s, %q) = %v", tt.path, tt.part, err)
			}
			if got := f.Part().Name; got != tt.wantPart {
				t.Errorf("part = %s, want %s", got, tt.wantPart)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	good := encoded(f, sample(f, "stm32f103c8"))
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte(fileMagic))
	f.Add(encoded(f, newFlash(f, "nrf52840"))[:2000])
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decode(bytes.NewReader(b), "fuzz")
		if err != nil {
			return
		}
		if again := encoded(t, g); !bytes.Equal(again, b) {
			t.Errorf("a loaded file does not save back to the same bytes")
		}
	})
}
