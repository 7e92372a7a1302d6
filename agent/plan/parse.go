package plan

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxSize is the largest plan file Parse accepts, in bytes.
const MaxSize = 1 << 20

// Field names, in the order of spec/plan-format.md.
var (
	planFields = []string{
		"name", "product", "state", "blacklist", "whitelist", "timezone", "window",
		"push_period", "mode", "auto_confirm", "push_actively", "rejection_minutes",
		"strategy", "components", "texts",
	}
	windowFields     = []string{"start", "end"}
	periodFields     = []string{"from", "to"}
	strategyFields   = []string{"retries", "min_signal_dbm", "min_battery"}
	componentFields  = []string{"type", "id", "package", "target_version", "source_version", "specified_versions", "file"}
	utf8BOM          = []byte{0xEF, 0xBB, 0xBF}
	windowTimeLayout = "2006-01-02 15:04"
)

// Parse decodes and validates one plan document. source names the document
// in errors (usually its file path, such as "plans/x.json").
//
// On success the plan has its defaults filled in (state activated, push
// actively, rejection window 120 minutes) and Source set; Dir is left
// empty. Otherwise Parse returns a nil plan and an error holding one
// [*Error] per broken rule: the *Error itself when there is one, else an
// errors.Join of them (at most 25, the last one saying how many more there
// were). Decoding errors (unknown fields, fields given twice, missing
// fields, values of the wrong JSON type) come first, in document order,
// then broken value rules in the order of the specification. [Errors]
// lists them; errors.As finds the first. A JSON syntax error is reported
// alone, with its line and column.
func Parse(source string, data []byte) (*Plan, error) {
	if len(data) > MaxSize {
		return nil, &Error{File: source, Rule: fmt.Sprintf("file is %d bytes, at most %d", len(data), MaxSize)}
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	root, serr := decodeTree(data)
	if serr != nil {
		line, col := lineCol(data, serr.off)
		return nil, &Error{File: source, Line: line, Column: col, Rule: "invalid JSON: " + strings.TrimPrefix(serr.msg, "json: ")}
	}
	d := &decoder{checker: checker{file: source}}
	p := d.plan(root)
	if p == nil {
		return nil, join(d.errs)
	}
	p.Source = source
	for _, e := range p.validate() {
		if !d.covers(e.Field) {
			d.errs = append(d.errs, e)
		}
	}
	if len(d.errs) > 0 {
		return nil, join(d.errs)
	}
	return p, nil
}

// UnmarshalJSON parses data with [Parse], keeping p.Source as the source
// name, so a plan embedded in a larger JSON message gets the same checks.
func (p *Plan) UnmarshalJSON(data []byte) error {
	q, err := Parse(p.Source, data)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// checker collects broken rules.
type checker struct {
	file string
	errs []*Error
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Field: field, Rule: fmt.Sprintf(format, args...)})
}

// covers reports whether an error was already recorded for field or for a
// field that contains it, so validation does not repeat a decoding error.
func (c *checker) covers(field string) bool {
	for _, e := range c.errs {
		if e.Field == field || e.Field == "" ||
			strings.HasPrefix(field, e.Field+".") || strings.HasPrefix(field, e.Field+"[") {
			return true
		}
	}
	return false
}

// decoder turns the JSON tree into a Plan, recording type errors, unknown
// and duplicate fields and missing required fields. Value rules are left
// to Plan.validate.
type decoder struct {
	checker
}

// path joins a field path and a key.
func path(parent, key string) string {
	ident := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			ident = false
			break
		}
	}
	switch {
	case !ident:
		return parent + "[" + strconv.Quote(key) + "]"
	case parent == "":
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// object checks that n is an object with only known fields; nil known
// allows any field.
func (d *decoder) object(n *node, at string, known []string) bool {
	if n.kind != kindObject {
		d.typeError(at, "an object", n)
		return false
	}
	for _, k := range n.dups {
		d.add(path(at, k), "given more than once")
	}
	for _, k := range n.keys {
		if known != nil && !contains(known, k) {
			d.add(path(at, k), "%s", unknownField(k, known))
		}
	}
	return true
}

func (d *decoder) typeError(at, want string, n *node) {
	if at == "" {
		d.add(at, "a plan must be %s, not %s", want, n.kind)
		return
	}
	d.add(at, "must be %s, not %s", want, n.kind)
}

// member returns obj's field key, recording an error if it is required
// and absent.
func (d *decoder) member(obj *node, at, key string, required bool) *node {
	n := obj.get(key)
	if n == nil && required {
		d.add(path(at, key), "required field missing")
	}
	return n
}

func (d *decoder) str(n *node, at string) string {
	if n.kind != kindString {
		d.typeError(at, "a string", n)
		return ""
	}
	return n.text
}

func (d *decoder) boolean(n *node, at string) bool {
	if n.kind != kindBool {
		d.typeError(at, "true or false", n)
		return false
	}
	return n.b
}

// integer returns n as an int; ok is false if it is not a whole number
// that fits 32 bits.
func (d *decoder) integer(n *node, at string) (v int, ok bool) {
	if n.kind != kindNumber {
		d.typeError(at, "a whole number", n)
		return 0, false
	}
	i, err := strconv.ParseInt(n.text, 10, 32)
	if err != nil {
		d.add(at, "%s is not a whole number between %d and %d", n.text, int32(-1<<31), int32(1<<31-1))
		return 0, false
	}
	return int(i), true
}

// strList returns n as a list of strings; nil if it is not a list, a
// non-nil (possibly empty) slice otherwise.
func (d *decoder) strList(n *node, at string) []string {
	if n.kind != kindArray {
		d.typeError(at, "a list of strings", n)
		return nil
	}
	out := make([]string, 0, len(n.elems))
	for i, e := range n.elems {
		out = append(out, d.str(e, index(at, i)))
	}
	return out
}

func (d *decoder) plan(n *node) *Plan {
	if !d.object(n, "", planFields) {
		return nil
	}
	p := &Plan{
		State:            Activated,
		PushActively:     true,
		RejectionMinutes: DefaultRejectionMinutes,
	}
	if v := d.member(n, "", "name", true); v != nil {
		p.Name = d.str(v, "name")
	}
	if v := d.member(n, "", "product", true); v != nil {
		p.Product = d.str(v, "product")
	}
	if v := d.member(n, "", "state", false); v != nil {
		p.State = d.str(v, "state")
	}
	if v := d.member(n, "", "blacklist", false); v != nil {
		p.Blacklist = d.strList(v, "blacklist")
	}
	if v := d.member(n, "", "whitelist", false); v != nil {
		p.Whitelist = d.strList(v, "whitelist")
	}
	if v := d.member(n, "", "timezone", true); v != nil {
		p.Timezone = d.str(v, "timezone")
		if p.Timezone != "" {
			loc, rule := loadZone(p.Timezone)
			if rule != "" {
				d.add("timezone", "%s", rule)
			}
			p.Location = loc
		}
	}
	if v := d.member(n, "", "window", true); v != nil && d.object(v, "window", windowFields) {
		loc := p.Location
		if loc == nil {
			loc = time.UTC // still check the format
		}
		p.Window.Start = d.wallTime(v, "window", "start", loc)
		p.Window.End = d.wallTime(v, "window", "end", loc)
	}
	if v := d.member(n, "", "push_period", false); v != nil && d.object(v, "push_period", periodFields) {
		var pp Period
		var okFrom, okTo bool
		if f := d.member(v, "push_period", "from", true); f != nil {
			pp.From, okFrom = d.integer(f, "push_period.from")
		}
		if t := d.member(v, "push_period", "to", true); t != nil {
			pp.To, okTo = d.integer(t, "push_period.to")
		}
		if okFrom && okTo {
			p.PushPeriod = &pp
		}
	}
	if v := d.member(n, "", "mode", true); v != nil {
		p.Mode = d.str(v, "mode")
	}
	if v := d.member(n, "", "auto_confirm", false); v != nil {
		p.AutoConfirm = d.strList(v, "auto_confirm")
	}
	if v := d.member(n, "", "push_actively", false); v != nil {
		p.PushActively = d.boolean(v, "push_actively")
	}
	if v := d.member(n, "", "rejection_minutes", false); v != nil {
		p.RejectionMinutes, _ = d.integer(v, "rejection_minutes")
	}
	if v := d.member(n, "", "strategy", false); v != nil {
		p.Strategy = d.strategy(v)
	}
	if v := d.member(n, "", "components", true); v != nil {
		if v.kind != kindArray {
			d.typeError("components", "a list of components", v)
		} else {
			p.Components = make([]Component, 0, len(v.elems))
			for i, e := range v.elems {
				p.Components = append(p.Components, d.component(e, index("components", i)))
			}
		}
	}
	if v := d.member(n, "", "texts", false); v != nil && d.object(v, "texts", nil) {
		p.Texts = make(map[string]string, len(v.keys))
		for _, k := range v.keys {
			p.Texts[k] = d.str(v.fields[k], path("texts", k))
		}
	}
	return p
}

// unknownField is the rule for an unknown field, with a suggestion when a
// known field is one or two edits away.
func unknownField(key string, known []string) string {
	if len(known) == 0 {
		return "unknown field"
	}
	// Suggest the nearest field within a few edits (more for longer keys).
	best, dist := "", min(3+len(key)/5, len(key))
	for _, k := range known {
		if d := editDistance(key, k); d < dist {
			best, dist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field; did you mean %q?", best)
	}
	return fmt.Sprintf("unknown field; known fields: %s", strings.Join(known, ", "))
}

func (d *decoder) wallTime(obj *node, at, key string, loc *time.Location) time.Time {
	n := d.member(obj, at, key, true)
	if n == nil {
		return time.Time{}
	}
	field := path(at, key)
	s := d.str(n, field)
	if n.kind != kindString {
		return time.Time{}
	}
	t, rule := parseWallTime(s, loc)
	if rule != "" {
		d.add(field, "%s", rule)
	}
	return t
}

func (d *decoder) strategy(n *node) Strategy {
	var s Strategy
	if !d.object(n, "strategy", strategyFields) {
		return s
	}
	if v := n.get("retries"); v != nil {
		s.Retries, _ = d.integer(v, "strategy.retries")
	}
	if v := n.get("min_signal_dbm"); v != nil {
		if i, ok := d.integer(v, "strategy.min_signal_dbm"); ok {
			s.MinSignalDBm = &i
		}
	}
	if v := n.get("min_battery"); v != nil {
		if i, ok := d.integer(v, "strategy.min_battery"); ok {
			s.MinBattery = &i
		}
	}
	return s
}

func (d *decoder) component(n *node, at string) Component {
	var c Component
	if !d.object(n, at, componentFields) {
		return c
	}
	str := func(key string, required bool) string {
		if v := d.member(n, at, key, required); v != nil {
			return d.str(v, path(at, key))
		}
		return ""
	}
	c.Type = str("type", true)
	c.ID = str("id", true)
	c.Package = str("package", true)
	c.TargetVersion = str("target_version", true)
	c.SourceVersion = str("source_version", false)
	if v := n.get("specified_versions"); v != nil {
		c.SpecifiedVersions = d.strList(v, path(at, "specified_versions"))
	}
	c.File = str("file", true)
	return c
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
