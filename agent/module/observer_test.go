package module_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
)

// observer records what the module tells it, one line per call.
type observer struct {
	mu    sync.Mutex
	calls []string
	m     *module.Module // called back, to prove no module lock is held
}

func (o *observer) VersionsReported(v map[string]string) {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		kv = append(kv, k+"="+v[k])
	}
	o.add("versions " + strings.Join(kv, " "))
}

func (o *observer) TaskProgress(p module.TaskProgress) {
	s := fmt.Sprintf("%s %s %d %d/%d", p.Plan, p.Component, p.Event, p.Done, p.Total)
	if p.Event == 10703 {
		s += fmt.Sprintf(" piece %d+%d", p.PieceStart, p.PieceLen)
	}
	if p.Reason != "" {
		s += " (" + p.Reason + ")"
	}
	o.add(s)
}

func (o *observer) add(s string) {
	o.mu.Lock()
	m := o.m
	o.mu.Unlock()
	if m != nil {
		m.DeviceKey() // would deadlock with a module lock held
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, s)
}

func (o *observer) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

// TestObserver follows a two-component plan, a refusal and a failure
// through the Observer: every version change once, and each step of the
// task with the bytes read so far.
func TestObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _, _ := twoComponents(t)
		o := &observer{}
		h := otaModule(t, p, func(c *module.Config) {
			c.Observer = o
			c.PieceSize = 1500
		})
		o.mu.Lock()
		o.m = h.m
		o.mu.Unlock()
		h.ok(`AT+QIOTMCUVER="MCU_A","1.0"`)
		h.ok(`AT+QIOTMCUVER="MCU_A","1.0"`) // no change: not reported
		h.ok(`AT+QIOTMCUVER="MCU_B","1.0"`)
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…", "+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=0")
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…", "+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.readOK(0, 1000)
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="MCU_A","2.0"`)
		h.expect("+QIOTEVT: 7,10705", "+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.readOK(0, 1024)
		h.readOK(1024, 476)
		h.ok("AT+QIOTUPDATE=2")
		h.expect("+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.readOK(1500, 500)
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="MCU_B","1.5"`)
		h.expect("+QIOTEVT: 7,10706")
		h.m.Close() // delivers what is queued

		want := []string{
			"versions STM32=1_0_0",
			"versions MCU_A=1.0 STM32=1_0_0",
			"versions MCU_A=1.0 MCU_B=1.0 STM32=1_0_0",
			"two MCU_A 10700 0/1000",
			"two MCU_B 10700 0/2000",
			"two MCU_A 0 0/1000 (refused by the MCU (AT+QIOTUPDATE=0))",
			"two MCU_A 10700 0/1000",
			"two MCU_B 10700 0/2000",
			"two MCU_A 10701 0/1000",
			"two MCU_A 10703 0/1000 piece 0+1000",
			"two MCU_A 10704 1000/1000",
			"versions MCU_A=2.0 MCU_B=1.0 STM32=1_0_0",
			"two MCU_A 10705 1000/1000",
			"two MCU_B 10701 0/2000",
			"two MCU_B 10703 0/2000 piece 0+1500",
			"two MCU_B 10703 1500/2000 piece 1500+500",
			"two MCU_B 10704 2000/2000",
			"versions MCU_A=2.0 MCU_B=1.5 STM32=1_0_0",
			`two MCU_B 10706 2000/2000 (component MCU_B reported version "1.5", want "2.0")`,
		}
		if got := o.got(); !slices.Equal(got, want) {
			t.Errorf("observer calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
