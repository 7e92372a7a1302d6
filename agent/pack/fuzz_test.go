package pack

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

func FuzzReadHeader(f *testing.F) {
	for _, pkg := range testPackages(f) {
		f.Add(pkg)
		f.Add(pkg[:FixedHeaderSize])
	}
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(bytes.NewReader(b))
		if err != nil {
			if h != nil {
				t.Fatal("a header and an error")
			}
			return
		}
		// Whatever parses is consistent with itself.
		if got := h.Size(); got != len(h.Bytes()) || !bytes.Equal(h.Bytes(), b[:got]) {
			t.Fatalf("Size %d, Bytes %d, not the input's prefix", got, len(h.Bytes()))
		}
		var target int64
		for i, c := range h.Chunks {
			if c.Index != i || c.TargetOffset != target || c.Size <= 0 || c.Size > h.ChunkSize {
				t.Fatalf("chunk %d: %+v", i, c)
			}
			for _, x := range c.Dict {
				if x.Offset+int64(x.Size) > h.SourceSize {
					t.Fatalf("chunk %d: extent %+v beyond the source", i, x)
				}
			}
			target += int64(c.Size)
		}
		if target != h.TargetSize {
			t.Fatalf("chunks cover %d bytes, target is %d", target, h.TargetSize)
		}
		_ = h.String()
		_ = h.Verify(pub(testKey))
	})
}

// FuzzApply feeds damaged payloads to Apply under a valid header: it must
// fail or build exactly the target, and never panic.
func FuzzApply(f *testing.F) {
	pkgs := testPackages(f)
	h, err := ParseHeader(pkgs["delta"])
	if err != nil {
		f.Fatal(err)
	}
	img := make([]byte, 5000)
	for i := range img {
		img[i] = byte(i * 7 / 5)
	}
	f.Add(pkgs["delta"][h.Size():])
	f.Fuzz(func(t *testing.T, payload []byte) {
		var out bytes.Buffer
		err := Apply(t.Context(), h, bytes.NewReader(payload), bytes.NewReader(img), &out)
		if err == nil && sha256.Sum256(out.Bytes()) != h.TargetSHA256 {
			t.Fatal("Apply succeeded with other bytes than the target")
		}
		if err != nil && out.Len() > 0 {
			if err := VerifyTarget(t.Context(), &Header{ChunkSize: h.ChunkSize, Chunks: h.Chunks[:out.Len()/h.ChunkSize], TargetSHA256: sha256.Sum256(out.Bytes())}, bytes.NewReader(out.Bytes())); err != nil {
				t.Fatalf("Apply wrote unverified bytes: %v", err)
			}
		}
	})
}
