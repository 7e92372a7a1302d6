package module_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
)

const offer = `+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,100`

// pushPlan writes the plan stm32-2.0.0 for a 100-byte package with
// push_actively (the default), edited by edit.
func pushPlan(t *testing.T, edit func(doc map[string]any)) *plans {
	t.Helper()
	p := newPlans(t)
	p.planWith("stm32-2.0.0", func(doc map[string]any) {
		doc["push_actively"] = nil // the default: true
		if edit != nil {
			edit(doc)
		}
	}, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
	return p
}

// pushModule starts a registered module on the plans p, on a clock that
// advances with synctest's.
func pushModule(t *testing.T, p *plans, change func(*module.Config)) *harness {
	t.Helper()
	return otaModule(t, p, func(c *module.Config) {
		c.Now = clock()
		c.DeviceKey = "dev1"
		if change != nil {
			change(c)
		}
	})
}

// at checks that time.Since(t0) is want.
func at(t *testing.T, what string, t0 time.Time, want time.Duration) {
	t.Helper()
	if got := time.Since(t0); got != want {
		t.Errorf("%s came %v after the start, want %v", what, got, want)
	}
}

// TestPush follows a plan with push_actively: the first push FirstPush
// after the registration, again every PushInterval while the MCU neither
// confirms nor refuses, again rejection_minutes after a refusal, and
// never while a transfer runs.
func TestPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pushPlan(t, func(doc map[string]any) { doc["rejection_minutes"] = 15 })
		h := pushModule(t, p, nil)
		t0 := time.Now()
		h.expect(offer)
		at(t, "the first push", t0, module.DefaultFirstPush)
		h.expect(offer)
		at(t, "the second push", t0, module.DefaultFirstPush+module.DefaultPushInterval)

		h.ok("AT+QIOTUPDATE=0")
		t0 = time.Now()
		h.expect(offer)
		at(t, "the push after the refusal", t0, 15*time.Minute)

		h.ok("AT+QIOTOTAREQ") // a request restarts the push interval
		h.expect(offer)
		t0 = time.Now()
		h.expect(offer)
		at(t, "the push after a request", t0, module.DefaultPushInterval)

		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.quiet() // no push during the transfer
		h.readOK(0, 100)
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="STM32","2_0_0"`)
		h.expect("+QIOTEVT: 7,10705")
		h.quiet() // done: nothing to push
	})
}

// TestPushRules checks when a plan is not pushed: push_actively false,
// outside the push period, before the registration.
func TestPushRules(t *testing.T) {
	tests := []struct {
		name string
		edit func(doc map[string]any)
		// first is when the first push comes after the registration
		// (12:00 on the plan clock), or 0 for never within a day.
		first time.Duration
	}{
		{name: "push_actively false", edit: func(doc map[string]any) { doc["push_actively"] = false }},
		{name: "inside the push period", edit: func(doc map[string]any) { doc["push_period"] = map[string]int{"from": 10, "to": 14} },
			first: module.DefaultFirstPush},
		{name: "push period later", edit: func(doc map[string]any) { doc["push_period"] = map[string]int{"from": 15, "to": 16} },
			first: 3 * time.Hour},
		{name: "push period wraps midnight", edit: func(doc map[string]any) { doc["push_period"] = map[string]int{"from": 22, "to": 2} },
			first: 10 * time.Hour},
		{name: "other time zone", edit: func(doc map[string]any) {
			doc["timezone"] = "+08:00" // 12:00 UTC is 20:00 there
			doc["push_period"] = map[string]int{"from": 21, "to": 22}
		}, first: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := pushPlan(t, tt.edit)
				const poll = time.Minute // the tests' config
				h := pushModule(t, p, nil)
				t0 := time.Now()
				if tt.first == 0 {
					time.Sleep(24 * time.Hour)
					h.quiet()
					h.ok("AT+QIOTOTAREQ") // a request still brings it
					h.expect(offer)
					return
				}
				h.expect(offer)
				if got := time.Since(t0); got < tt.first || got > tt.first+poll {
					t.Errorf("first push %v after the registration, want %v (within the plan poll of %v)", got, tt.first, poll)
				}
			})
		})
	}
}

// TestPushNeedsRegistration checks that nothing is pushed to a module
// that is not registered, and that the first push follows the
// registration.
func TestPushNeedsRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pushPlan(t, nil)
		cfg := config(p.dir())
		cfg.Now = clock()
		h := start(t, cfg)
		h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
		time.Sleep(time.Hour)
		h.quiet()
		h.register()
		t0 := time.Now()
		h.expect(offer)
		at(t, "the first push", t0, module.DefaultFirstPush)
		h.ok("AT+QIOTREG=0")
		h.expect("+QIOTEVT: 6,10200")
		time.Sleep(time.Hour)
		h.quiet()
	})
}

// TestPlanAddedWhileRunning checks that a plan written into the plans
// directory while the module runs is pushed within a plan poll, and that
// a request sees it at once.
func TestPlanAddedWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		h := pushModule(t, p, func(c *module.Config) { c.PlanPoll = module.DefaultPlanPoll })
		h.ok("AT+QIOTOTAREQ")
		time.Sleep(10 * time.Minute)
		h.quiet()
		p.planWith("stm32-2.0.0", func(doc map[string]any) { doc["push_actively"] = nil },
			comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
		t0 := time.Now()
		h.expect(offer)
		if got := time.Since(t0); got > module.DefaultPlanPoll {
			t.Errorf("pushed %v after the plan file was written, want within %v", got, module.DefaultPlanPoll)
		}
		h.ok("AT+QIOTUPDATE=0")
		h.ok("AT+QIOTOTAREQ")
		h.expect(offer)
	})
}

// TestManualPlan checks a manual plan: neither pushed nor offered before
// the app confirmation, pushed at once after it, and in need of a new
// one after a refusal; a device in auto_confirm takes it like a silent
// plan.
func TestManualPlan(t *testing.T) {
	manual := func(doc map[string]any) {
		doc["mode"] = "manual"
		doc["texts"] = map[string]string{"en": "New firmware"}
	}
	t.Run("confirm", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := pushPlan(t, manual)
			h := pushModule(t, p, nil)
			h.ok("AT+QIOTOTAREQ")
			time.Sleep(time.Hour)
			h.quiet()
			if _, err := h.m.Confirm("other"); !errors.Is(err, module.ErrNothingToConfirm) {
				t.Errorf("Confirm(other): %v, want ErrNothingToConfirm", err)
			}
			names, err := h.m.Confirm("")
			if err != nil || !slices.Equal(names, []string{"stm32-2.0.0"}) {
				t.Fatalf("Confirm: %q, %v; want [stm32-2.0.0]", names, err)
			}
			t0 := time.Now()
			h.expect(offer)
			at(t, "the push after the confirmation", t0, 0)
			if _, err := h.m.Confirm(""); !errors.Is(err, module.ErrNothingToConfirm) {
				t.Errorf("Confirm again: %v, want ErrNothingToConfirm", err)
			}
			h.ok("AT+QIOTOTAREQ")
			h.expect(offer)
			h.ok("AT+QIOTUPDATE=0") // refused: the user must confirm again
			h.ok("AT+QIOTOTAREQ")
			time.Sleep(time.Hour)
			h.quiet()
			if _, err := h.m.Confirm("stm32-2.0.0"); err != nil {
				t.Fatalf("Confirm after the refusal: %v", err)
			}
			h.expect(offer)
		})
	})
	t.Run("auto_confirm", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := pushPlan(t, func(doc map[string]any) {
				manual(doc)
				doc["auto_confirm"] = []string{"dev1"}
			})
			h := pushModule(t, p, nil)
			h.ok("AT+QIOTOTAREQ")
			h.expect(offer)
			if _, err := h.m.Confirm(""); !errors.Is(err, module.ErrNothingToConfirm) {
				t.Errorf("Confirm: %v, want ErrNothingToConfirm (auto_confirm)", err)
			}
		})
	})
	t.Run("confirmation survives a restart", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := pushPlan(t, manual)
			cfg := config(p.dir())
			cfg.StatePath = t.TempDir() + "/module.json"
			cfg.DeviceKey = "dev1"
			h := start(t, cfg)
			if _, err := h.m.Confirm(""); err != nil {
				t.Fatal(err)
			}
			h = h.restart(cfg)
			h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
			h.register()
			h.ok("AT+QIOTOTAREQ")
			h.expect(offer)
		})
	})
}

// TestPushNow checks Push, the control endpoint's push: at once.
func TestPushNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := pushPlan(t, func(doc map[string]any) { doc["push_actively"] = false })
		h := pushModule(t, p, nil)
		if got := h.m.Push(); !slices.Equal(got, []string{"stm32-2.0.0"}) {
			t.Errorf("Push: %q, want [stm32-2.0.0]", got)
		}
		t0 := time.Now()
		h.expect(offer)
		at(t, "the push", t0, 0)
		h.quiet() // push_actively false: not again by itself
	})
}
