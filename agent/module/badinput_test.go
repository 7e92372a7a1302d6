package module_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
)

// TestBadArguments checks that out-of-range numbers, wrong types and
// commands out of turn are answered ERROR, and change nothing.
func TestBadArguments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 100, 0)
		h := start(t, config(p.dir()))
		h.ok("ATE0")
		for _, line := range []string{
			// no task yet
			"AT+QIOTOTARD=0,1024", "AT+QIOTUPDATE=1", "AT+QIOTUPDATE=2", "AT+QIOTUPDATE=3", "AT+QIOTUPDATE=0",
			// not registered
			"AT+QIOTOTAREQ", `AT+QIOTINFO="up"`,
			// out of range, wrong types, wrong forms
			"AT+QIOTREG=3", "AT+QIOTREG=-1", "AT+QIOTREG=99999999999999999999", `AT+QIOTREG="1"`, "AT+QIOTREG=1,1",
			"AT+QIOTREG", "AT+QIOTSTATE", "AT+QIOTSTATE=1",
			`AT+QIOTCFG="lifetime",0`, `AT+QIOTCFG="lifetime",65536`, `AT+QIOTCFG="buffer",2`, `AT+QIOTCFG="act",16`,
			`AT+QIOTCFG="tsl","1"`, `AT+QIOTCFG="server",2,"mqtt://x"`, `AT+QIOTCFG="server",1`, `AT+QIOTCFG="nokey",1`,
			`AT+QIOTCFG=lifetime,120`, "AT+QIOTCFG", "AT+QIOTCFG?",
			`AT+QIOTMCUVER="STM32","1 0"`, `AT+QIOTMCUVER="",""`, `AT+QIOTMCUVER=STM32,1`, `AT+QIOTMCUVER="UNKNOWN"`,
			`AT+QIOTMCUVER="A","1","2"`,
			"AT+QIOTOTAREQ=2", "AT+QIOTOTAREQ=-1", "AT+QIOTOTAREQ?",
			`AT+QIOTINFO="down"`, "AT+QIOTINFO=1", "AT+QIOTINFO",
			"AT+CMEE=3", "ATE2", "AT+CSQ=1",
		} {
			h.fail(line)
		}
		h.okLine("AT+QIOTREG?", "+QIOTREG: 0")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
		h.okLine(`AT+QIOTCFG="lifetime"`, `+QIOTCFG: "lifetime",120`)
		if got := h.ok("AT+QIOTMCUVER?"); len(got) != 0 {
			t.Errorf("AT+QIOTMCUVER? after bad declarations: %q, want none", got)
		}
		h.quiet()
	})
}

// TestBadPlans writes, beside a good plan, a plan file breaking each rule
// of plan-format.md: the bad one is never offered and never hides the
// good one.
func TestBadPlans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 100, 0)
		p.pkg("empty.bin", nil)
		bad := map[string]func(doc map[string]any){
			"name missing":    func(doc map[string]any) { doc["name"] = nil },
			"name too long":   func(doc map[string]any) { doc["name"] = string(make([]byte, 101)) },
			"product missing": func(doc map[string]any) { doc["product"] = nil },
			"state unknown":   func(doc map[string]any) { doc["state"] = "running" },
			"state saved":     func(doc map[string]any) { doc["state"] = "saved" },
			"state ended":     func(doc map[string]any) { doc["state"] = "ended" },
			"timezone bad":    func(doc map[string]any) { doc["timezone"] = "Mars/Olympus" },
			"window backwards": func(doc map[string]any) {
				doc["window"] = map[string]string{"start": "2027-01-01 00:00", "end": "2026-01-01 00:00"}
			},
			"window malformed": func(doc map[string]any) {
				doc["window"] = map[string]string{"start": "yesterday", "end": "2027-01-01 00:00"}
			},
			"window over": func(doc map[string]any) {
				doc["window"] = map[string]string{"start": "2025-01-01 00:00", "end": "2026-01-01 00:00"}
			},
			"push period short":   func(doc map[string]any) { doc["push_period"] = map[string]int{"from": 5, "to": 5} },
			"push period range":   func(doc map[string]any) { doc["push_period"] = map[string]int{"from": 5, "to": 25} },
			"mode unknown":        func(doc map[string]any) { doc["mode"] = "loud" },
			"manual without text": func(doc map[string]any) { doc["mode"] = "manual" },
			"rejection too short": func(doc map[string]any) { doc["rejection_minutes"] = 5 },
			"rejection too long":  func(doc map[string]any) { doc["rejection_minutes"] = 1441 },
			"retries negative":    func(doc map[string]any) { doc["strategy"] = map[string]int{"retries": -1} },
			"unknown field":       func(doc map[string]any) { doc["colour"] = "blue" },
			"no components":       func(doc map[string]any) { doc["components"] = []any{} },
			"blacklisted":         func(doc map[string]any) { doc["blacklist"] = []string{"dev1"} },
			"not whitelisted":     func(doc map[string]any) { doc["whitelist"] = []string{"dev2"} },
			"other product":       func(doc map[string]any) { doc["product"] = "p2other" },
		}
		comps := map[string]map[string]any{
			"component type":       {"type": "dsp"},
			"component package":    {"package": "patch"},
			"delta without source": {"package": "delta"},
			"delta from another":   {"package": "delta", "source_version": "0_9"},
			"specified too many":   {"specified_versions": []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}},
			"specified others":     {"specified_versions": []string{"0_9"}},
			"specified with delta": {"package": "delta", "source_version": "1_0_0", "specified_versions": []string{"1_0_0"}},
			"file absolute":        {"file": "/etc/passwd"},
			"file escapes":         {"file": "../x.bin"},
			"file missing":         {"file": "firmware/nope.bin"},
			"file empty":           {"file": "firmware/empty.bin"},
			"file a directory":     {"file": "firmware"},
			"id missing":           {"id": nil},
		}
		for name, change := range comps {
			bad[name] = func(doc map[string]any) {
				c := map[string]any{"type": "mcu", "id": "STM32", "package": "full", "target_version": "9", "file": "firmware/stm32.bin"}
				for k, v := range change {
					c[k] = v
					if v == nil {
						delete(c, k)
					}
				}
				doc["components"] = []any{c}
			}
		}
		i := 0
		for why, edit := range bad {
			i++
			name := "aaa-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
			p.planWith(name, func(doc map[string]any) {
				doc["name"] = name + " (" + why + ")"
				doc["push_actively"] = nil
				doc["strategy"] = map[string]int{"retries": 3}
				edit(doc)
			}, comp{id: "STM32", target: "9", file: p.pkg("stm32.bin", firmware(100, 1))})
		}
		h := otaModule(t, p, func(c *module.Config) { c.DeviceKey, c.PlanPoll = "dev1", 20*time.Minute })
		h.ok("AT+QIOTOTAREQ")
		h.expect(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,100`)
		h.quiet()
	})
}
