package mcu

import (
	"testing"

	"github.com/atota/atota/agent/pack"
)

// BenchmarkPackageUpdate runs a whole update of a 1 MiB image into a
// flashsim target over an in-memory link: the raw image, a full zstd
// package and a delta from the running image. It reports the bytes read
// over the link, what they cost on a 115200-baud UART (10 bits a byte),
// and the image bytes built per second. The apply's own memory is
// measured by agent/pack's BenchmarkApply.
func BenchmarkPackageUpdate(b *testing.B) {
	old := image(80, 1<<20)
	img := newBuild(old, 81)
	delta, _ := buildPackage(b, old, img, pack.WithChunkSize(64<<10))
	full, _ := buildPackage(b, nil, img, pack.WithChunkSize(64<<10))
	for _, tt := range []struct {
		name string
		data []byte
	}{{"raw", img}, {"full", full}, {"delta", delta}} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				f := baseFlash(b, "w25q32", old)
				tg, err := NewFlashTarget(f)
				if err != nil {
					b.Fatal(err)
				}
				m := newFake(fakeComp{ID: "STM32", Source: "1_0_0", Target: "2_0_0", Data: tt.data})
				m.pieceSize = 64 << 10
				cfg := testConfig(tg)
				c := m.client(b)
				b.StartTimer()
				if _, err := Run(b.Context(), c, cfg); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := m.readBytes(); got != int64(len(tt.data)) {
					b.Fatalf("read %d bytes, want %d", got, len(tt.data))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(len(tt.data)), "link-B")
			b.ReportMetric(float64(len(tt.data))*10/115200, "uart-s")
			b.ReportMetric(float64(len(img))*float64(b.N)/b.Elapsed().Seconds()/1e6, "image-MB/s")
		})
	}
}
