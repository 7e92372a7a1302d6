package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// result gathers the run's result from the runner.
func (r *runner) result(out outcome) *Result {
	sc := r.sc
	res := &Result{
		Scenario: sc.Name,
		File:     sc.File,
		Seed:     r.seed,
		Outcome:  out.o,
		Reason:   out.reason,
		Wall:     r.ended.Sub(r.start),
		Cycles:   out.cycles,
	}
	res.Duration = res.Wall
	if sc.Link.Baud > 0 && !sc.Link.Pace && r.link != nil {
		sent, got := r.link.Stats()
		res.LineTime = r.uart.Duration(sent.Bytes) + r.uart.Duration(got.Bytes)
		res.Duration += res.LineTime
	}
	order, served, reach, sizes := r.tap.stats()
	for _, id := range order {
		res.PackageBytes += sizes[id]
		res.Reread += max(served[id]-reach[id], 0)
	}
	ids := make([]string, 0, len(sc.MCU.Components))
	from := map[string]string{}
	for _, c := range sc.MCU.Components {
		ids = append(ids, c.ID)
		from[c.ID] = c.Version
	}
	for _, id := range slices.Sorted(maps.Keys(out.final)) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		c := ComponentResult{ID: id, From: from[id], Version: cmp(out.final[id], from[id]), Size: sizes[id], Served: served[id]}
		if comp, _ := r.planned(id); comp != nil {
			c.Target = comp.TargetVersion
			if b := r.builds[comp]; b != nil && b.kind != PackageRaw {
				c.Package, c.ImageSize = b.kind, int64(len(b.image))
			}
		} else if u, ok := r.updated[id]; ok && u.Package != "" {
			// A real module's package: what the MCU applied.
			c.Package, c.ImageSize = u.Package, u.Digests.Size
		}
		res.Components = append(res.Components, c)
	}
	r.evMu.Lock()
	res.Corrupt = slices.Clone(r.corrupt)
	r.evMu.Unlock()
	for _, a := range r.faults {
		res.Faults = append(res.Faults, a.desc)
	}
	if r.plat != nil {
		res.Platform = r.plat.result()
	}
	return res
}

// check evaluates the scenario's expectations against res. A scenario
// that expects nothing expects the update to succeed.
func (r *runner) check(res *Result) {
	e := r.sc.Expect
	add := func(name, want, got string, ok bool) {
		res.Checks = append(res.Checks, Check{Name: name, Want: want, Got: got, OK: ok})
	}
	result := e.Result
	if result == "" && len(e.Versions) == 0 && len(e.Events) == 0 && len(e.NoEvents) == 0 && e.ExitCode == nil {
		result = string(Updated)
	}
	if result != "" {
		got := string(res.Outcome)
		if res.Reason != "" && got != result {
			got += " (" + res.Reason + ")"
		}
		add("result", result, got, string(res.Outcome) == result)
	}
	for _, id := range slices.Sorted(maps.Keys(e.Versions)) {
		want := e.Versions[id]
		got := ""
		for _, c := range res.Components {
			if c.ID == id {
				got = c.Version
			}
		}
		add("versions."+id, want, cmp(got, "none reported"), got == want)
	}
	r.evMu.Lock()
	seen := maps.Clone(r.seen)
	r.evMu.Unlock()
	for _, name := range e.Events {
		n := seen[name]
		add("events "+name, "seen", fmt.Sprintf("seen %d times", n), n > 0)
	}
	for _, name := range e.NoEvents {
		n := seen[name]
		add("no_events "+name, "not seen", fmt.Sprintf("seen %d times", n), n == 0)
	}
	if e.ExitCode != nil {
		got := res.Outcome.ExitCode()
		add("exit_code", strconv.Itoa(*e.ExitCode), strconv.Itoa(got), got == *e.ExitCode)
	}
	if e.MaxDuration > 0 {
		add("max_duration", "at most "+seconds(e.MaxDuration), seconds(res.Duration), res.Duration <= e.MaxDuration)
	}
	if e.MaxReread != nil {
		add("max_reread", fmt.Sprintf("at most %.2f of the packages", *e.MaxReread),
			fmt.Sprintf("%.2f (%d of %d bytes)", res.RereadRatio(), res.Reread, res.PackageBytes), res.RereadRatio() <= *e.MaxReread)
	}
	if e.MaxCycles > 0 {
		add("max_cycles", fmt.Sprintf("at most %d", e.MaxCycles), strconv.Itoa(res.Cycles), res.Cycles <= e.MaxCycles)
	}
	add("corrupt images reported good", "0", strconv.Itoa(len(res.Corrupt)), len(res.Corrupt) == 0)
}

// Failures returns the expectations that did not hold, in words: "result:
// want updated, got failed (...)".
func (r *Result) Failures() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, fmt.Sprintf("%s: want %s, got %s", c.Name, c.Want, c.Got))
		}
	}
	return out
}

// Err returns nil when the run passed, else an error naming every
// expectation that did not hold and the seed that replays the run.
func (r *Result) Err() error {
	if r.Passed() {
		return nil
	}
	return fmt.Errorf("scenario %s failed with seed %d: %s; replay with atota run %s --seed %d",
		r.Scenario, r.Seed, strings.Join(r.Failures(), "; "), cmp(r.File, r.Scenario), r.Seed)
}
