package plan

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of spec/plan-format.md; those marked (ours) are our choices.
const (
	maxNameLen           = 100
	maxSpecifiedVersions = 8
	minRejectionMinutes  = 10
	maxRejectionMinutes  = 1440
	minSignalDBm         = -113 // (ours) the range CSQ can express: -113 + 2·rssi, rssi 0..31
	maxSignalDBm         = -51
)

// Validate checks every value rule of spec/plan-format.md on p, as
// [Parse] does after decoding, and returns nil or an error holding one
// [*Error] per broken rule (see Parse). It is for plans built in code;
// p.Location must be set (see [LoadZone]).
func (p *Plan) Validate() error {
	return join(p.validate())
}

func (p *Plan) validate() []*Error {
	c := &checker{file: p.Source}
	if n := utf8.RuneCountInString(p.Name); n < 1 || n > maxNameLen {
		c.add("name", "%d characters, must be 1 to %d", n, maxNameLen)
	}
	if p.Product == "" {
		c.add("product", "must not be empty: name the product key the plan is for")
	}
	switch p.State {
	case Saved, Activated, Ended:
	default:
		c.add("state", "%q is not one of %q, %q, %q", p.State, Saved, Activated, Ended)
	}
	c.deviceKeys("blacklist", p.Blacklist)
	c.deviceKeys("whitelist", p.Whitelist)
	switch {
	case p.Timezone == "":
		c.add("timezone", "required: %s", "use an IANA name such as \"Asia/Shanghai\" or a fixed offset such as \"+08:00\"")
	default:
		if _, rule := loadZone(p.Timezone); rule != "" {
			c.add("timezone", "%s", rule)
		} else if p.Location == nil {
			c.add("timezone", "Plan.Location is nil: set it with LoadZone(%q)", p.Timezone)
		}
	}
	c.window(p)
	if pp := p.PushPeriod; pp != nil {
		c.period(pp)
	}
	switch p.Mode {
	case Silent, Manual:
	default:
		c.add("mode", "%q is not one of %q, %q", p.Mode, Silent, Manual)
	}
	if len(p.AutoConfirm) > 0 && p.Mode != Manual {
		c.add("auto_confirm", "only for mode %q, this plan is %q", Manual, p.Mode)
	}
	c.deviceKeys("auto_confirm", p.AutoConfirm)
	if r := p.RejectionMinutes; r < minRejectionMinutes || r > maxRejectionMinutes {
		c.add("rejection_minutes", "%d, must be %d to %d", r, minRejectionMinutes, maxRejectionMinutes)
	}
	c.strategy(&p.Strategy)
	if len(p.Components) == 0 {
		c.add("components", "at least one component needed")
	}
	for i := range p.Components {
		c.component(p.Components, i)
	}
	c.texts(p)
	return c.errs
}

func (c *checker) deviceKeys(field string, keys []string) {
	for i, k := range keys {
		if k == "" {
			c.add(index(field, i), "empty device key")
		}
	}
}

func (c *checker) window(p *Plan) {
	w := p.Window
	if w.Start.IsZero() {
		c.add("window.start", "required")
	}
	if w.End.IsZero() {
		c.add("window.end", "required")
	}
	if !w.Start.IsZero() && !w.End.IsZero() && !w.End.After(w.Start) {
		c.add("window.end", "%s is not after window.start %s",
			formatWallTime(w.End, p.Location), formatWallTime(w.Start, p.Location))
	}
}

func (c *checker) period(pp *Period) {
	ok := true
	if pp.From < 0 || pp.From > 24 {
		c.add("push_period.from", "%d, must be a whole hour 0 to 24", pp.From)
		ok = false
	}
	if pp.To < 0 || pp.To > 24 {
		c.add("push_period.to", "%d, must be a whole hour 0 to 24", pp.To)
		ok = false
	}
	if ok && pp.From%24 == pp.To%24 && !(pp.From == 0 && pp.To == 24) {
		c.add("push_period.to", "%d must be at least one hour after from %d (0 to 24 is the whole day; leave push_period out for that)", pp.To, pp.From)
	}
}

func (c *checker) strategy(s *Strategy) {
	if s.Retries < 0 {
		c.add("strategy.retries", "%d, must be 0 or more", s.Retries)
	}
	if v := s.MinSignalDBm; v != nil && (*v < minSignalDBm || *v > maxSignalDBm) {
		c.add("strategy.min_signal_dbm", "%d dBm, must be %d to %d (what CSQ can report; %d means no limit)",
			*v, minSignalDBm, maxSignalDBm, minSignalDBm)
	}
	if v := s.MinBattery; v != nil && (*v < 0 || *v > 100) {
		c.add("strategy.min_battery", "%d%%, must be 0 to 100", *v)
	}
}

func (c *checker) component(all []Component, i int) {
	at := index("components", i)
	co := all[i]
	switch co.Type {
	case MCU, Module:
	default:
		c.add(at+".type", "%q is not one of %q, %q", co.Type, MCU, Module)
	}
	c.eventString(at+".id", co.ID)
	if j := slices.IndexFunc(all[:i], func(o Component) bool { return o.ID == co.ID }); j >= 0 && co.ID != "" {
		c.add(at+".id", "%q is already the id of components[%d]; ids must be unique within a plan", co.ID, j)
	}
	c.eventString(at+".target_version", co.TargetVersion)
	switch co.Package {
	case Full:
		if co.SourceVersion != "" {
			c.add(at+".source_version", "only for package %q; a full package applies to any version (use specified_versions to restrict)", Delta)
		}
		c.specified(at+".specified_versions", co.SpecifiedVersions)
	case Delta:
		switch {
		case co.SourceVersion == "":
			c.add(at+".source_version", "required for package %q: the version the delta applies to", Delta)
		case co.SourceVersion == co.TargetVersion:
			c.add(at+".source_version", "%q equals target_version", co.SourceVersion)
		default:
			c.eventString(at+".source_version", co.SourceVersion)
		}
		if co.SpecifiedVersions != nil {
			c.add(at+".specified_versions", "only for package %q; a delta applies to source_version only", Full)
		}
	default:
		c.add(at+".package", "%q is not one of %q, %q", co.Package, Full, Delta)
	}
	switch f := filepath.FromSlash(co.File); {
	case co.File == "":
		c.add(at+".file", "required: the package file, relative to the plans directory")
	case filepath.IsAbs(f) || strings.HasPrefix(co.File, "/"):
		c.add(at+".file", "%q is absolute: write a path relative to the plans directory", co.File)
	case !filepath.IsLocal(f):
		c.add(at+".file", "%q leaves the plans directory: write a path inside it, without climbing out with \"..\"", co.File)
	}
}

// eventString checks a value that is sent quoted in a +QIOTEVT event.
func (c *checker) eventString(field, s string) {
	if s == "" {
		c.add(field, "must not be empty")
		return
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r == '"' || r == ',' || r < 0x20 || r == 0x7f }); i >= 0 {
		c.add(field, "%q contains %q: it is sent quoted in +QIOTEVT events, so '\"', ',' and control characters are not allowed", s, s[i:i+1])
	}
}

func (c *checker) specified(field string, vs []string) {
	switch {
	case vs == nil:
		return
	case len(vs) == 0:
		c.add(field, "empty list: leave the field out to allow any version")
	case len(vs) > maxSpecifiedVersions:
		c.add(field, "%d versions, at most %d", len(vs), maxSpecifiedVersions)
	}
	for i, v := range vs {
		at := index(field, i)
		switch {
		case v == "":
			c.add(at, "empty version")
		case strings.Contains(v, ";"):
			c.add(at, "%q contains ';': write each version as its own list entry", v)
		default:
			if j := strings.IndexFunc(v, func(r rune) bool { return !versionRune(r) }); j >= 0 {
				r, _ := utf8.DecodeRuneInString(v[j:])
				c.add(at, "%q contains %q: only letters, digits, '_', '-' and '.' are allowed", v, r)
			}
		}
	}
}

func versionRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
}

func (c *checker) texts(p *Plan) {
	for _, k := range sortedKeys(p.Texts) {
		switch {
		case k == "":
			c.add("texts", "empty language name")
		case p.Texts[k] == "":
			c.add(path("texts", k), "empty text")
		}
	}
	if p.Mode == Manual && p.Texts["en"] == "" && p.Texts["zh"] == "" {
		c.add("texts", "a manual plan needs an \"en\" or \"zh\" upgrade text")
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// String returns the period as "22-2".
func (pp Period) String() string { return fmt.Sprintf("%d-%d", pp.From, pp.To) }
