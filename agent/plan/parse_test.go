package plan

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai even without a system zoneinfo database
)

// examplePlan is the example of spec/plan-format.md.
const examplePlan = `{
  "name": "stm32-2.0.0",
  "product": "p1demo",
  "timezone": "Asia/Shanghai",
  "window": {"start": "2026-01-01 00:00", "end": "2027-01-01 00:00"},
  "mode": "silent",
  "strategy": {"retries": 2, "min_signal_dbm": -113, "min_battery": 30},
  "components": [
    {"type": "mcu", "id": "STM32", "package": "full",
     "target_version": "2_0_0", "file": "firmware/stm32-2_0_0.bin"}
  ]
}`

// doc is a decoded plan document to edit in tests.
type doc = map[string]any

// exampleWith returns the example plan with edit applied.
func exampleWith(t testing.TB, edit func(d doc)) []byte {
	t.Helper()
	var d doc
	if err := json.Unmarshal([]byte(examplePlan), &d); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// comp returns component i of d.
func comp(d doc, i int) doc { return d["components"].([]any)[i].(doc) }

// addComp appends a copy of component 0 with the given id.
func addComp(d doc, id string) doc {
	c := doc{}
	for k, v := range comp(d, 0) {
		c[k] = v
	}
	c["id"] = id
	d["components"] = append(d["components"].([]any), c)
	return c
}

func manual(d doc) {
	d["mode"] = "manual"
	d["texts"] = doc{"en": "New firmware."}
}

func TestParseExample(t *testing.T) {
	p, err := Parse("plans/stm32-2.0.0.json", []byte(examplePlan))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	checks := []struct {
		name      string
		got, want any
	}{
		{"Name", p.Name, "stm32-2.0.0"},
		{"Product", p.Product, "p1demo"},
		{"State", p.State, Activated},
		{"Source", p.Source, "plans/stm32-2.0.0.json"},
		{"Location", p.Location.String(), "Asia/Shanghai"},
		{"Window.Start", p.Window.Start.UTC(), time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)},
		{"Window.End", p.Window.End.UTC(), time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)},
		{"Window.Start wall", p.Window.Start.In(shanghai).Format("2006-01-02 15:04"), "2026-01-01 00:00"},
		{"PushPeriod", p.PushPeriod == nil, true},
		{"Mode", p.Mode, Silent},
		{"PushActively", p.PushActively, true},
		{"RejectionMinutes", p.RejectionMinutes, 120},
		{"Strategy.Retries", p.Strategy.Retries, 2},
		{"MinBattery", p.MinBattery(), 30},
		{"MinSignalDBm", p.MinSignalDBm(), -113},
		{"len(Components)", len(p.Components), 1},
		{"Component", p.Components[0], Component{Type: MCU, ID: "STM32", Package: Full, TargetVersion: "2_0_0", File: "firmware/stm32-2_0_0.bin"}},
		{"Validate", p.Validate(), nil},
	}
	for _, c := range checks {
		switch g := c.got.(type) {
		case time.Time:
			if !g.Equal(c.want.(time.Time)) {
				t.Errorf("%s = %v, want %v", c.name, g, c.want)
			}
		default:
			if !equalAny(c.got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
			}
		}
	}
}

func equalAny(a, b any) bool {
	ca, okA := a.(Component)
	cb, okB := b.(Component)
	if okA && okB {
		ja, _ := json.Marshal(ca)
		jb, _ := json.Marshal(cb)
		return string(ja) == string(jb)
	}
	return a == b
}

func TestParseDefaults(t *testing.T) {
	p, err := Parse("x.json", exampleWith(t, func(d doc) { delete(d, "strategy") }))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.MinBattery(); got != 0 {
		t.Errorf("MinBattery() = %d, want 0", got)
	}
	if got := p.MinSignalDBm(); got != -113 {
		t.Errorf("MinSignalDBm() = %d, want -113", got)
	}
	if p.Strategy.Retries != 0 {
		t.Errorf("Strategy.Retries = %d, want 0", p.Strategy.Retries)
	}
	if got := p.RejectionWindow(); got != 2*time.Hour {
		t.Errorf("RejectionWindow() = %v, want 2h", got)
	}
}

// TestParseSpecExampleError checks the error message format of
// spec/plan-format.md ("Errors") to the byte.
func TestParseSpecExampleError(t *testing.T) {
	data := exampleWith(t, func(d doc) {
		c := addComp(d, "BLE")
		c["specified_versions"] = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}
	})
	_, err := Parse("plans/x.json", data)
	const want = "plans/x.json: components[1].specified_versions: 9 versions, at most 8"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error = %v, want %q", err, want)
	}
}

func TestParseRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(d doc) // applied to the example plan
		raw   string      // used instead of edit when set
		field string
		rule  string // a part of the rule text
	}{
		// name
		{name: "name missing", edit: func(d doc) { delete(d, "name") }, field: "name", rule: "required field missing"},
		{name: "name empty", edit: func(d doc) { d["name"] = "" }, field: "name", rule: "0 characters, must be 1 to 100"},
		{name: "name too long", edit: func(d doc) { d["name"] = strings.Repeat("é", 101) }, field: "name", rule: "101 characters, must be 1 to 100"},
		{name: "name not string", edit: func(d doc) { d["name"] = 7 }, field: "name", rule: "must be a string, not a number"},
		// product
		{name: "product missing", edit: func(d doc) { delete(d, "product") }, field: "product", rule: "required field missing"},
		{name: "product empty", edit: func(d doc) { d["product"] = "" }, field: "product", rule: "must not be empty"},
		// state
		{name: "state unknown", edit: func(d doc) { d["state"] = "running" }, field: "state", rule: `"running" is not one of "saved", "activated", "ended"`},
		{name: "state null", edit: func(d doc) { d["state"] = nil }, field: "state", rule: "must be a string, not null"},
		// blacklist, whitelist
		{name: "blacklist not list", edit: func(d doc) { d["blacklist"] = "dk1" }, field: "blacklist", rule: "must be a list of strings, not a string"},
		{name: "blacklist empty key", edit: func(d doc) { d["blacklist"] = []string{"dk1", ""} }, field: "blacklist[1]", rule: "empty device key"},
		{name: "whitelist number", edit: func(d doc) { d["whitelist"] = []any{866123} }, field: "whitelist[0]", rule: "must be a string, not a number"},
		// timezone
		{name: "timezone missing", edit: func(d doc) { delete(d, "timezone") }, field: "timezone", rule: "required field missing"},
		{name: "timezone unknown", edit: func(d doc) { d["timezone"] = "Mars/Olympus_Mons" }, field: "timezone", rule: `unknown time zone "Mars/Olympus_Mons"`},
		{name: "timezone odd name", edit: func(d doc) { d["timezone"] = "../../etc/passwd" }, field: "timezone", rule: "is not a time zone name"},
		{name: "timezone short offset", edit: func(d doc) { d["timezone"] = "+8" }, field: "timezone", rule: "not a fixed offset of the form +hh:mm"},
		{name: "timezone offset range", edit: func(d doc) { d["timezone"] = "+15:00" }, field: "timezone", rule: "out of range -14:00 to +14:00"},
		{name: "timezone Local", edit: func(d doc) { d["timezone"] = "Local" }, field: "timezone", rule: "depends on the machine"},
		{name: "timezone empty", edit: func(d doc) { d["timezone"] = "" }, field: "timezone", rule: "required"},
		// window
		{name: "window missing", edit: func(d doc) { delete(d, "window") }, field: "window", rule: "required field missing"},
		{name: "window not object", edit: func(d doc) { d["window"] = "2026" }, field: "window", rule: "must be an object, not a string"},
		{name: "window.start missing", edit: func(d doc) { delete(d["window"].(doc), "start") }, field: "window.start", rule: "required field missing"},
		{name: "window.start format", edit: func(d doc) { d["window"].(doc)["start"] = "2026-01-01T00:00" }, field: "window.start", rule: `is not of the form "YYYY-MM-DD hh:mm"`},
		{name: "window.start seconds", edit: func(d doc) { d["window"].(doc)["start"] = "2026-01-01 00:00:00" }, field: "window.start", rule: `is not of the form`},
		{name: "window.end month", edit: func(d doc) { d["window"].(doc)["end"] = "2026-13-01 00:00" }, field: "window.end", rule: "month out of range"},
		{name: "window.end hour", edit: func(d doc) { d["window"].(doc)["end"] = "2026-12-01 24:00" }, field: "window.end", rule: "hour out of range"},
		{name: "window end before start", edit: func(d doc) { d["window"].(doc)["end"] = "2025-06-01 00:00" }, field: "window.end", rule: "2025-06-01 00:00 is not after window.start 2026-01-01 00:00"},
		{name: "window empty", edit: func(d doc) { d["window"].(doc)["end"] = "2026-01-01 00:00" }, field: "window.end", rule: "is not after window.start"},
		{name: "window unknown field", edit: func(d doc) { d["window"].(doc)["strat"] = "2026-01-01 00:00" }, field: "window.strat", rule: `unknown field; did you mean "start"?`},
		// push_period
		{name: "push_period.from range", edit: func(d doc) { d["push_period"] = doc{"from": 25, "to": 2} }, field: "push_period.from", rule: "25, must be a whole hour 0 to 24"},
		{name: "push_period.to range", edit: func(d doc) { d["push_period"] = doc{"from": 1, "to": -1} }, field: "push_period.to", rule: "-1, must be a whole hour 0 to 24"},
		{name: "push_period zero length", edit: func(d doc) { d["push_period"] = doc{"from": 5, "to": 5} }, field: "push_period.to", rule: "must be at least one hour after from 5"},
		{name: "push_period 24 to 0", edit: func(d doc) { d["push_period"] = doc{"from": 24, "to": 0} }, field: "push_period.to", rule: "must be at least one hour after from 24"},
		{name: "push_period.to missing", edit: func(d doc) { d["push_period"] = doc{"from": 5} }, field: "push_period.to", rule: "required field missing"},
		{name: "push_period.from fraction", edit: func(d doc) { d["push_period"] = doc{"from": 1.5, "to": 3} }, field: "push_period.from", rule: "1.5 is not a whole number"},
		// mode
		{name: "mode missing", edit: func(d doc) { delete(d, "mode") }, field: "mode", rule: "required field missing"},
		{name: "mode unknown", edit: func(d doc) { d["mode"] = "loud" }, field: "mode", rule: `"loud" is not one of "silent", "manual"`},
		// auto_confirm
		{name: "auto_confirm in silent plan", edit: func(d doc) { d["auto_confirm"] = []string{"dk1"} }, field: "auto_confirm", rule: `only for mode "manual"`},
		{name: "auto_confirm empty key", edit: func(d doc) { manual(d); d["auto_confirm"] = []string{""} }, field: "auto_confirm[0]", rule: "empty device key"},
		// push_actively
		{name: "push_actively string", edit: func(d doc) { d["push_actively"] = "yes" }, field: "push_actively", rule: "must be true or false, not a string"},
		// rejection_minutes
		{name: "rejection_minutes low", edit: func(d doc) { d["rejection_minutes"] = 9 }, field: "rejection_minutes", rule: "9, must be 10 to 1440"},
		{name: "rejection_minutes high", edit: func(d doc) { d["rejection_minutes"] = 1441 }, field: "rejection_minutes", rule: "1441, must be 10 to 1440"},
		{name: "rejection_minutes huge", edit: func(d doc) { d["rejection_minutes"] = 1e12 }, field: "rejection_minutes", rule: "is not a whole number between"},
		// strategy
		{name: "strategy.retries negative", edit: func(d doc) { d["strategy"].(doc)["retries"] = -1 }, field: "strategy.retries", rule: "-1, must be 0 or more"},
		{name: "strategy.min_signal_dbm low", edit: func(d doc) { d["strategy"].(doc)["min_signal_dbm"] = -120 }, field: "strategy.min_signal_dbm", rule: "-120 dBm, must be -113 to -51"},
		{name: "strategy.min_signal_dbm high", edit: func(d doc) { d["strategy"].(doc)["min_signal_dbm"] = -40 }, field: "strategy.min_signal_dbm", rule: "-40 dBm, must be -113 to -51"},
		{name: "strategy.min_battery range", edit: func(d doc) { d["strategy"].(doc)["min_battery"] = 101 }, field: "strategy.min_battery", rule: "101%, must be 0 to 100"},
		{name: "strategy typo", edit: func(d doc) { d["strategy"].(doc)["retry"] = 1 }, field: "strategy.retry", rule: `unknown field; did you mean "retries"?`},
		{name: "strategy not object", edit: func(d doc) { d["strategy"] = []any{} }, field: "strategy", rule: "must be an object, not a list"},
		// components
		{name: "components missing", edit: func(d doc) { delete(d, "components") }, field: "components", rule: "required field missing"},
		{name: "components empty", edit: func(d doc) { d["components"] = []any{} }, field: "components", rule: "at least one component needed"},
		{name: "components not list", edit: func(d doc) { d["components"] = doc{} }, field: "components", rule: "must be a list of components, not an object"},
		{name: "component not object", edit: func(d doc) { d["components"] = []any{"STM32"} }, field: "components[0]", rule: "must be an object, not a string"},
		{name: "component type", edit: func(d doc) { comp(d, 0)["type"] = "cpu" }, field: "components[0].type", rule: `"cpu" is not one of "mcu", "module"`},
		{name: "component id missing", edit: func(d doc) { delete(comp(d, 0), "id") }, field: "components[0].id", rule: "required field missing"},
		{name: "component id quote", edit: func(d doc) { comp(d, 0)["id"] = `ST"M32` }, field: "components[0].id", rule: `sent quoted in +QIOTEVT events`},
		{name: "component id duplicate", edit: func(d doc) { addComp(d, "STM32") }, field: "components[1].id", rule: `"STM32" is already the id of components[0]`},
		{name: "component package", edit: func(d doc) { comp(d, 0)["package"] = "patch" }, field: "components[0].package", rule: `"patch" is not one of "full", "delta"`},
		{name: "component target_version missing", edit: func(d doc) { delete(comp(d, 0), "target_version") }, field: "components[0].target_version", rule: "required field missing"},
		{name: "component target_version comma", edit: func(d doc) { comp(d, 0)["target_version"] = "2,0" }, field: "components[0].target_version", rule: `contains ","`},
		{name: "delta without source_version", edit: func(d doc) { comp(d, 0)["package"] = "delta" }, field: "components[0].source_version", rule: `required for package "delta"`},
		{name: "delta source equals target", edit: func(d doc) { comp(d, 0)["package"] = "delta"; comp(d, 0)["source_version"] = "2_0_0" }, field: "components[0].source_version", rule: `"2_0_0" equals target_version`},
		{name: "delta source control char", edit: func(d doc) { comp(d, 0)["package"] = "delta"; comp(d, 0)["source_version"] = "1\r\n" }, field: "components[0].source_version", rule: `control characters are not allowed`},
		{name: "full with source_version", edit: func(d doc) { comp(d, 0)["source_version"] = "1_0_0" }, field: "components[0].source_version", rule: `only for package "delta"`},
		{name: "delta with specified_versions", edit: func(d doc) {
			c := comp(d, 0)
			c["package"], c["source_version"], c["specified_versions"] = "delta", "1_0_0", []string{"1_0_0"}
		}, field: "components[0].specified_versions", rule: `only for package "full"`},
		{name: "specified_versions too many", edit: func(d doc) {
			comp(d, 0)["specified_versions"] = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}
		}, field: "components[0].specified_versions", rule: "9 versions, at most 8"},
		{name: "specified_versions semicolon", edit: func(d doc) { comp(d, 0)["specified_versions"] = []string{"1_0_0;1_1_0"} }, field: "components[0].specified_versions[0]", rule: "contains ';': write each version as its own list entry"},
		{name: "specified_versions charset", edit: func(d doc) { comp(d, 0)["specified_versions"] = []string{"1.0", "v 2"} }, field: "components[0].specified_versions[1]", rule: `contains ' ': only letters, digits, '_', '-' and '.' are allowed`},
		{name: "specified_versions empty list", edit: func(d doc) { comp(d, 0)["specified_versions"] = []string{} }, field: "components[0].specified_versions", rule: "empty list"},
		{name: "specified_versions empty entry", edit: func(d doc) { comp(d, 0)["specified_versions"] = []string{""} }, field: "components[0].specified_versions[0]", rule: "empty version"},
		{name: "file missing", edit: func(d doc) { delete(comp(d, 0), "file") }, field: "components[0].file", rule: "required field missing"},
		{name: "file empty", edit: func(d doc) { comp(d, 0)["file"] = "" }, field: "components[0].file", rule: "required: the package file"},
		{name: "file absolute", edit: func(d doc) { comp(d, 0)["file"] = "/etc/passwd" }, field: "components[0].file", rule: `"/etc/passwd" is absolute`},
		{name: "file climbs out", edit: func(d doc) { comp(d, 0)["file"] = "firmware/../../x.bin" }, field: "components[0].file", rule: `"firmware/../../x.bin" leaves the plans directory`},
		{name: "file dot-dot", edit: func(d doc) { comp(d, 0)["file"] = ".." }, field: "components[0].file", rule: `leaves the plans directory`},
		{name: "component typo", edit: func(d doc) { comp(d, 0)["fille"] = "x" }, field: "components[0].fille", rule: `unknown field; did you mean "file"?`},
		// texts
		{name: "manual without texts", edit: func(d doc) { d["mode"] = "manual" }, field: "texts", rule: `a manual plan needs an "en" or "zh" upgrade text`},
		{name: "manual with only fr", edit: func(d doc) { d["mode"] = "manual"; d["texts"] = doc{"fr": "Nouveau"} }, field: "texts", rule: `needs an "en" or "zh"`},
		{name: "text empty", edit: func(d doc) { manual(d); d["texts"].(doc)["de"] = "" }, field: "texts.de", rule: "empty text"},
		{name: "text not string", edit: func(d doc) { manual(d); d["texts"].(doc)["en"] = 1 }, field: "texts.en", rule: "must be a string, not a number"},
		{name: "texts not object", edit: func(d doc) { d["texts"] = "hello" }, field: "texts", rule: "must be an object, not a string"},
		// the document as a whole
		{name: "unknown field suggested", edit: func(d doc) { d["timezon"] = "UTC" }, field: "timezon", rule: `unknown field; did you mean "timezone"?`},
		{name: "unknown field listed", edit: func(d doc) { d["colour"] = "red" }, field: "colour", rule: "unknown field; known fields: name, product, state"},
		{name: "unknown odd field", edit: func(d doc) { d["a b"] = 1 }, field: `["a b"]`, rule: "unknown field"},
		{name: "duplicate field", raw: `{"name": "a", "name": "b"}`, field: "name", rule: "given more than once"},
		{name: "not an object", raw: `[1, 2]`, field: "", rule: "a plan must be an object, not a list"},
		{name: "too large", raw: `{"name": "` + strings.Repeat("x", MaxSize) + `"}`, field: "", rule: "bytes, at most 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				data = exampleWith(t, tt.edit)
			}
			p, err := Parse("plans/x.json", data)
			if err == nil {
				t.Fatalf("Parse succeeded, want error %s: ...%s...", tt.field, tt.rule)
			}
			if p != nil {
				t.Errorf("Parse returned a plan with an error")
			}
			errs := Errors(err)
			for _, e := range errs {
				if e.File != "plans/x.json" {
					t.Errorf("error %q: File = %q, want plans/x.json", e, e.File)
				}
				if e.Field == tt.field && strings.Contains(e.Rule, tt.rule) {
					return
				}
			}
			t.Errorf("got errors:\n%v\nwant field %q with rule containing %q", err, tt.field, tt.rule)
		})
	}
}

func TestParseReportsAllErrors(t *testing.T) {
	data := exampleWith(t, func(d doc) {
		d["name"] = ""
		d["rejection_minutes"] = 5
		comp(d, 0)["file"] = "/abs.bin"
		delete(d, "mode")
	})
	_, err := Parse("p.json", data)
	var got []string
	for _, e := range Errors(err) {
		got = append(got, e.Field)
	}
	// Decoding errors come first, then value rules in spec order.
	want := []string{"mode", "name", "rejection_minutes", "components[0].file"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("error fields = %q, want %q\n%v", got, want, err)
	}
}

func TestParseErrorCap(t *testing.T) {
	d := doc{}
	for i := range 40 {
		d[strings.Repeat("z", i+1)] = i
	}
	b, _ := json.Marshal(d)
	_, err := Parse("p.json", b)
	errs := Errors(err)
	if len(errs) != maxErrors+1 {
		t.Fatalf("got %d errors, want %d", len(errs), maxErrors+1)
	}
	if last := errs[len(errs)-1].Rule; !strings.HasPrefix(last, "and ") || !strings.HasSuffix(last, " more errors") {
		t.Errorf("last error = %q, want \"and N more errors\"", last)
	}
}

func TestParseSyntaxError(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		line, col int
		rule      string
	}{
		{name: "bad value", in: "{\n  \"name\": \"x\",\n  \"product\": }\n", line: 3, col: 14, rule: "invalid character '}' looking for beginning of value"},
		{name: "missing colon", in: "{\"name\" \"x\"}", line: 1, col: 9, rule: "after object key"},
		{name: "trailing comma", in: "{\n\"a\": 1,\n}", line: 3, col: 1, rule: "invalid character '}'"},
		{name: "truncated", in: "{\n  \"name\": ", line: 2, col: 11, rule: "unexpected end of file"},
		{name: "empty", in: "  \n", line: 1, col: 1, rule: "empty file"},
		{name: "extra data", in: "{}\n{}", line: 2, col: 1, rule: "extra data after the plan object"},
		{name: "garbage after", in: "{} x", line: 1, col: 4, rule: "invalid character 'x'"},
		{name: "too deep", in: strings.Repeat("[", 40), line: 1, col: 33, rule: "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("plans/x.json", []byte(tt.in))
			errs := Errors(err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors (%v), want 1", len(errs), err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Column != tt.col || !strings.Contains(e.Rule, tt.rule) {
				t.Errorf("got %d:%d %q, want %d:%d ...%s...", e.Line, e.Column, e.Rule, tt.line, tt.col, tt.rule)
			}
			if !strings.HasPrefix(e.Error(), "plans/x.json:") || !strings.Contains(e.Error(), "invalid JSON") {
				t.Errorf("Error() = %q, want plans/x.json:LINE:COL: invalid JSON: ...", e.Error())
			}
		})
	}
}

func TestParseBOM(t *testing.T) {
	if _, err := Parse("x.json", append([]byte("\xEF\xBB\xBF"), examplePlan...)); err != nil {
		t.Errorf("Parse with a UTF-8 byte order mark: %v", err)
	}
}

func TestParseZones(t *testing.T) {
	tests := []struct {
		tz       string
		startUTC time.Time
	}{
		{"Asia/Shanghai", time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)},
		{"+08:00", time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)},
		{"-05:30", time.Date(2026, 1, 1, 5, 30, 0, 0, time.UTC)},
		{"UTC", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"America/New_York", time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.tz, func(t *testing.T) {
			p, err := Parse("x.json", exampleWith(t, func(d doc) { d["timezone"] = tt.tz }))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Window.Start.Equal(tt.startUTC) {
				t.Errorf("Window.Start = %v, want %v", p.Window.Start.UTC(), tt.startUTC)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	data := exampleWith(t, func(d doc) {
		manual(d)
		d["timezone"] = "+08:00"
		d["push_period"] = doc{"from": 22, "to": 2}
		d["auto_confirm"] = []string{"dk1"}
		d["blacklist"] = []string{"dk9"}
		d["push_actively"] = false
		c := addComp(d, "BLE")
		c["package"], c["source_version"] = "delta", "1_0_0"
		comp(d, 0)["specified_versions"] = []string{"1.0", "1.1"}
	})
	p, err := Parse("x.json", data)
	if err != nil {
		t.Fatal(err)
	}
	b1, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if bv, _ := json.Marshal(*p); string(bv) != string(b1) {
		t.Errorf("Marshal(Plan) differs from Marshal(*Plan):\n%s\n%s", bv, b1)
	}
	var q Plan
	if err := json.Unmarshal(b1, &q); err != nil {
		t.Fatalf("Unmarshal(Marshal(p)): %v\n%s", err, b1)
	}
	b2, _ := json.Marshal(&q)
	if string(b1) != string(b2) {
		t.Errorf("round trip changed the plan:\n%s\n%s", b1, b2)
	}
	if !q.Window.Start.Equal(p.Window.Start) || q.PushActively || q.PushPeriod == nil || *q.PushPeriod != (Period{22, 2}) {
		t.Errorf("round trip lost values: %s", b2)
	}
}

func TestUnmarshalJSONError(t *testing.T) {
	p := Plan{Source: "mqtt:plan"}
	err := json.Unmarshal([]byte(`{"name": 1}`), &p)
	if err == nil || !strings.HasPrefix(err.Error(), "mqtt:plan: name: must be a string") {
		t.Errorf("Unmarshal error = %v, want it to start with mqtt:plan: name: must be a string", err)
	}
}

func TestLoadZone(t *testing.T) {
	if loc, err := LoadZone("+08:00"); err != nil || loc.String() != "+08:00" {
		t.Errorf("LoadZone(+08:00) = %v, %v", loc, err)
	}
	if _, err := LoadZone("Nowhere/City"); err == nil || !strings.HasPrefix(err.Error(), "plan: time zone") {
		t.Errorf("LoadZone(Nowhere/City) error = %v, want plan: time zone ...", err)
	}
}

func TestValidateBuiltPlan(t *testing.T) {
	p := &Plan{Name: "n", Product: "p", State: Activated, Timezone: "UTC", Mode: Silent, RejectionMinutes: 120,
		Window:     Window{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		Components: []Component{{Type: MCU, ID: "A", Package: Full, TargetVersion: "2", File: "a.bin"}}}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "timezone: Plan.Location is nil") {
		t.Errorf("Validate without Location = %v, want timezone: Plan.Location is nil", err)
	}
	p.Location = time.UTC
	if err := p.Validate(); err != nil {
		t.Errorf("Validate = %v, want nil", err)
	}
}

// TestDSTRoundTrip checks window times in a daylight saving gap and
// overlap: Parse picks one instant, and MarshalJSON writes a wall time
// that parses back to it.
func TestDSTRoundTrip(t *testing.T) {
	data := exampleWith(t, func(d doc) {
		d["timezone"] = "America/New_York"
		d["window"] = doc{"start": "2026-03-08 02:30", "end": "2026-11-01 01:30"}
	})
	p, err := Parse("x.json", data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	q, err := Parse("x.json", b)
	if err != nil {
		t.Fatalf("Parse(Marshal(p)): %v", err)
	}
	if !q.Window.Start.Equal(p.Window.Start) || !q.Window.End.Equal(p.Window.End) {
		t.Errorf("window %v..%v after round trip, want %v..%v", q.Window.Start, q.Window.End, p.Window.Start, p.Window.End)
	}
}
