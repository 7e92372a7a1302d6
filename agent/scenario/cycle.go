package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/flashsim"
)

// outcome is how the MCU side of a run ended.
type outcome struct {
	o      Outcome
	reason string
	cycles int
	// final holds the component versions at the end, as the MCU
	// reported them last (AT+QIOTMCUVER).
	final map[string]string
}

// cycleRun is the update cycle running on the emulated MCU.
type cycleRun struct {
	cancel context.CancelFunc
	plug   *plug
	reset  bool // a fault reset the MCU
}

// setupMCU makes the emulated MCU's flash, with the first component's
// first image in slot A (the image a delta applies to), and learns every
// image the plans bring: the images their packages build.
func (r *runner) setupMCU() error {
	sc := r.sc
	first := sc.MCU.Components[0]
	s, err := newSimFlash(sc.MCU.Part, knownImageData{first.ID, first.Version, initialImage(sc, first.ID)})
	if err != nil {
		return err
	}
	for _, c := range sc.MCU.Components {
		s.know(c.ID, c.Version, initialImage(sc, c.ID))
	}
	for i := range sc.Module.Plans {
		p := &sc.Module.Plans[i]
		for j := range p.Components {
			c := &p.Components[j]
			s.know(c.ID, c.TargetVersion, r.builds[c].image)
		}
	}
	r.sim = s
	return nil
}

// planned returns the first plan component for id and its plan.
func (r *runner) planned(id string) (*ComponentSpec, *PlanSpec) {
	for i := range r.sc.Module.Plans {
		p := &r.sc.Module.Plans[i]
		for j := range p.Components {
			if p.Components[j].ID == id {
				return &p.Components[j], p
			}
		}
	}
	return nil, nil
}

// attempts returns how many cycles may fail on their own.
func (r *runner) attempts() int {
	if r.sc.MCU.Attempts > 0 {
		return r.sc.MCU.Attempts
	}
	retries := 0
	for _, p := range r.sc.Module.Plans {
		retries = max(retries, p.Strategy.Retries)
	}
	return 1 + retries
}

// resetMCU resets the emulated MCU: it drops off the link at once and its
// cycle ends; runMCU boots it again.
func (r *runner) resetMCU() {
	r.cycMu.Lock()
	c := r.cyc
	if c != nil {
		c.reset = true
	}
	r.cycMu.Unlock()
	if c != nil {
		c.plug.Close()
		c.cancel()
	}
}

// onCommand takes a command line the MCU sent: AT+QIOTMCUVER="id","v"
// tells what it runs, AT+QIOTUPDATE=0 refuses a plan.
func (r *runner) onCommand(line string) {
	cmd, err := atcmd.ParseCommand(line)
	if err != nil || cmd.Kind != atcmd.Set {
		return
	}
	if cmd.Name == "+QIOTUPDATE" && len(cmd.Args) == 1 && cmd.Args[0].Value == "0" {
		r.modMu.Lock()
		r.refusals++
		r.modMu.Unlock()
		return
	}
	if cmd.Name != "+QIOTMCUVER" || len(cmd.Args) != 2 {
		return
	}
	id, v := cmd.Args[0].Value, cmd.Args[1].Value
	if id == "" || v == "" {
		return
	}
	r.evMu.Lock()
	r.declared[id] = v
	r.evMu.Unlock()
}

// declaredVersions returns the versions the MCU reported last.
func (r *runner) declaredVersions() map[string]string {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	return maps.Clone(r.declared)
}

// lateOffers is how often the MCU asks again for a plan the module got
// from the platform just after the MCU stopped waiting for one.
const lateOffers = 3

// runMCU runs the emulated MCU's update cycles until every component
// the plans offer is updated, the MCU refuses, the module offers nothing
// more, the MCU's attempts are used up or the run's time is.
//
// A cycle is one mcu.Run, as one pass of real firmware's OTA loop, with
// a journal in the work directory: it finishes or resumes what the last
// cycle left, reports its versions, asks for a plan, and reads, verifies
// and writes what is offered. Every cycle starts with a reset: the
// bootloader boots the flash (an image on trial runs, a torn one is
// reverted), and the runner checks that a known image boots, never a
// mix. A cycle that ends with an error is followed by another after
// retry_delay, as firmware retries; it counts against mcu.attempts
// unless an injected reset, power cut, module reboot or link loss cut it
// short.
func (r *runner) runMCU(ctx context.Context) outcome {
	failures, refusals, noPlans, late := 0, 0, 0, 0
	var last string
	var lastUpdated *mcu.Updated
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return r.finalOutcome(n-1, Failed, fmt.Sprintf("the run did not finish within %v (timeout); last: %s", r.sc.Timeout, cmp(last, "nothing")))
		}
		r.evMu.Lock()
		r.cycleN = n
		r.evMu.Unlock()
		target, err := r.sim.boot()
		if err != nil {
			r.corruptf("cycle %d: %v", n, err)
			return outcome{o: Failed, reason: err.Error(), cycles: n - 1, final: r.declaredVersions()}
		}
		r.checkBoot(n, lastUpdated)
		r.emit(Event{Kind: "cycle", Name: "cycle:start", Text: "the MCU boots and starts an update cycle"})
		cr := r.cycle(ctx, n, target)
		target.Close()
		if cr.res != nil && len(cr.res.Updated) > 0 {
			u := cr.res.Updated[len(cr.res.Updated)-1]
			lastUpdated = &u
			r.checkUpdated(n, cr.res.Updated)
			for _, u := range cr.res.Updated {
				r.updated[u.Component] = u
			}
		}
		class, text := classify(cr)
		if !r.sim.powered() && class != "power_cut" {
			class, text = "power_cut", "the power failed: "+text
		}
		if ctx.Err() != nil {
			class, text = "timeout", "the run's time ran out: "+text
		}
		r.emit(Event{Kind: "cycle", Name: "cycle:" + class, Text: text})
		last = text
		counts := !cr.reset && class != "power_cut" && !cr.disrupted
		switch class {
		case "no_plan":
			// A job the platform has for the module may be on its way
			// (pushed, its package downloading): the MCU asks again, as
			// firmware polls, and the cycle does not count.
			// A job the module offers already but that came too late
			// for this cycle is asked for again at most lateOffers
			// times, in case the module never offers it to the MCU.
			if r.plat != nil {
				if coming, why, offered := r.jobComing(); coming && (!offered || late < lateOffers) {
					if offered {
						late++
					}
					r.emit(Event{Kind: "platform", Name: "platform:job_pending", Text: why + "; the MCU asks again"})
					counts = false
					break
				}
			}
			// Terminal, unless a fault may have eaten the plan or one
			// still to come may bring it (an app confirmation, a clock
			// jump): then the MCU asks again, as often as the attempts
			// allow.
			out := r.finalOutcome(n, Updated, "")
			if out.o == Updated {
				// The MCU may have finished an update from its journal
				// in this cycle (a cut after the image was verified):
				// check what boots now.
				r.finalBoot(n, lastUpdated)
				return out
			}
			if !cr.disrupted && !r.pending() {
				return out
			}
			if counts {
				if noPlans++; noPlans >= r.attempts() {
					return out
				}
				counts = false
			}
		case "refused":
			// A fault may have garbled the plan's minimums: ask again,
			// as often as the attempts allow.
			if refusals++; !cr.disrupted || refusals >= r.attempts() {
				return outcome{o: Refused, reason: text, cycles: n, final: r.declaredVersions()}
			}
			counts = false
		case "updated":
			if out := r.finalOutcome(n, Updated, ""); out.o == Updated {
				r.finalBoot(n, lastUpdated)
				return out
			}
			if len(cr.res.Updated) > 0 {
				continue // the module may offer the next component at once
			}
		case "timeout":
			return r.finalOutcome(n, Failed, fmt.Sprintf("the run did not finish within %v (timeout); last: %s", r.sc.Timeout, text))
		}
		if counts {
			failures++
			if failures >= r.attempts() {
				return r.finalOutcome(n, Failed, fmt.Sprintf("%d update cycle%s failed without an injected reset, power cut, reboot or link loss (mcu.attempts %d); last: %s", failures, plural(failures), r.attempts(), text))
			}
		}
		if !r.sleep(ctx, *r.sc.MCU.RetryDelay) && ctx.Err() == nil {
			return r.finalOutcome(n, Failed, "the run was stopped")
		}
	}
}

// finalBoot boots the MCU once more after the last cycle and checks
// what runs: a known image, and the version the MCU reports for its
// component.
func (r *runner) finalBoot(n int, last *mcu.Updated) {
	t, err := r.sim.boot()
	if err != nil {
		r.corruptf("after cycle %d: %v", n, err)
		return
	}
	t.Close()
	r.checkBoot(n+1, last)
	k, slot, ok, err := r.sim.running()
	if err != nil || !ok {
		return // checkBoot said so
	}
	if v := r.declaredVersions()[k.comp]; v != "" && v != k.version {
		r.corruptf("after cycle %d: the MCU reports %s %s, but slot %s boots %s", n, k.comp, v, slot, k)
	}
}

// checkBoot checks what boots at the start of cycle n: a known image,
// and the last image an earlier cycle reported updated if it is of the
// same component.
func (r *runner) checkBoot(n int, last *mcu.Updated) {
	k, slot, ok, err := r.sim.running()
	if err == nil && !ok && last != nil && r.modSock == nil && r.sim.learn(last.Component, last.To, slot, last.Digests.Size, last.Digests.MD5) {
		k, slot, ok, err = r.sim.running()
	}
	switch {
	case err != nil:
		r.corruptf("boot before cycle %d: %v", n, err)
	case !ok:
		r.corruptf("boot before cycle %d: slot %s holds none of the known images: a corrupt image boots", n, slot)
	case last != nil && k.comp == last.Component && k.version != last.To:
		r.corruptf("boot before cycle %d: the MCU reported %s %s written and verified, but %s boots", n, last.Component, last.To, k)
	default:
		r.emit(Event{Kind: "flash", Name: "flash:boot", Text: fmt.Sprintf("slot %s boots %s", slot, k)})
	}
}

// checkUpdated checks each image the MCU reported updated against the
// image the plan brings: same size and digests, the bytes the module
// served and not a corrupted copy.
func (r *runner) checkUpdated(n int, updated []mcu.Updated) {
	for _, u := range updated {
		k, ok := r.sim.image(u.Component, u.To)
		switch {
		case !ok && r.modSock == nil:
			// A real module's packages are known only by what the MCU
			// verified; checkBoot checks what boots against that.
		case !ok:
			r.corruptf("cycle %d reported %s %s, a version no plan brings", n, u.Component, u.To)
		case u.Digests.SHA256 != "" && u.Digests.SHA256 != fmt.Sprintf("%x", k.sum) || u.Digests.Size != k.size:
			r.corruptf("cycle %d reported %s %s written and verified, but its digests (%d bytes, SHA-256 %s) are not those of the image the package builds (%d bytes, SHA-256 %x)",
				n, u.Component, u.To, u.Digests.Size, u.Digests.SHA256, k.size, k.sum)
		}
	}
}

// cycleResult is how one update cycle ended.
type cycleResult struct {
	res       *mcu.Result
	err       error
	reset     bool // a fault reset the MCU during the cycle
	disrupted bool // an injected fault cut the cycle short
}

// cycle runs one update cycle of the emulated MCU.
func (r *runner) cycle(ctx context.Context, n int, target mcu.Target) cycleResult {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := r.mcuSock.attach()
	c := &cycleRun{cancel: cancel, plug: p}
	before := r.disruptions.Load()
	inForce := r.linkFaultsInForce()
	r.cycMu.Lock()
	r.cyc = c
	r.cycMu.Unlock()
	r.fireOn(func(t Trigger, _ *armed) bool { return t.Cycle == n })
	r.armCuts()
	startOps := r.sim.ops()

	client := atcmd.NewClient(p, atcmd.WithClientLogger(r.log.With("side", "mcu", "cycle", n)), atcmd.WithQuiet(quiet(r.sc.MCU.Timeouts.Command)))
	res, err := mcu.Run(cctx, client, r.mcuConfig(n, target))
	client.Close()
	p.Close()

	r.cycMu.Lock()
	r.cyc = nil
	wasReset := c.reset
	r.cycMu.Unlock()
	if !r.sim.powered() {
		r.disrupt()
		r.emit(Event{Kind: "flash", Name: "flash:power_cut", Text: fmt.Sprintf("the power failed at flash operation %d of the cycle (%d since the start)", r.sim.ops()-startOps, r.sim.ops())})
	}
	disrupted := inForce || r.linkFaultsInForce() || r.disruptions.Load() != before
	return cycleResult{res: res, err: err, reset: wasReset, disrupted: disrupted}
}

// quiet is how long the MCU's AT client waits for a late answer to drain
// after a timeout: a fifth of the command timeout, at most the client's
// default.
func quiet(command time.Duration) time.Duration {
	return min(command/5, 200*time.Millisecond)
}

// mcuConfig returns the configuration of cycle n.
func (r *runner) mcuConfig(n int, target mcu.Target) mcu.Config {
	m := r.sc.MCU
	cfg := mcu.DefaultConfig()
	for _, c := range m.Components {
		cfg.Components = append(cfg.Components, mcu.Component{ID: c.ID, Version: c.Version})
	}
	cfg.Battery = func(context.Context) (int, error) { return int(r.battery.Load()), nil }
	cfg.Target = target
	cfg.Journal = filepath.Join(r.dir, "mcu-journal.json")
	cfg.SHA256 = m.SHA256
	cfg.VerifyKey = verifyKey(m.VerifyKey)
	cfg.Block = m.Block
	t := m.Timeouts
	cfg.CommandTimeout, cfg.ReadTimeout, cfg.PayloadTimeout = t.Command, t.Read, t.Payload
	cfg.RegisterTimeout, cfg.PlanTimeout, cfg.EventTimeout = t.Register, t.Plan, t.Event
	cfg.Logger = r.log.With("side", "mcu", "cycle", n)
	return cfg
}

// armCuts arms the power cuts of this cycle: a power_cut with op cuts
// its operation in the cycle it starts in; one with every cuts the k-th
// cycle since it started at operation k*every, so that the cuts sweep
// through the update until a cycle gets past them.
func (r *runner) armCuts() {
	r.schedMu.Lock()
	defer r.schedMu.Unlock()
	for _, a := range r.faults {
		f := a.f
		if f.Type != FaultPowerCut || !a.fired || a.ended {
			continue
		}
		switch {
		case f.Op > 0:
			r.sim.armCut(f.Op)
			a.ended = true
		case f.Every > 0:
			a.cycles++
			r.sim.armCut(a.cycles * f.Every)
		}
	}
}

// classify names how a cycle ended and describes it.
func classify(cr cycleResult) (class, text string) {
	res, err := cr.res, cr.err
	var pe *mcu.PolicyError
	switch {
	case err == nil && res != nil && res.NoPlan:
		return "no_plan", "the module offered no plan"
	case err == nil:
		var done []string
		if res != nil {
			for _, u := range res.Updated {
				done = append(done, fmt.Sprintf("%s %s -> %s", u.Component, u.From, u.To))
			}
		}
		return "updated", "updated " + cmp(strings.Join(done, ", "), "nothing")
	case errors.Is(err, flashsim.ErrPowerCut):
		return "power_cut", err.Error()
	case cr.reset:
		return "reset", "the MCU was reset: " + err.Error()
	case errors.As(err, &pe):
		return "refused", pe.Error()
	case errors.Is(err, mcu.ErrVerify):
		return "verify_failed", err.Error()
	}
	return "error", err.Error()
}

// finalOutcome judges the end of the cycles from the versions the MCU
// reported last: every component a plan names at its target is Updated;
// nothing changed is NoPlan; anything else is Failed. def and reason are
// used when the versions do not decide it.
func (r *runner) finalOutcome(cycles int, def Outcome, reason string) outcome {
	final := r.declaredVersions()
	out := outcome{cycles: cycles, final: final}
	var missing []string
	changed, planned := false, false
	for _, c := range r.sc.MCU.Components {
		v := cmp(final[c.ID], c.Version)
		if v != c.Version {
			changed = true
		}
		comp, _ := r.planned(c.ID)
		if comp == nil {
			continue
		}
		planned = true
		if v != comp.TargetVersion {
			missing = append(missing, fmt.Sprintf("%s is %s, the plan brings %s", c.ID, v, comp.TargetVersion))
		}
	}
	switch {
	case planned && len(missing) == 0, !planned && changed && def == Updated:
		out.o = Updated
	case def == Updated && !changed:
		out.o, out.reason = NoPlan, "the module offered no plan"
		if len(missing) > 0 {
			out.reason += " (" + strings.Join(missing, "; ") + ")"
		}
	case def == Updated:
		out.o, out.reason = Failed, "the module offers no more, but "+strings.Join(missing, "; ")
	default:
		out.o, out.reason = def, reason
	}
	return out
}

// corruptf records an image reported good that is not, or a flash that
// boots no known image.
func (r *runner) corruptf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.evMu.Lock()
	r.corrupt = append(r.corrupt, msg)
	r.evMu.Unlock()
	r.emit(Event{Kind: "flash", Name: "flash:corrupt", Text: msg})
}
