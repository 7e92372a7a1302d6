package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Fault types.
const (
	FaultFlips         = "flips"          // random bit flips at Rate per byte
	FaultDrops         = "drops"          // random lost bytes at Rate per byte
	FaultDelay         = "delay"          // each write held back Delay plus up to Jitter
	FaultSplit         = "split"          // bytes passed on one at a time
	FaultLinkLoss      = "link_loss"      // nothing gets through for For
	FaultURCStorm      = "urc_storm"      // Count unsolicited lines from the module
	FaultModuleReboot  = "module_reboot"  // the module reboots and is off for Down
	FaultMCUReset      = "mcu_reset"      // the MCU resets (emulated, or ResetCommand)
	FaultPowerCut      = "power_cut"      // the MCU's power fails at flash operation Op (or every Every)
	FaultCorruptBlock  = "corrupt_block"  // one byte of an AT+QIOTOTARD payload flipped
	FaultClock         = "clock"          // the module's clock jumps Advance ahead
	FaultBattery       = "battery"        // the MCU's battery changes to Percent
	FaultSignal        = "signal"         // the module's signal changes to CSQ
	FaultConfirm       = "confirm"        // the user confirms a manual plan in the app
	FaultDownloadCut   = "download_cut"   // the platform's package server cuts Count responses After bytes
	FaultDownloadRate  = "download_rate"  // the platform's package server sends BytesPerSecond
	FaultBrokerRestart = "broker_restart" // the platform's MQTT broker is down for Down
	FaultRandom        = "random"         // Count faults drawn from Pool by the seed
)

// faultKind describes what a fault type takes and needs.
type faultKind struct {
	fields  []string // fields it takes besides type and at
	lasting bool     // takes "for"
	// needs names an end that must be emulated: "module" or "mcu"; ""
	// for none.
	needs string
	// platform is set for the faults of the module's platform: they
	// imply module.platform.
	platform bool
	// unsupported, when set, says why the fault cannot run yet.
	unsupported string
}

var faultKinds = map[string]faultKind{
	FaultFlips:         {fields: []string{"rate", "direction"}, lasting: true},
	FaultDrops:         {fields: []string{"rate", "direction"}, lasting: true},
	FaultDelay:         {fields: []string{"delay", "jitter", "direction"}, lasting: true},
	FaultSplit:         {fields: []string{"direction"}, lasting: true},
	FaultLinkLoss:      {lasting: true},
	FaultURCStorm:      {fields: []string{"count", "interval", "lines"}, needs: "module"},
	FaultModuleReboot:  {fields: []string{"down"}, needs: "module"},
	FaultMCUReset:      {},
	FaultPowerCut:      {fields: []string{"op", "every", "down"}},
	FaultCorruptBlock:  {fields: []string{"block", "offset", "component", "repeat"}},
	FaultClock:         {fields: []string{"advance"}, needs: "module"},
	FaultBattery:       {fields: []string{"percent"}, needs: "mcu"},
	FaultSignal:        {fields: []string{"csq"}, lasting: true, needs: "module"},
	FaultConfirm:       {needs: "module"},
	FaultDownloadCut:   {fields: []string{"after", "count"}, needs: "module", platform: true},
	FaultDownloadRate:  {fields: []string{"bytes_per_second"}, lasting: true, needs: "module", platform: true},
	FaultBrokerRestart: {fields: []string{"down"}, needs: "module", platform: true},
	FaultRandom:        {fields: []string{"count", "pool"}},
}

// FaultTypes returns the fault types a scenario may name, sorted.
func FaultTypes() []string {
	var names []string
	for name := range faultKinds {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// randomPool is what a random fault draws from by default: every fault
// an emulated module and MCU support that the plan can recover from.
var randomPool = []string{
	FaultFlips, FaultDrops, FaultDelay, FaultSplit, FaultLinkLoss, FaultURCStorm,
	FaultModuleReboot, FaultMCUReset, FaultPowerCut, FaultCorruptBlock,
}

// Directions of link faults.
const (
	ToMCU    = "to_mcu"
	ToModule = "to_module"
	Both     = "both"
)

// ErrUnsupported is wrapped by the error of a scenario that asks for
// something this build cannot do yet.
var ErrUnsupported = errors.New("not supported yet")

// checkFault checks fault i, as written at n.
func (v *validator) checkFault(i int, f *Fault, n *node) {
	path := fmt.Sprintf("faults[%d]", i)
	kind, ok := faultKinds[f.Type]
	switch {
	case f.Type == "":
		v.errorf(path, "no type; want one of %s", strings.Join(FaultTypes(), ", "))
		return
	case !ok:
		v.errorf(path+".type", "%q is not a fault type; want one of %s", f.Type, strings.Join(FaultTypes(), ", "))
		return
	}
	allowed := append([]string{"type", "at"}, kind.fields...)
	if kind.lasting {
		allowed = append(allowed, "for")
	}
	for _, key := range keysOf(n) {
		if !slices.Contains(allowed, key) {
			v.errorf(path+"."+key, "a %s fault does not take %s; it takes %s", f.Type, key, strings.Join(allowed, ", "))
		}
	}
	v.checkTrigger(path+".at", f.At)
	switch f.Direction {
	case "":
		f.Direction = Both
	case ToMCU, ToModule, Both:
	default:
		v.errorf(path+".direction", "%q: want to_mcu, to_module or both", f.Direction)
	}
	switch f.Type {
	case FaultFlips, FaultDrops:
		if !(f.Rate > 0 && f.Rate <= 1) {
			v.errorf(path+".rate", "%v: want a chance per byte above 0 and at most 1, such as 0.0001", f.Rate)
		}
	case FaultDelay:
		if f.Delay == 0 && f.Jitter == 0 {
			v.errorf(path+".delay", "a delay fault needs delay or jitter, such as 20ms")
		}
	case FaultLinkLoss:
		if f.For <= 0 {
			v.errorf(path+".for", "a link_loss fault needs how long the link stays down, such as 2s")
		}
	case FaultURCStorm:
		if f.Count < 0 {
			v.errorf(path+".count", "%d: want 1 or more lines", f.Count)
		}
		if f.Count == 0 {
			f.Count = 50
		}
		for j, l := range f.Lines {
			if l == "" || strings.ContainsAny(l, "\r\n") {
				v.errorf(fmt.Sprintf("%s.lines[%d]", path, j), "%q: want one non-empty line", l)
			}
		}
	case FaultPowerCut:
		switch {
		case f.Op < 0 || f.Every < 0:
			v.errorf(path, "op %d, every %d: cannot be negative", f.Op, f.Every)
		case f.Op > 0 && f.Every > 0:
			v.errorf(path+".every", "give op or every, not both")
		case (f.Op > 0 || f.Every > 0) && v.sc.MCU.Port != "":
			v.errorf(path, "op and every count the flash operations of the emulated MCU; an external MCU (mcu.port) can only be cut at a time: remove them and use at")
		case f.Op == 0 && f.Every == 0 && v.sc.MCU.Port == "":
			v.errorf(path, "a power_cut of the emulated MCU needs op (the flash operation cut) or every (cycle k is cut at operation k*every)")
		case v.sc.MCU.Port != "" && (v.sc.MCU.PowerOffCommand == "" || v.sc.MCU.PowerOnCommand == ""):
			v.errorf(path, "a power_cut of an external MCU needs mcu.power_off_command and mcu.power_on_command")
		case v.sc.MCU.Port == "" && (f.At.Time > 0 || f.At.Bytes > 0 || f.At.Event != ""):
			v.errorf(path+".at", "a power_cut of the emulated MCU starts with an update cycle (at: {cycle: N}, or from the first): op and every count the flash operations from there")
		case v.sc.MCU.Port == "" && hasKey(n, "down"):
			v.errorf(path+".down", "the emulated MCU restarts after retry_delay; down is for an external MCU's power commands")
		}
	case FaultCorruptBlock:
		switch {
		case f.Block < 0:
			v.errorf(path+".block", "%d: want the n-th AT+QIOTOTARD answer, 1 or more", f.Block)
		case f.Block > 0 && f.Offset != nil:
			v.errorf(path+".offset", "give block or offset, not both")
		case f.Block == 0 && f.Offset == nil:
			f.Block = 1
		}
	case FaultClock:
		if f.Advance <= 0 {
			v.errorf(path+".advance", "a clock fault needs how far the clock jumps, such as 2h")
		}
	case FaultBattery:
		if f.Percent == nil || *f.Percent < 0 || *f.Percent > 100 {
			v.errorf(path+".percent", "a battery fault needs the new level, 0 to 100")
		}
	case FaultSignal:
		if f.CSQ == nil || *f.CSQ < 0 || *f.CSQ > 31 && *f.CSQ != 99 {
			v.errorf(path+".csq", "a signal fault needs the new AT+CSQ rssi, 0 to 31 or 99")
		}
	case FaultMCUReset:
		if v.sc.MCU.Port != "" && v.sc.MCU.ResetCommand == "" {
			v.errorf(path, "an mcu_reset of an external MCU needs mcu.reset_command")
		}
	case FaultDownloadCut:
		if f.Count < 0 {
			v.errorf(path+".count", "%d: want 1 or more responses cut", f.Count)
		}
		if f.Count == 0 {
			f.Count = 1
		}
	case FaultDownloadRate:
		if f.BytesPerSecond <= 0 {
			v.errorf(path+".bytes_per_second", "a download_rate fault needs the package server's rate, such as 50")
		}
	case FaultRandom:
		if f.Count < 0 {
			v.errorf(path+".count", "%d: want 1 or more faults", f.Count)
		}
		if f.Count == 0 {
			f.Count = 2
		}
		for j, t := range f.Pool {
			if !slices.Contains(randomPool, t) {
				v.errorf(fmt.Sprintf("%s.pool[%d]", path, j), "%q cannot be drawn at random; want some of %s", t, strings.Join(randomPool, ", "))
			}
		}
	}
	if f.Component != "" && !slices.ContainsFunc(v.sc.MCU.Components, func(c ComponentVersion) bool { return c.ID == f.Component }) && v.sc.MCU.Port == "" {
		v.errorf(path+".component", "%q is not one of mcu.components", f.Component)
	}
	if kind.platform && v.sc.Module.Port == "" {
		if !v.sc.Module.Platform && hasKey(v.node("module"), "platform") {
			v.errorf(path+".type", "a %s fault needs the module's platform; this scenario sets module.platform: false", f.Type)
		}
		v.sc.Module.Platform = true
	}
	switch {
	case kind.needs == "module" && v.sc.Module.Port != "":
		v.errorf(path+".type", "a %s fault needs the emulated module; this scenario uses a real one (module.port)", f.Type)
	case kind.needs == "mcu" && v.sc.MCU.Port != "":
		v.errorf(path+".type", "a %s fault needs the emulated MCU; this scenario uses an external one (mcu.port)", f.Type)
	}
}

// unsupported returns an error for the first fault this build cannot run
// yet, naming where it was written; nil when every fault can run.
func (sc *Scenario) unsupported() error {
	for i, f := range sc.Faults {
		if why := faultKinds[f.Type].unsupported; why != "" {
			path := fmt.Sprintf("faults[%d]", i)
			w := sc.pos.at(path)
			return &SchemaError{File: sc.File, Line: w.line, Column: w.col, Field: path,
				Msg: fmt.Sprintf("%s faults are %v: %s; remove the fault to run the rest", f.Type, ErrUnsupported, why), Err: ErrUnsupported}
		}
	}
	return nil
}

// checkTrigger checks a trigger at path.
func (v *validator) checkTrigger(path string, t Trigger) {
	if t.Event != "" && !validEventName(t.Event) {
		v.errorf(path+".event", "%q: want an event as type,code, such as 7,10703", t.Event)
	}
	if t.Count < 0 || t.Count > 0 && t.Event == "" {
		v.errorf(path+".count", "count goes with event: the count-th time the event is sent (1 or more)")
	}
	if t.Cycle < 0 {
		v.errorf(path+".cycle", "%d: want the n-th update cycle, 1 or more", t.Cycle)
	}
	if t.Cycle > 0 && v.sc.MCU.Port != "" {
		v.errorf(path+".cycle", "cycles are counted for the emulated MCU only")
	}
}

// validEventName reports whether s is "type,code" with two numbers.
func validEventName(s string) bool {
	a, b, ok := strings.Cut(s, ",")
	return ok && isDigits(a) && isDigits(b)
}

func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
