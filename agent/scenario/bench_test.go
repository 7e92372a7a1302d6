package scenario

import (
	"testing"
	"time"
)

// BenchmarkLinkModel compares the duration a run reports over an
// unpaced link (the time measured plus the UART model's line time) with
// the same run paced in real time at 115200 8N1: paced/model near 1 means
// an emulated run reports what a real UART would take.
func BenchmarkLinkModel(b *testing.B) {
	const doc = `
module:
  piece_size: 4KiB
  event_delay: 2ms
  reg_delay: 5ms
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 8KiB}]
mcu:
  timeouts: {plan: 500ms}
link:
  baud: 115200
`
	run := func(pace bool) time.Duration {
		sc, err := Parse("bench.yaml", []byte(doc))
		if err != nil {
			b.Fatal(err)
		}
		sc.Link.Pace = pace
		res, err := Run(b.Context(), sc, 1, Options{})
		if err != nil || !res.Passed() {
			b.Fatalf("run failed: %v %v", err, res.Failures())
		}
		return res.Duration
	}
	var model, paced time.Duration
	for b.Loop() {
		model += run(false)
		paced += run(true)
	}
	b.ReportMetric(paced.Seconds()/model.Seconds(), "paced/model")
	b.ReportMetric(model.Seconds()/float64(b.N), "model-s/op")
}
