package plan

import (
	"fmt"
	"strconv"
	"time"
)

// Device is what eligibility looks at: the module's product key, the
// device key, the current version of each component, keyed by component
// ID (for a module component, the module firmware version under that
// component's ID; a missing entry counts as no version), and the number of
// failed attempts at this plan so far.
type Device struct {
	Product  string
	Key      string
	Versions map[string]string
	Failures int
}

// InWindow reports whether now is inside the plan's window: at or after
// Start and before End.
func (p *Plan) InWindow(now time.Time) bool {
	return !now.Before(p.Window.Start) && now.Before(p.Window.End)
}

// InPushPeriod reports whether now is inside the plan's push period, read
// as whole hours of the wall clock in the plan's time zone; a period that
// wraps midnight (22 to 2) covers 22:00 to 01:59. A plan without a push
// period pushes all day.
func (p *Plan) InPushPeriod(now time.Time) bool {
	pp := p.PushPeriod
	if pp == nil || pp.From == 0 && pp.To == 24 {
		return true
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	h := now.In(loc).Hour()
	from, to := pp.From%24, pp.To%24
	if from < to {
		return from <= h && h < to
	}
	return h >= from || h < to
}

// Next returns the index in p.Components of the component the device
// should upgrade now, applying the rules of spec/plan-format.md
// ("Eligibility, in order"). When there is none, it returns -1 and a
// [*NotEligible] wrapping the reason: [ErrNotActivated], [ErrOtherProduct],
// [ErrBeforeWindow], [ErrAfterWindow], [ErrBlacklisted],
// [ErrNotWhitelisted], [ErrSourceMismatch], [ErrNotSpecified],
// [ErrRetriesUsedUp] or [ErrDone] when every component is at its target
// version.
func (p *Plan) Next(now time.Time, d Device) (int, error) {
	no := func(reason error, comp int, format string, args ...any) (int, error) {
		return -1, &NotEligible{Plan: p.Name, Device: d.Key, Reason: reason, Component: comp, Detail: fmt.Sprintf(format, args...)}
	}
	// 1. State, product, window.
	switch {
	case p.State != Activated:
		return no(ErrNotActivated, -1, "state is %s", p.State)
	case p.Product != d.Product:
		return no(ErrOtherProduct, -1, "plan is for product %q, device is of %q", p.Product, d.Product)
	case now.Before(p.Window.Start):
		return no(ErrBeforeWindow, -1, "window starts %s %s", formatWallTime(p.Window.Start, p.Location), p.Timezone)
	case !now.Before(p.Window.End):
		return no(ErrAfterWindow, -1, "window ended %s %s", formatWallTime(p.Window.End, p.Location), p.Timezone)
	}
	// 2. Blacklist, then whitelist (blacklist wins).
	if contains(p.Blacklist, d.Key) {
		return no(ErrBlacklisted, -1, "device key is in the blacklist")
	}
	if len(p.Whitelist) > 0 && !contains(p.Whitelist, d.Key) {
		return no(ErrNotWhitelisted, -1, "device key is not in the whitelist")
	}
	// 3. The first component not yet at its target version.
	next := -1
	for i, c := range p.Components {
		v, reported := d.Versions[c.ID]
		switch {
		case reported && v == c.TargetVersion:
			continue
		case c.Package == Delta && (!reported || v != c.SourceVersion):
			return no(ErrSourceMismatch, i, "component %s reports %s, the delta applies to %q", c.ID, version(v, reported), c.SourceVersion)
		case c.SpecifiedVersions != nil && (!reported || !contains(c.SpecifiedVersions, v)):
			return no(ErrNotSpecified, i, "component %s reports %s, specified_versions are %q", c.ID, version(v, reported), c.SpecifiedVersions)
		}
		next = i
		break
	}
	if next < 0 {
		return no(ErrDone, -1, "%d components at target version", len(p.Components))
	}
	// 4. Failed attempts beyond the retries.
	if d.Failures > p.Strategy.Retries {
		return no(ErrRetriesUsedUp, next, "%d failed attempts, strategy.retries is %d", d.Failures, p.Strategy.Retries)
	}
	return next, nil
}

func version(v string, reported bool) string {
	if !reported {
		return "no version"
	}
	return "version " + strconv.Quote(v)
}
