package module_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
)

// endsAt13 sets a plan's window to end at 13:00, an hour after the
// tests' now.
func endsAt13(doc map[string]any) {
	doc["window"] = map[string]string{"start": "2026-01-01 00:00", "end": "2026-06-01 13:00"}
}

// TestWindowEndsMidTransfer checks that a transfer still running when the
// plan's window ends fails with 7,10706 at that moment, and counts.
func TestWindowEndsMidTransfer(t *testing.T) {
	for _, phase := range []string{"downloading", "updating"} {
		t.Run(phase, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPlans(t)
				p.planWith("stm32-2.0.0", endsAt13, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
				h := otaModule(t, p, func(c *module.Config) { c.Now = clock() })
				t0 := time.Now()
				h.ok("AT+QIOTOTAREQ")
				h.expect(offer)
				h.ok("AT+QIOTUPDATE=1")
				h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
				h.readOK(0, 50)
				if phase == "updating" {
					h.readOK(50, 50)
					h.ok("AT+QIOTUPDATE=3")
					h.expect("+QIOTEVT: 7,10704")
				}
				h.expect("+QIOTEVT: 7,10706")
				at(t, "7,10706", t0, time.Hour)
				if _, err := h.read(50, 10); err == nil {
					t.Error("AT+QIOTOTARD after the window ended: got OK, want ERROR")
				}
				h.ok(`AT+QIOTMCUVER="STM32","2_0_0"`)
				h.quiet() // too late: no 7,10705
				if got := h.m.Status().Failures["stm32-2.0.0"]; got != 1 {
					t.Errorf("failures after the window ended: %d, want 1", got)
				}
			})
		})
	}
}

// TestWindowEndsOffered checks that an offer the MCU has not confirmed
// when the window ends lapses quietly.
func TestWindowEndsOffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		p.planWith("stm32-2.0.0", endsAt13, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
		h := otaModule(t, p, func(c *module.Config) { c.Now = clock() })
		h.ok("AT+QIOTOTAREQ")
		h.expect(offer)
		time.Sleep(time.Hour)
		h.quiet()
		h.fail("AT+QIOTUPDATE=1")
		h.ok("AT+QIOTOTAREQ")
		h.quiet() // the plan is over
	})
}

// TestWindowNotStarted checks that a plan is offered only once its window
// starts.
func TestWindowNotStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		p.planWith("stm32-2.0.0", func(doc map[string]any) {
			doc["window"] = map[string]string{"start": "2026-06-01 12:30", "end": "2027-01-01 00:00"}
		}, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
		h := otaModule(t, p, func(c *module.Config) { c.Now = clock() })
		h.ok("AT+QIOTOTAREQ")
		h.quiet()
		time.Sleep(30 * time.Minute)
		h.ok("AT+QIOTOTAREQ")
		h.expect(offer)
	})
}
