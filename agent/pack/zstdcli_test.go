package pack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReferenceZstdDecodes checks that the reference zstd decoder, given a
// chunk's source ranges as a raw dictionary, rebuilds the chunk: a C
// applier on an MCU can use libzstd (ZSTD_decompress_usingDict) as is.
func TestReferenceZstdDecodes(t *testing.T) {
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		if os.Getenv("ATOTA_INTEGRATION") == "1" {
			t.Fatalf("zstd not found: %v (apt-get install zstd)", err)
		}
		t.Skip("zstd not installed; set ATOTA_INTEGRATION=1 to require it")
	}
	base := smallBase()
	old := base.build()
	target := firmwareChanges[1].change(base).build()
	pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, smallOpts...) })
	dir := t.TempDir()
	for _, c := range h.Chunks {
		var dict []byte
		for _, x := range c.Dict {
			dict = append(dict, old[x.Offset:x.Offset+int64(x.Size)]...)
		}
		frame, dictPath, outPath := filepath.Join(dir, fmt.Sprint(c.Index, ".zst")), filepath.Join(dir, fmt.Sprint(c.Index, ".dict")), filepath.Join(dir, fmt.Sprint(c.Index, ".out"))
		os.WriteFile(frame, pkg[c.PayloadOffset:c.PayloadOffset+int64(c.PayloadSize)], 0o644)
		args := []string{"-q", "-d", "-f", frame, "-o", outPath}
		if len(dict) > 0 {
			os.WriteFile(dictPath, dict, 0o644)
			args = append(args, "-D", dictPath)
		}
		if out, err := exec.Command(zstdBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("chunk %d: zstd %v: %v: %s", c.Index, args, err, out)
		}
		got, err := os.ReadFile(outPath)
		if err != nil {
			t.Fatal(err)
		}
		if want := target[c.TargetOffset : c.TargetOffset+int64(c.Size)]; !bytes.Equal(got, want) {
			t.Errorf("chunk %d: zstd decoded %d bytes that differ from the %d-byte chunk", c.Index, len(got), len(want))
		}
	}
}
