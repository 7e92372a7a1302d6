package flashsim

import (
	"fmt"
	"path/filepath"
	"testing"
)

func BenchmarkWriteAt(b *testing.B) {
	for _, tt := range []struct {
		part  string
		block int
	}{
		{part: "stm32f103c8", block: 256},
		{part: "stm32f103c8", block: 1024},
		{part: "stm32f407vg", block: 1024},
		{part: "nrf52840", block: 4096},
	} {
		b.Run(fmt.Sprintf("%s/%dB", tt.part, tt.block), func(b *testing.B) {
			f := newFlash(b, tt.part)
			data := image(1, tt.block)
			size := f.Size()
			off := int64(0)
			var written int64
			b.ResetTimer()
			for b.Loop() {
				if off+int64(tt.block) > size {
					b.StopTimer()
					if err := f.Erase(0, size); err != nil {
						b.Fatal(err)
					}
					off = 0
					b.StartTimer()
				}
				if _, err := f.WriteAt(data, off); err != nil {
					b.Fatal(err)
				}
				off += int64(tt.block)
				written += int64(tt.block)
			}
			b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "bytes/s")
		})
	}
}

func BenchmarkSave1MiB(b *testing.B) {
	f := sample(b, "nrf52840")
	path := filepath.Join(b.TempDir(), "flash.bin")
	for b.Loop() {
		if err := f.Save(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.Size())*float64(b.N)/b.Elapsed().Seconds(), "bytes/s")
}

func BenchmarkNewDevice(b *testing.B) {
	f := newFlash(b, "stm32f407vg")
	d := newDevice(b, f)
	for range 1000 {
		if err := d.append(d.Record()); err != nil {
			b.Fatal(err)
		}
	}
	l := d.Layout()
	for b.Loop() {
		if _, err := NewDevice(f, l); err != nil {
			b.Fatal(err)
		}
	}
}
