package pack

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"
)

// testPackages returns a full, a delta and a signed delta package.
func testPackages(t testing.TB) map[string][]byte {
	t.Helper()
	img := make([]byte, 5000)
	for i := range img {
		img[i] = byte(i * 7 / 5)
	}
	img2 := bytes.Clone(img)
	copy(img2[3000:], "version 2")
	opts := []Option{WithChunkSize(2 << 10), WithFastEncoder()}
	pkgs := map[string][]byte{}
	var b bytes.Buffer
	if _, err := WriteFull(&b, img, opts...); err != nil {
		t.Fatal(err)
	}
	pkgs["full"] = bytes.Clone(b.Bytes())
	b.Reset()
	if _, err := WriteDelta(&b, img, img2, opts...); err != nil {
		t.Fatal(err)
	}
	pkgs["delta"] = bytes.Clone(b.Bytes())
	b.Reset()
	if _, err := WriteDelta(&b, img, img2, append(opts, WithSigner(testKey))...); err != nil {
		t.Fatal(err)
	}
	pkgs["signed"] = bytes.Clone(b.Bytes())
	return pkgs
}

// refreshCRC recomputes the header checksum after a test changed a field.
func refreshCRC(pkg []byte) {
	size := int(binary.LittleEndian.Uint32(pkg[12:]))
	end := size - crcSize
	if pkg[11]&flagSign != 0 {
		end -= sigSize
	}
	binary.LittleEndian.PutUint32(pkg[end:], crc32.ChecksumIEEE(pkg[:end]))
}

func TestReadHeaderErrors(t *testing.T) {
	pkgs := testPackages(t)
	tests := []struct {
		name   string
		pkg    string
		change func(b []byte) []byte
		field  string
	}{
		{name: "empty", pkg: "full", change: func(b []byte) []byte { return nil }, field: "header"},
		{name: "truncated fixed part", pkg: "full", change: func(b []byte) []byte { return b[:50] }, field: "header"},
		{name: "truncated table", pkg: "delta", change: func(b []byte) []byte { return b[:FixedHeaderSize+10] }, field: "header"},
		{name: "raw image", pkg: "full", change: func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, 200) }, field: "magic"},
		{name: "newer format", pkg: "full", change: func(b []byte) []byte { b[8] = 2; return b }, field: "version"},
		{name: "unknown kind", pkg: "full", change: func(b []byte) []byte { b[9] = 3; return b }, field: "kind"},
		{name: "unknown compression", pkg: "full", change: func(b []byte) []byte { b[10] = 9; return b }, field: "compression"},
		{name: "uncompressed delta", pkg: "delta", change: func(b []byte) []byte { b[10] = byte(None); return b }, field: "compression"},
		{name: "unknown flag", pkg: "full", change: func(b []byte) []byte { b[11] |= 4; return b }, field: "flags"},
		{name: "tiny chunks", pkg: "full", change: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 512); return b }, field: "chunk_size"},
		{name: "chunk count off", pkg: "full", change: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[20:], 7); return b }, field: "chunk_count"},
		{name: "huge header size", pkg: "full", change: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<31); return b }, field: "header_size"},
		{name: "full with a source", pkg: "full", change: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[60:], 5); return b }, field: "source_size"},
		{name: "delta without a source", pkg: "delta", change: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[60:], 0); return b }, field: "source_size"},
		{name: "damaged table", pkg: "delta", change: func(b []byte) []byte { b[FixedHeaderSize+5] ^= 1; return b }, field: "crc"},
		{name: "payload bigger than possible", pkg: "full", change: func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[FixedHeaderSize:], 1<<20)
			refreshCRC(b)
			return b
		}, field: "chunks[0].payload_size"},
		{name: "dictionary beyond the source", pkg: "delta", change: func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[FixedHeaderSize+entrySize:], 4999)
			refreshCRC(b)
			return b
		}, field: "chunks[0].extents[0]"},
		{name: "too many extents", pkg: "delta", change: func(b []byte) []byte {
			b[FixedHeaderSize+36] = MaxExtents + 1
			return b
		}, field: "chunks[0].extents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.change(bytes.Clone(pkgs[tt.pkg]))
			h, err := ReadHeader(bytes.NewReader(b))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("ReadHeader: %v, %v; want a *FormatError", h, err)
			}
			if fe.Field != tt.field {
				t.Errorf("error %q names field %q, want %q", err, fe.Field, tt.field)
			}
		})
	}
}

func TestReadHeaderLeavesPayload(t *testing.T) {
	for name, pkg := range testPackages(t) {
		t.Run(name, func(t *testing.T) {
			r := bytes.NewReader(pkg)
			h, err := ReadHeader(r)
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(r)
			if got, want := int64(len(rest)), h.PayloadSize(); got != want {
				t.Errorf("%d bytes left after the header, want the %d-byte payload", got, want)
			}
			if got, want := h.Chunks[0].PayloadOffset, int64(h.Size()); got != want {
				t.Errorf("first chunk at %d, want %d", got, want)
			}
			if !IsPackage(pkg) || IsPackage(pkg[1:]) {
				t.Error("IsPackage is wrong")
			}
			if n, err := HeaderSize(pkg[:FixedHeaderSize]); err != nil || n != h.Size() {
				t.Errorf("HeaderSize = %d, %v; want %d", n, err, h.Size())
			}
			if _, err := HeaderSize(pkg[:FixedHeaderSize-1]); err == nil {
				t.Error("HeaderSize accepted a truncated fixed part")
			}
		})
	}
}

func TestKindCompressionStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Full.String(), "full"},
		{Delta.String(), "delta"},
		{Kind(7).String(), "Kind(7)"},
		{None.String(), "none"},
		{Zstd.String(), "zstd"},
		{Compression(7).String(), "Compression(7)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	for _, s := range []string{"none", "zstd"} {
		if c, err := ParseCompression(s); err != nil || c.String() != s {
			t.Errorf("ParseCompression(%q) = %v, %v", s, c, err)
		}
	}
	if _, err := ParseCompression("lz4"); err == nil {
		t.Error("ParseCompression(lz4) succeeded")
	}
}
