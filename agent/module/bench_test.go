package module_test

import (
	"testing"

	"github.com/atota/atota/agent/module"
)

// BenchmarkOTARD reads a package in MaxRead blocks over an in-memory link:
// the module's side of a download, without link pacing.
func BenchmarkOTARD(b *testing.B) {
	const size = 64 << 10
	p, _ := onePlan(b, size, 0)
	h := otaModule(b, p, func(c *module.Config) { c.PieceSize = size })
	h.ok("AT+QIOTOTAREQ")
	h.expect("+QIOTEVT: 7,10700,…")
	h.ok("AT+QIOTUPDATE=1")
	h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
	b.SetBytes(module.MaxRead)
	b.ResetTimer()
	var off int64
	for b.Loop() {
		h.readOK(off, module.MaxRead)
		off = (off + module.MaxRead) % size
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
