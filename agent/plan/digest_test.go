package plan

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bitwiseMPEG2 is the textbook one-bit-at-a-time CRC-32/MPEG-2.
func bitwiseMPEG2(data []byte) uint32 {
	crc := uint32(0xFFFFFFFF)
	for _, b := range data {
		crc ^= uint32(b) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func TestCRCCheckValues(t *testing.T) {
	tests := []struct {
		variant CRCVariant
		in      string
		want    uint32
	}{
		{MPEG2, "123456789", 0x0376E6E7},
		{MPEG2, "", 0xFFFFFFFF},
		{MPEG2, "a", bitwiseMPEG2([]byte("a"))},
		{IEEE, "123456789", 0xCBF43926},
		{IEEE, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.variant.String()+"/"+tt.in, func(t *testing.T) {
			if got := Checksum(tt.variant, []byte(tt.in)); got != tt.want {
				t.Errorf("Checksum = %#08x, want %#08x", got, tt.want)
			}
			h := NewCRC32(tt.variant)
			h.Write([]byte(tt.in))
			if got := h.Sum32(); got != tt.want {
				t.Errorf("Sum32 = %#08x, want %#08x", got, tt.want)
			}
			want := []byte{'x', byte(tt.want >> 24), byte(tt.want >> 16), byte(tt.want >> 8), byte(tt.want)}
			if got := h.Sum([]byte("x")); !bytes.Equal(got, want) {
				t.Errorf("Sum = %x, want %x", got, want)
			}
		})
	}
}

// TestCRCSlicing compares the slicing-by-8 CRC with the bitwise one for
// every length up to 64 and every split of the input into two writes.
func TestCRCSlicing(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for n := 0; n <= 64; n++ {
		want := bitwiseMPEG2(data[:n])
		for split := 0; split <= n; split++ {
			h := NewCRC32(MPEG2)
			h.Write(data[:split])
			h.Write(data[split:n])
			if got := h.Sum32(); got != want {
				t.Fatalf("len %d split %d: got %#08x, want %#08x", n, split, got, want)
			}
		}
	}
	if got, want := Checksum(MPEG2, data), bitwiseMPEG2(data); got != want {
		t.Errorf("300 bytes: got %#08x, want %#08x", got, want)
	}
	h := NewCRC32(MPEG2)
	h.Write(data)
	h.Reset()
	h.Write([]byte("123456789"))
	if got := h.Sum32(); got != 0x0376E6E7 {
		t.Errorf("after Reset: got %#08x, want 0x0376e6e7", got)
	}
	if h.Size() != 4 || h.BlockSize() != 1 {
		t.Errorf("Size, BlockSize = %d, %d; want 4, 1", h.Size(), h.BlockSize())
	}
}

func TestNewCRC32Unknown(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("NewCRC32(7) did not panic")
		}
	}()
	NewCRC32(CRCVariant(7))
}

func TestDigest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Digests
	}{
		{"abc", "abc", Digests{
			Size:   3,
			MD5:    "900150983cd24fb0d6963f7d28e17f72",
			SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			CRC:    bitwiseMPEG2([]byte("abc")),
		}},
		{"empty", "", Digests{
			Size:   0,
			MD5:    "d41d8cd98f00b204e9800998ecf8427e",
			SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			CRC:    0xFFFFFFFF,
		}},
		{"check", "123456789", Digests{
			Size:   9,
			MD5:    "25f9e794323b453885f5181f1b624d0b",
			SHA256: "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
			CRC:    0x0376E6E7,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Digest(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Digest = %+v, want %+v", got, tt.want)
			}
			path := filepath.Join(t.TempDir(), "pkg.bin")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := DigestFile(path); err != nil || got != tt.want {
				t.Errorf("DigestFile = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDigestErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := Digest(io.MultiReader(strings.NewReader("12345"), iotestErr{boom}))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "after 5 bytes") {
		t.Errorf("Digest error = %v, want boom after 5 bytes", err)
	}
	_, err = DigestFile(filepath.Join(t.TempDir(), "missing.bin"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "plan: digest:") {
		t.Errorf("DigestFile error = %v, want plan: digest: ... not exist", err)
	}
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

func TestDigestsString(t *testing.T) {
	d := Digests{Size: 3, MD5: "m", SHA256: "s", CRC: 4022793929}
	if got, want := d.String(), "size=3 md5=m sha256=s crc=4022793929"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func BenchmarkCRC32(b *testing.B) {
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, bc := range []struct {
		name string
		h    func() uint32
	}{
		{"MPEG2", func() uint32 { return Checksum(MPEG2, data) }},
		{"MPEG2-bitwise", func() uint32 { return bitwiseMPEG2(data) }},
		{"IEEE", func() uint32 { return crc32.ChecksumIEEE(data) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				bc.h()
			}
		})
	}
}

func BenchmarkDigest(b *testing.B) {
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Digest(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
