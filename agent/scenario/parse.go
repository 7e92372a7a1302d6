package scenario

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"
)

// maxFile is the largest scenario file read.
const maxFile = 1 << 20

// Load reads and checks the scenario file at path (YAML, or JSON for a
// .json file). Relative paths in it are read in its directory.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("scenario: %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, &SchemaError{File: path, Msg: fmt.Sprintf("larger than %d bytes; a scenario is a short file", maxFile)}
	}
	return Parse(path, data)
}

// Parse reads and checks a scenario from data. name is the file it came
// from: it picks the format (JSON for a name ending in .json, or data
// starting with '{'; YAML otherwise), names errors and sets the
// directory relative paths are read in. Every error is a *SchemaError
// naming the line and the field, several of them joined with
// errors.Join.
func Parse(name string, data []byte) (*Scenario, error) {
	var root *node
	var err error
	if strings.EqualFold(filepath.Ext(name), ".json") || strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		root, err = parseJSON(data)
	} else {
		root, err = parseYAML(data)
	}
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			return nil, &SchemaError{File: name, Line: se.line, Column: se.col, Msg: se.msg}
		}
		return nil, &SchemaError{File: name, Msg: err.Error()}
	}
	if root.kind != mapNode {
		return nil, &SchemaError{File: name, Line: root.line, Column: root.col, Msg: fmt.Sprintf("the document is %s; a scenario is a mapping of fields (name, module, mcu, link, faults, expect)", root.kind)}
	}
	sc := &Scenario{File: name, pos: positions{"": {root.line, root.col}}}
	if name != "" {
		sc.Dir = filepath.Dir(name)
	}
	d := &decoder{file: name, pos: sc.pos}
	if err := d.decodeStruct(root, "", reflect.ValueOf(sc).Elem()); err != nil {
		return nil, err
	}
	v := &validator{sc: sc, root: root}
	v.check()
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return sc, nil
}

// validator checks a decoded scenario and fills in its defaults.
type validator struct {
	sc   *Scenario
	root *node
	errs []error
}

// maxErrors bounds the errors reported at once.
const maxErrors = 10

func (v *validator) errorf(path, format string, args ...any) {
	if len(v.errs) >= maxErrors {
		return
	}
	w := v.sc.pos.at(path)
	v.errs = append(v.errs, &SchemaError{File: v.sc.File, Line: w.line, Column: w.col, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// node returns the node written at a path of plain keys and [i] indexes,
// or nil.
func (v *validator) node(path string) *node {
	n := v.root
	for part := range strings.SplitSeq(path, ".") {
		key, idx, hasIdx := strings.Cut(part, "[")
		if n == nil || n.kind != mapNode {
			return nil
		}
		n = n.get(key)
		if hasIdx {
			var i int
			fmt.Sscanf(idx, "%d]", &i)
			if n == nil || n.kind != listNode || i >= len(n.items) {
				return nil
			}
			n = n.items[i]
		}
	}
	return n
}

func (v *validator) check() {
	sc := v.sc
	if sc.Name == "" {
		base := filepath.Base(sc.File)
		sc.Name = strings.TrimSuffix(base, filepath.Ext(base))
		if sc.File == "" || sc.Name == "" || sc.Name == "." {
			sc.Name = "scenario"
		}
	}
	if sc.Timeout == 0 {
		sc.Timeout = DefaultTimeout
	}
	if sc.Module.Port != "" && sc.MCU.Port != "" {
		v.errorf("mcu.port", "module.port and mcu.port are both set: one end must be emulated")
	}
	v.checkModule()
	v.checkMCU()
	v.checkPackages()
	v.checkLink()
	for i := range sc.Faults {
		v.checkFault(i, &sc.Faults[i], v.node(fmt.Sprintf("faults[%d]", i)))
	}
	v.checkExpect()
}

// Defaults of a scenario.
const (
	DefaultTimeout    = 2 * time.Minute
	DefaultProduct    = "p1demo"
	DefaultPart       = "stm32f103cb"
	DefaultSize       = 16 << 10
	DefaultRetryDelay = 100 * time.Millisecond
	DefaultBaud       = 115200
)

func (v *validator) checkModule() {
	m := &v.sc.Module
	if m.Port != "" {
		for _, key := range []string{"product", "piece_size", "csq", "battery", "event_delay", "reg_delay", "plans_dir", "plans", "platform"} {
			if hasKey(v.node("module"), key) {
				v.errorf("module."+key, "not used with a real module (module.port): its plans come from its platform")
			}
		}
		return
	}
	if hasKey(v.node("module"), "baud") {
		v.errorf("module.baud", "baud goes with module.port (a real module on a serial device); the emulated link's rate is link.baud")
	}
	if m.Product == "" {
		m.Product = DefaultProduct
	}
	if m.PieceSize < 0 {
		v.errorf("module.piece_size", "%d: want 1 byte or more", m.PieceSize)
	}
	if m.CSQ != nil && (*m.CSQ < 0 || *m.CSQ > 31 && *m.CSQ != 99) {
		v.errorf("module.csq", "%d: want 0 to 31, or 99 for unknown", *m.CSQ)
	}
	if m.Battery != nil && (*m.Battery < 0 || *m.Battery > 100) {
		v.errorf("module.battery", "%d: want 0 to 100 percent", *m.Battery)
	}
	switch {
	case m.PlansDir != "" && len(m.Plans) > 0:
		v.errorf("module.plans_dir", "give plans or plans_dir, not both")
	case m.PlansDir == "" && len(m.Plans) == 0:
		v.errorf("module", "the emulated module needs plans: a list of plans (module.plans) or a plans directory (module.plans_dir)")
	case m.PlansDir != "" && !filepath.IsLocal(m.PlansDir):
		v.errorf("module.plans_dir", "%q leaves the scenario's directory; give a path inside it", m.PlansDir)
	}
	names := map[string]bool{}
	for i := range m.Plans {
		v.checkPlan(i, &m.Plans[i], names)
	}
}

func (v *validator) checkPlan(i int, p *PlanSpec, names map[string]bool) {
	path := fmt.Sprintf("module.plans[%d]", i)
	if p.Name == "" {
		p.Name = fmt.Sprintf("plan-%d", i+1)
	}
	if names[p.Name] {
		v.errorf(path+".name", "%q is the name of an earlier plan; plan names are unique", p.Name)
	}
	names[p.Name] = true
	switch p.Mode {
	case "":
		p.Mode = "silent"
	case "silent", "manual":
	default:
		v.errorf(path+".mode", "%q: want silent or manual", p.Mode)
	}
	if p.Mode == "manual" && len(p.Texts) == 0 {
		p.Texts = map[string]string{"en": "Update from scenario " + v.sc.Name}
	}
	if p.Window.Start == "" {
		p.Window.Start = "-1h"
	}
	if p.Window.End == "" {
		p.Window.End = "+24h"
	}
	base := time.Now().UTC().Truncate(time.Minute)
	start, err1 := windowTime(p.Window.Start, base)
	end, err2 := windowTime(p.Window.End, base)
	switch {
	case err1 != nil:
		v.errorf(path+".window.start", "%v", err1)
	case err2 != nil:
		v.errorf(path+".window.end", "%v", err2)
	case !end.After(start):
		v.errorf(path+".window.end", "%s is not after the start %s", p.Window.End, p.Window.Start)
	}
	if p.Strategy.Retries < 0 {
		v.errorf(path+".strategy.retries", "%d: want 0 or more", p.Strategy.Retries)
	}
	if len(p.Components) == 0 {
		v.errorf(path+".components", "a plan needs at least one component")
	}
	ids := map[string]bool{}
	for j := range p.Components {
		c := &p.Components[j]
		cpath := fmt.Sprintf("%s.components[%d]", path, j)
		switch {
		case c.ID == "":
			v.errorf(cpath+".id", "missing: the component as the MCU reports it (AT+QIOTMCUVER)")
		case ids[c.ID]:
			v.errorf(cpath+".id", "%q is listed twice in the plan", c.ID)
		}
		ids[c.ID] = true
		if c.TargetVersion == "" {
			v.errorf(cpath+".target_version", "missing: the version the update brings")
		}
		if c.Size == 0 {
			c.Size = DefaultSize
		}
		if c.Size < 0 || c.Size > maxPackage {
			v.errorf(cpath+".size", "%d: want 1 byte to %d MiB", c.Size, maxPackage>>20)
		}
		switch c.Package {
		case "":
			c.Package = PackageRaw
		case PackageRaw, PackageFull, PackageDelta:
		default:
			v.errorf(cpath+".package", "%q: want raw (the image itself), full (an atota package of the image) or delta (an atota package from the image the MCU runs)", c.Package)
		}
		if c.Sign && c.Package == PackageRaw {
			v.errorf(cpath+".sign", "a raw image carries no signature; sign goes with package: full or delta")
		}
	}
}

// checkPackages checks the plan components' packages against the MCU,
// and each plan against the plan rules, once both are known.
func (v *validator) checkPackages() {
	sc := v.sc
	m := &sc.MCU
	switch m.VerifyKey {
	case "", VerifyScenario, VerifyWrong:
	default:
		v.errorf("mcu.verify_key", "%q: want %s (the key the run signs packages with, sign: true) or %s (a key that signed nothing: every update is refused)", m.VerifyKey, VerifyScenario, VerifyWrong)
	}
	for i := range sc.Module.Plans {
		p := &sc.Module.Plans[i]
		for j := range p.Components {
			c := &p.Components[j]
			if c.Package != PackageDelta {
				continue
			}
			cpath := fmt.Sprintf("module.plans[%d].components[%d]", i, j)
			switch {
			case m.Port != "":
				v.errorf(cpath+".package", "a delta applies to the image the emulated MCU runs; an external MCU's image is not known here (mcu.port): use raw or full")
			case len(m.Components) == 0 || m.Components[0].ID != c.ID:
				v.errorf(cpath+".package", "a delta applies to the image the MCU's flash runs, that of the first of mcu.components (%s), not %s", cmp(firstID(m.Components), "none"), c.ID)
			case m.Components[0].Version == c.TargetVersion:
				v.errorf(cpath+".target_version", "%s is the version the MCU runs already; a delta brings another", c.TargetVersion)
			}
		}
	}
	if len(v.errs) > 0 {
		return
	}
	base := time.Now().UTC().Truncate(time.Minute)
	for i := range sc.Module.Plans {
		if err := checkPlanDoc(&sc.Module.Plans[i], mcuVersions(sc), base); err != nil {
			v.errorf(fmt.Sprintf("module.plans[%d]", i), "%v", err)
		}
	}
}

// firstID returns the ID of the first component, "" for none.
func firstID(cs []ComponentVersion) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[0].ID
}

// maxPackage is the largest package a scenario generates.
const maxPackage = 64 << 20

// windowTime reads a window end: "YYYY-MM-DD hh:mm" (UTC), or an offset
// from base such as "-1h" or "+30m".
func windowTime(s string, base time.Time) (time.Time, error) {
	if s[0] == '+' || s[0] == '-' {
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: want an offset from the run's start such as -1h or +30m, or a time YYYY-MM-DD hh:mm", s)
		}
		return base.Add(d), nil
	}
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a time YYYY-MM-DD hh:mm (UTC), or an offset from the run's start such as -1h or +30m", s)
	}
	return t, nil
}

func (v *validator) checkMCU() {
	m := &v.sc.MCU
	n := v.node("mcu")
	if m.Port != "" {
		for _, key := range []string{"part", "battery", "sha256", "block", "timeouts", "attempts", "retry_delay", "verify_key"} {
			if hasKey(n, key) {
				v.errorf("mcu."+key, "not used with an external MCU (mcu.port)")
			}
		}
	} else {
		for _, key := range []string{"baud", "reset_command", "power_off_command", "power_on_command"} {
			if hasKey(n, key) {
				v.errorf("mcu."+key, "goes with an external MCU (mcu.port); the emulated MCU is reset and cut by the faults themselves")
			}
		}
	}
	if len(m.Components) == 0 && m.Port == "" {
		m.Components = []ComponentVersion{{ID: "STM32", Version: "1_0_0"}}
	}
	ids := map[string]bool{}
	for i, c := range m.Components {
		path := fmt.Sprintf("mcu.components[%d]", i)
		switch {
		case c.ID == "" || strings.ContainsAny(c.ID, "\"\r\n,"):
			v.errorf(path+".id", "%q: want a component ID without quotes, commas or line ends", c.ID)
		case ids[c.ID]:
			v.errorf(path+".id", "%q is listed twice", c.ID)
		}
		ids[c.ID] = true
		if c.Version == "" || strings.ContainsAny(c.Version, "\"\r\n,") {
			v.errorf(path+".version", "%q: want a version without quotes, commas or line ends", c.Version)
		}
	}
	if m.Port != "" {
		return
	}
	if m.Part == "" {
		m.Part = DefaultPart
	}
	if err := checkPart(m.Part); err != nil {
		v.errorf("mcu.part", "%v", err)
	}
	if m.Battery != nil && (*m.Battery < 0 || *m.Battery > 100) {
		v.errorf("mcu.battery", "%d: want 0 to 100 percent", *m.Battery)
	}
	if m.Block == 0 {
		m.Block = 1024
	}
	if m.Block < 1 || m.Block > 1024 {
		v.errorf("mcu.block", "%d: want 1 to 1024 bytes", m.Block)
	}
	if m.Attempts < 0 {
		v.errorf("mcu.attempts", "%d: want 1 or more", m.Attempts)
	}
	if m.RetryDelay == nil {
		d := DefaultRetryDelay
		m.RetryDelay = &d
	}
	t := &m.Timeouts
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&t.Command, time.Second}, {&t.Read, 3 * time.Second}, {&t.Payload, 10 * time.Second}, {&t.Register, 10 * time.Second}, {&t.Plan, 2 * time.Second}, {&t.Event, 5 * time.Second}} {
		if *d.p == 0 {
			*d.p = d.def
		}
	}
}

func (v *validator) checkLink() {
	l := &v.sc.Link
	if !hasKey(v.node("link"), "baud") {
		l.Baud = DefaultBaud
	}
	if l.Baud < 0 {
		v.errorf("link.baud", "%d: want a rate such as 115200, or 0 for a link with no rate", l.Baud)
	}
	if l.Pace && l.Baud == 0 {
		v.errorf("link.pace", "pacing needs a baud rate (link.baud)")
	}
}

// Outcomes a scenario can expect (see Outcome).
var outcomes = []string{string(Updated), string(Refused), string(Failed), string(NoPlan)}

func (v *validator) checkExpect() {
	e := &v.sc.Expect
	if e.Result != "" && !slices.Contains(outcomes, e.Result) {
		v.errorf("expect.result", "%q: want one of %s", e.Result, strings.Join(outcomes, ", "))
	}
	if e.ExitCode != nil {
		switch {
		case *e.ExitCode != 0 && *e.ExitCode != 1 && *e.ExitCode != 3:
			v.errorf("expect.exit_code", "%d: want 0 (updated or nothing to do), 1 (failed) or 3 (refused by policy)", *e.ExitCode)
		case v.sc.MCU.Port != "":
			v.errorf("expect.exit_code", "an external MCU's exit code is not known here; expect result or versions instead")
		}
	}
	for comp := range e.Versions {
		if v.sc.MCU.Port == "" && !slices.ContainsFunc(v.sc.MCU.Components, func(c ComponentVersion) bool { return c.ID == comp }) {
			v.errorf("expect.versions."+comp, "%q is not one of mcu.components", comp)
		}
	}
	for _, list := range []struct {
		name  string
		names []string
	}{{"events", e.Events}, {"no_events", e.NoEvents}} {
		for i, name := range list.names {
			if !validEventName(name) && !strings.Contains(name, ":") {
				v.errorf(fmt.Sprintf("expect.%s[%d]", list.name, i), "%q: want an event such as 7,10705, fault:mcu_reset or cycle:verify_failed", name)
			}
		}
	}
	if e.MaxReread != nil && *e.MaxReread < 0 {
		v.errorf("expect.max_reread", "%v: want 0 or more", *e.MaxReread)
	}
	if e.MaxCycles < 0 {
		v.errorf("expect.max_cycles", "%d: want 1 or more", e.MaxCycles)
	}
}
