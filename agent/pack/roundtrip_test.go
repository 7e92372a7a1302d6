package pack

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	base := smallBase()
	old := base.build()
	type tc struct {
		name   string
		old    []byte // nil for a full package
		target []byte
		opts   []Option
	}
	tests := []tc{
		{name: "full zstd", target: old, opts: smallOpts},
		{name: "full none", target: old, opts: append([]Option{WithCompression(None)}, smallOpts...)},
		{name: "full default options", target: old[:40000]},
		{name: "full one byte", target: []byte{1}},
		{name: "full signed", target: old, opts: append([]Option{WithSigner(testKey)}, smallOpts...)},
		{name: "delta to itself", old: old, target: old, opts: smallOpts},
		{name: "delta whole-source dictionary", old: old, target: firmwareChanges[1].change(base).build(), opts: append(smallOpts, WithDictSize(0))},
		{name: "delta 1 KiB chunks", old: old[:9000], target: old[100:8000], opts: []Option{WithChunkSize(1 << 10), WithFastEncoder()}},
		{name: "delta signed", old: old, target: firmwareChanges[2].change(base).build(), opts: append([]Option{WithSigner(testKey)}, smallOpts...)},
	}
	for _, ch := range firmwareChanges {
		tests = append(tests, tc{name: "delta " + ch.name, old: old, target: ch.change(base).build(), opts: smallOpts})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, h := build(t, func(b *bytes.Buffer) (*Header, error) {
				if tt.old == nil {
					return WriteFull(b, tt.target, tt.opts...)
				}
				return WriteDelta(b, tt.old, tt.target, tt.opts...)
			})
			if got, want := int64(len(pkg)), int64(h.Size())+h.PayloadSize(); got != want {
				t.Errorf("package is %d bytes, header says %d", got, want)
			}
			got, err := apply(pkg, h, tt.old)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !bytes.Equal(got, tt.target) {
				t.Fatalf("Apply wrote %d bytes that differ from the %d-byte target", len(got), len(tt.target))
			}
			if err := VerifyTarget(context.Background(), h, bytes.NewReader(got)); err != nil {
				t.Errorf("VerifyTarget: %v", err)
			}
			if h.Signed() {
				if err := h.Verify(pub(testKey)); err != nil {
					t.Errorf("Verify: %v", err)
				}
			}
			if tt.old != nil && len(tt.target) > 0 {
				t.Logf("%d-byte target: delta %d bytes (%.2f %%), apply memory %d", len(tt.target), len(pkg), 100*float64(len(pkg))/float64(len(tt.target)), ApplyMemory(h))
			}
		})
	}
}

// TestDeltaIsSmall checks that the realistic changes give deltas far smaller
// than the image with the default chunk and dictionary sizes.
func TestDeltaIsSmall(t *testing.T) {
	base := smallBase()
	old := base.build()
	tests := []struct {
		change  string
		maxPerc float64 // delta size in % of the target, at most
	}{
		{change: "small code change", maxPerc: 12},
		{change: "moved section", maxPerc: 15},
		{change: "version string", maxPerc: 1},
		{change: "new feature", maxPerc: 20},
		{change: "different image", maxPerc: 105}, // no blow-up
	}
	for _, tt := range tests {
		t.Run(tt.change, func(t *testing.T) {
			var target []byte
			for _, ch := range firmwareChanges {
				if ch.name == tt.change {
					target = ch.change(base).build()
				}
			}
			pkg, _ := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteDelta(b, old, target, WithFastEncoder()) })
			perc := 100 * float64(len(pkg)) / float64(len(target))
			if perc > tt.maxPerc {
				t.Errorf("delta is %.1f %% of the target, want at most %.0f %%", perc, tt.maxPerc)
			}
		})
	}
}

// TestEmptyImage: a package builds at least one byte. An empty image is
// refused by the builders, and a header that claims one by the parser, so
// that no device is ever handed an empty image to boot.
func TestEmptyImage(t *testing.T) {
	old := smallBase().build()
	var b bytes.Buffer
	if _, err := WriteFull(&b, nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("WriteFull of an empty image: %v, want an error", err)
	}
	if _, err := WriteDelta(&b, old, nil, smallOpts...); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("WriteDelta to an empty image: %v, want an error", err)
	}
	pkg, _ := build(t, func(b *bytes.Buffer) (*Header, error) { return WriteFull(b, []byte{1}) })
	bad := bytes.Clone(pkg)
	copy(bad[24:28], []byte{0, 0, 0, 0}) // target size 0
	_, err := ParseHeader(bad)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Field != "target_size" {
		t.Errorf("ParseHeader of a header with an empty target: %v, want a *FormatError on target_size", err)
	}
}
