package pack

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"
)

// mibBase is the 1 MiB firmware model of the benchmarks.
var mibBase = sync.OnceValue(func() *firmware { return newFirmware(1, 1<<20, "2.4.0") })

// BenchmarkApply applies a delta and a full package of a 1 MiB image and
// reports throughput, package size and memory: B/op is everything Apply
// allocates (an upper bound of its peak), peak-live-B the most live heap
// seen at chunk boundaries, estimate-B what ApplyMemory predicts, and
// goal-B the limit (image size + 256 KiB).
func BenchmarkApply(b *testing.B) {
	base := mibBase()
	old := base.build()
	for _, tt := range []struct {
		name  string
		build func(*bytes.Buffer, []byte) (*Header, error)
	}{
		{"delta/small code change", func(w *bytes.Buffer, target []byte) (*Header, error) { return WriteDelta(w, old, target) }},
		{"full/zstd", func(w *bytes.Buffer, target []byte) (*Header, error) { return WriteFull(w, target) }},
		{"full/none", func(w *bytes.Buffer, target []byte) (*Header, error) {
			return WriteFull(w, target, WithCompression(None))
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			target := firmwareChanges[0].change(base).build()
			pkg, h := build(b, func(w *bytes.Buffer) (*Header, error) { return tt.build(w, target) })
			payload := pkg[h.Size():]
			peak := peakLive(b, h, payload, old)
			b.SetBytes(int64(len(target)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := Apply(context.Background(), h, bytes.NewReader(payload), bytes.NewReader(old), discard{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(pkg)), "pkg-B")
			b.ReportMetric(float64(peak), "peak-live-B")
			b.ReportMetric(float64(ApplyMemory(h)), "estimate-B")
			b.ReportMetric(float64(len(target)+256<<10), "goal-B")
		})
	}
}

// peakLive applies once and returns the most heap that was live at a chunk
// boundary, above what was live before.
func peakLive(b testing.TB, h *Header, payload, old []byte) uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapAlloc, uint64(0)
	sample := func(Chunk) error {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > before {
			peak = max(peak, ms.HeapAlloc-before)
		}
		return nil
	}
	if err := Apply(context.Background(), h, bytes.NewReader(payload), bytes.NewReader(old), discard{}, OnChunk(sample)); err != nil {
		b.Fatal(err)
	}
	return peak
}

// discard is an io.Writer that keeps nothing, like a flash slot.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkWriteDelta builds the deltas of the realistic changes of a 1 MiB
// image with the default options and reports their sizes.
func BenchmarkWriteDelta(b *testing.B) {
	base := mibBase()
	old := base.build()
	for _, ch := range firmwareChanges {
		b.Run(ch.name, func(b *testing.B) {
			target := ch.change(base).build()
			var buf bytes.Buffer
			var h *Header
			b.SetBytes(int64(len(target)))
			for b.Loop() {
				buf.Reset()
				var err error
				if h, err = WriteDelta(&buf, old, target); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "delta-B")
			b.ReportMetric(float64(len(target)), "image-B")
			b.ReportMetric(100*float64(buf.Len())/float64(len(target)), "delta-%")
			b.ReportMetric(float64(ApplyMemory(h)), "apply-mem-B")
		})
	}
}

// TestApplyMemory checks ApplyMemory against the live heap measured at
// chunk boundaries, and the goal: image size + 256 KiB at most.
func TestApplyMemory(t *testing.T) {
	base := smallBase()
	old := base.build()
	target := firmwareChanges[1].change(base).build()
	tests := []struct {
		name  string
		build func(*bytes.Buffer) (*Header, error)
	}{
		{"delta", func(w *bytes.Buffer) (*Header, error) { return WriteDelta(w, old, target, WithFastEncoder()) }},
		{"delta small chunks", func(w *bytes.Buffer) (*Header, error) { return WriteDelta(w, old, target, smallOpts...) }},
		{"full zstd", func(w *bytes.Buffer) (*Header, error) { return WriteFull(w, target, WithFastEncoder()) }},
		{"full none", func(w *bytes.Buffer) (*Header, error) { return WriteFull(w, target, WithCompression(None)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, h := build(t, tt.build)
			peak := peakLive(t, h, pkg[h.Size():], old)
			if est := ApplyMemory(h); peak > uint64(est) {
				t.Errorf("live heap reached %d bytes, ApplyMemory says %d", peak, est)
			}
			if goal := uint64(len(target) + 256<<10); peak > goal {
				t.Errorf("live heap reached %d bytes, goal %d", peak, goal)
			}
		})
	}
}
