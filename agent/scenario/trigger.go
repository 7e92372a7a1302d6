package scenario

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/atota/atota/transport"
)

// armed is a fault of a run and its state.
type armed struct {
	f      *Fault
	desc   string
	fired  bool
	ended  bool
	events int // Trigger.Event seen so far
	cycles int // power_cut every: the cycles cut so far
}

// armTriggers starts the faults with no trigger and sets the timers of
// those triggered by time.
func (r *runner) armTriggers() {
	for _, a := range r.faults {
		t := a.f.At
		if t.Zero() {
			r.fire(a)
			continue
		}
		if t.Time > 0 {
			r.after(t.Time, func() { r.fireOn(func(_ Trigger, b *armed) bool { return b == a }) })
		}
	}
}

// after runs f after d unless the run ends first.
func (r *runner) after(d time.Duration, f func()) {
	r.schedMu.Lock()
	defer r.schedMu.Unlock()
	select {
	case <-r.stop:
		return
	default:
	}
	r.wg.Add(1)
	r.timers = append(r.timers, time.AfterFunc(d, func() {
		defer r.wg.Done()
		select {
		case <-r.stop:
		default:
			f()
		}
	}))
}

// fireOn starts every fault not started yet whose trigger holds.
func (r *runner) fireOn(holds func(Trigger, *armed) bool) {
	var due []*armed
	r.schedMu.Lock()
	for _, a := range r.faults {
		if !a.fired && holds(a.f.At, a) {
			a.fired = true
			due = append(due, a)
		}
	}
	r.schedMu.Unlock()
	for _, a := range due {
		r.fire(a)
	}
}

// spawn runs f in a goroutine the run waits for, unless the run is
// ending.
func (r *runner) spawn(f func()) {
	r.schedMu.Lock()
	defer r.schedMu.Unlock()
	select {
	case <-r.stop:
		return
	default:
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// fire starts fault a. Actions that take time run in their own
// goroutines: fire may be called from the link's reader.
func (r *runner) fire(a *armed) {
	r.schedMu.Lock()
	a.fired = true
	r.schedMu.Unlock()
	f := a.f
	r.emit(Event{Kind: "fault", Name: "fault:" + f.Type, Text: a.desc})
	if disrupts[f.Type] {
		r.disrupt()
	}
	switch f.Type {
	case FaultFlips, FaultDrops, FaultDelay, FaultSplit:
		r.schedMu.Lock()
		r.active = append(r.active, a)
		r.schedMu.Unlock()
		r.applyLink()
		if f.For > 0 {
			r.after(f.For, func() { r.end(a) })
		}
	case FaultLinkLoss:
		r.link.Down(f.For)
		r.after(f.For, func() { r.end(a) })
	case FaultURCStorm:
		r.spawn(func() { r.storm(f) })
	case FaultModuleReboot:
		r.spawn(func() { r.rebootModule(f) })
	case FaultMCUReset:
		if r.mcuSock != nil {
			r.emit(Event{Kind: "mcu", Name: "mcu:reset", Text: "the MCU resets"})
			r.resetMCU()
		} else {
			r.spawn(func() { r.command("reset", r.sc.MCU.ResetCommand) })
		}
	case FaultPowerCut:
		// The emulated MCU's cuts are armed at the start of a cycle
		// (armCuts); an external MCU's power is switched by its commands.
		if r.mcuSock == nil {
			r.spawn(func() {
				r.command("power off", r.sc.MCU.PowerOffCommand)
				r.sleep(context.Background(), f.Down)
				r.command("power on", r.sc.MCU.PowerOnCommand)
			})
		}
	case FaultCorruptBlock:
		r.tap.activate(f)
	case FaultClock:
		r.skew.Add(int64(f.Advance))
	case FaultBattery:
		r.battery.Store(int64(*f.Percent))
	case FaultSignal:
		old := r.csq.Swap(int64(*f.CSQ))
		r.setSignal(*f.CSQ)
		if f.For > 0 {
			r.after(f.For, func() {
				r.csq.Store(old)
				r.setSignal(int(old))
				r.emit(Event{Kind: "fault", Name: "fault_end:" + f.Type, Text: fmt.Sprintf("the signal is back to AT+CSQ %d", old)})
			})
		}
	case FaultConfirm:
		r.spawn(r.confirm)
	case FaultDownloadCut:
		r.plat.pkgs.startCut(f)
	case FaultDownloadRate:
		r.plat.pkgs.setRate(f, true)
		if f.For > 0 {
			r.after(f.For, func() {
				r.plat.pkgs.setRate(f, false)
				r.emit(Event{Kind: "fault", Name: "fault_end:" + f.Type, Text: a.desc})
			})
		}
	case FaultBrokerRestart:
		r.restartBroker(f)
	}
}

// end ends a lasting fault.
func (r *runner) end(a *armed) {
	r.schedMu.Lock()
	a.ended = true
	for i, b := range r.active {
		if b == a {
			r.active = append(r.active[:i], r.active[i+1:]...)
			break
		}
	}
	r.schedMu.Unlock()
	r.applyLink()
	r.disrupt()
	r.emit(Event{Kind: "fault", Name: "fault_end:" + a.f.Type, Text: a.desc})
}

// applyLink sets the link's faults to those of the lasting faults in
// force: the highest rates, the delays added up.
func (r *runner) applyLink() {
	var toMCU, toModule transport.LinkFaults
	r.schedMu.Lock()
	for _, a := range r.active {
		f := a.f
		for _, lf := range []*transport.LinkFaults{&toMCU, &toModule} {
			if f.Direction == ToMCU && lf != &toMCU || f.Direction == ToModule && lf != &toModule {
				continue
			}
			switch f.Type {
			case FaultFlips:
				lf.FlipRate = max(lf.FlipRate, f.Rate)
			case FaultDrops:
				lf.DropRate = max(lf.DropRate, f.Rate)
			case FaultDelay:
				lf.Delay += f.Delay
				lf.Jitter += f.Jitter
			case FaultSplit:
				lf.Split = true
			}
		}
	}
	r.schedMu.Unlock()
	in, out := toMCU, toModule // the link is on the MCU's end
	if !r.mcuSide {
		in, out = toModule, toMCU
	}
	if err := r.link.SetIn(in); err != nil {
		r.log.Error("link faults", "err", err)
	}
	if err := r.link.SetOut(out); err != nil {
		r.log.Error("link faults", "err", err)
	}
}

// disrupts lists the faults that disturb the link, the module or the
// MCU: an update cycle during which one starts, or one of them is in
// force, does not count against the MCU's attempts, and a cycle in which
// no plan came is tried again. A corrupt block counts: it stands for a
// package damaged beyond what the link can tell, as a bad download is.
var disrupts = map[string]bool{
	FaultFlips: true, FaultDrops: true, FaultDelay: true, FaultSplit: true, FaultLinkLoss: true,
	FaultURCStorm: true, FaultModuleReboot: true, FaultMCUReset: true, FaultPowerCut: true,
}

// disrupt counts a fault that disturbs an update cycle (see disrupts).
func (r *runner) disrupt() { r.disruptions.Add(1) }

// linkFaultsInForce reports whether a lasting link fault is on.
func (r *runner) linkFaultsInForce() bool {
	r.schedMu.Lock()
	defer r.schedMu.Unlock()
	return len(r.active) > 0 || r.link != nil && r.link.IsDown()
}

// defaultStorm is what a urc_storm sends when it names no lines: events
// and unsolicited codes a module may send at any time, none of which
// changes the update.
var defaultStorm = []string{
	"+QIOTEVT: 7,10702",
	"+QIOTEVT: 4,10200",
	`+QIND: "csq",25,99`,
	"+QIOTEVT: 5,10200,16",
	"+CEREG: 1",
}

// storm sends f.Count unsolicited lines from the module.
func (r *runner) storm(f *Fault) {
	lines := f.Lines
	if len(lines) == 0 {
		lines = defaultStorm
	}
	for i := range f.Count {
		r.modMu.Lock()
		m := r.mod
		r.modMu.Unlock()
		if m != nil {
			m.Server().Notify(lines[i%len(lines)])
		}
		if f.Interval > 0 && !r.sleep(context.Background(), f.Interval) {
			return
		}
		select {
		case <-r.stop:
			return
		default:
		}
	}
}

// rebootModule powers the module off for f.Down and boots it again from
// its state file.
func (r *runner) rebootModule(f *Fault) {
	r.stopModule()
	r.emit(Event{Kind: "module", Name: "module:off", Text: fmt.Sprintf("the module is off for %v", f.Down)})
	if !r.sleep(context.Background(), f.Down) {
		return
	}
	if err := r.bootModule(); err != nil {
		r.emit(Event{Kind: "module", Name: "module:boot_failed", Text: err.Error()})
		return
	}
	r.emit(Event{Kind: "module", Name: "module:up", Text: "the module is back, from its state file"})
}

// command runs one of an external MCU's shell commands.
func (r *runner) command(what, cmdline string) {
	if cmdline == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", cmdline).CombinedOutput()
	text := fmt.Sprintf("%s: %s", what, cmdline)
	if err != nil {
		text += fmt.Sprintf(": %v: %s", err, strings.TrimSpace(string(out)))
		r.emit(Event{Kind: "mcu", Name: "mcu:command_failed", Text: text})
		return
	}
	r.emit(Event{Kind: "mcu", Name: "mcu:" + strings.ReplaceAll(what, " ", "_"), Text: text})
}

// pending reports whether a fault has not started yet.
func (r *runner) pending() bool {
	r.schedMu.Lock()
	defer r.schedMu.Unlock()
	for _, a := range r.faults {
		if !a.fired {
			return true
		}
	}
	return false
}

// setSignal changes the running module's signal; a module booting later
// takes it from its configuration (moduleConfig).
func (r *runner) setSignal(csq int) {
	r.modMu.Lock()
	m := r.mod
	r.modMu.Unlock()
	if m == nil {
		return
	}
	if err := m.SetCSQ(csq); err != nil {
		r.log.Error("signal fault", "err", err)
	}
}

// confirm gives the app confirmation of every manual plan waiting for
// one, as the user does in the app.
func (r *runner) confirm() {
	if r.plat != nil {
		r.confirmOnPlatform()
		return
	}
	r.modMu.Lock()
	m := r.mod
	r.modMu.Unlock()
	if m == nil {
		r.emit(Event{Kind: "module", Name: "module:confirm_failed", Text: "the module is off"})
		return
	}
	names, err := m.Confirm("")
	if err != nil {
		r.emit(Event{Kind: "module", Name: "module:confirm_failed", Text: err.Error()})
		return
	}
	r.emit(Event{Kind: "module", Name: "module:confirmed", Text: "confirmed in the app: " + strings.Join(names, ", ")})
}
