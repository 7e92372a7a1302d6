package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest scenario that runs.
const minimal = `
module:
  plans:
    - components: [{id: STM32, target_version: 2_0_0}]
`

func TestParseDefaults(t *testing.T) {
	sc, err := Parse("dir/minimal.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "name", got: sc.Name, want: "minimal"},
		{name: "dir", got: sc.Dir, want: "dir"},
		{name: "timeout", got: sc.Timeout, want: DefaultTimeout},
		{name: "product", got: sc.Module.Product, want: DefaultProduct},
		{name: "plan name", got: sc.Module.Plans[0].Name, want: "plan-1"},
		{name: "plan mode", got: sc.Module.Plans[0].Mode, want: "silent"},
		{name: "window start", got: sc.Module.Plans[0].Window.Start, want: "-1h"},
		{name: "window end", got: sc.Module.Plans[0].Window.End, want: "+24h"},
		{name: "component size", got: sc.Module.Plans[0].Components[0].Size, want: Size(DefaultSize)},
		{name: "mcu components", got: len(sc.MCU.Components), want: 1},
		{name: "mcu component", got: sc.MCU.Components[0], want: ComponentVersion{ID: "STM32", Version: "1_0_0"}},
		{name: "part", got: sc.MCU.Part, want: DefaultPart},
		{name: "block", got: sc.MCU.Block, want: 1024},
		{name: "retry delay", got: *sc.MCU.RetryDelay, want: DefaultRetryDelay},
		{name: "command timeout", got: sc.MCU.Timeouts.Command, want: time.Second},
		{name: "payload timeout", got: sc.MCU.Timeouts.Payload, want: 10 * time.Second},
		{name: "baud", got: sc.Link.Baud, want: DefaultBaud},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestParseSchemaErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		data  string
		line  int
		field string
		msg   string // part of the message
	}{
		{name: "unknown field", file: "s.yaml", data: "nme: x\n" + minimal, line: 1, field: "nme", msg: "unknown field; a scenario takes name, description"},
		{name: "unknown nested field", file: "s.yaml", data: minimal + "mcu:\n  batery: 20\n", line: 6, field: "mcu.batery", msg: "unknown field; mcu takes port"},
		{name: "bad duration", file: "s.yaml", data: "timeout: 5\n" + minimal, line: 1, field: "timeout", msg: `"5" is not a duration`},
		{name: "bad size", file: "s.yaml", data: "module:\n  piece_size: lots\n  plans: [{components: [{id: A, target_version: '2'}]}]\n", line: 2, field: "module.piece_size", msg: "not a size"},
		{name: "list wanted", file: "s.yaml", data: "faults: flips\n" + minimal, line: 1, field: "faults", msg: "want a list"},
		{name: "no plans", file: "s.yaml", data: "module: {product: x}\n", line: 1, field: "module", msg: "needs plans"},
		{name: "unknown fault type", file: "s.yaml", data: minimal + "faults:\n  - type: gremlins\n", line: 6, field: "faults[0].type", msg: `"gremlins" is not a fault type`},
		{name: "fault without type", file: "s.yaml", data: minimal + "faults:\n  - rate: 0.1\n", line: 6, field: "faults[0]", msg: "no type"},
		{name: "rate out of range", file: "s.yaml", data: minimal + "faults:\n  - type: flips\n    rate: 1.5\n", line: 7, field: "faults[0].rate", msg: "at most 1"},
		{name: "field of another fault", file: "s.yaml", data: minimal + "faults:\n  - type: mcu_reset\n    rate: 0.1\n", line: 7, field: "faults[0].rate", msg: "a mcu_reset fault does not take rate"},
		{name: "bad direction", file: "s.yaml", data: minimal + "faults:\n  - {type: split, direction: sideways}\n", line: 6, field: "faults[0].direction", msg: "to_mcu, to_module or both"},
		{name: "power cut without op", file: "s.yaml", data: minimal + "faults:\n  - type: power_cut\n", line: 6, field: "faults[0]", msg: "needs op"},
		{name: "power cut at bytes", file: "s.yaml", data: minimal + "faults:\n  - {type: power_cut, op: 3, at: {bytes: 100}}\n", line: 6, field: "faults[0].at", msg: "starts with an update cycle"},
		{name: "link loss without for", file: "s.yaml", data: minimal + "faults:\n  - type: link_loss\n", line: 6, field: "faults[0].for", msg: "how long"},
		{name: "bad event trigger", file: "s.yaml", data: minimal + "faults:\n  - {type: mcu_reset, at: {event: 10703}}\n", line: 6, field: "faults[0].at.event", msg: "type,code"},
		{name: "bad expected result", file: "s.yaml", data: minimal + "expect: {result: fine}\n", line: 5, field: "expect.result", msg: "want one of updated, refused, failed, no_plan"},
		{name: "bad exit code", file: "s.yaml", data: minimal + "expect: {exit_code: 2}\n", line: 5, field: "expect.exit_code", msg: "want 0"},
		{name: "expected version of an unknown component", file: "s.yaml", data: minimal + "expect:\n  versions: {BLE: '2'}\n", line: 6, field: "expect.versions.BLE", msg: "not one of mcu.components"},
		{name: "both ends real", file: "s.yaml", data: "module: {port: /dev/ttyUSB0}\nmcu: {port: 'pty:/tmp/x'}\n", line: 2, field: "mcu.port", msg: "one end must be emulated"},
		{name: "window ends before it starts", file: "s.yaml", data: "module:\n  plans:\n    - window: {start: +1h, end: -1h}\n      components: [{id: A, target_version: '2'}]\n", line: 3, field: "module.plans[0].window.end", msg: "not after the start"},
		{name: "plan rule", file: "s.yaml", data: "module:\n  plans:\n    - strategy: {min_battery: 150}\n      components: [{id: A, target_version: '2'}]\n", line: 3, field: "module.plans[0]", msg: "min_battery"},
		{name: "duplicate component", file: "s.yaml", data: minimal + "mcu:\n  components: [{id: A, version: '1'}, {id: A, version: '2'}]\n", line: 6, field: "mcu.components[1].id", msg: "listed twice"},
		{name: "rate without bytes per second", file: "s.yaml", data: minimal + "faults:\n  - type: download_rate\n", line: 6, field: "faults[0].bytes_per_second", msg: "needs the package server's rate"},
		{name: "platform fault with platform off", file: "s.yaml", data: "module:\n  platform: false\n  plans: [{components: [{id: A, target_version: '2'}]}]\nfaults:\n  - type: broker_restart\n", line: 5, field: "faults[0].type", msg: "sets module.platform: false"},
		{name: "platform fault with a real module", file: "s.yaml", data: "module: {port: /dev/ttyUSB0}\nfaults:\n  - type: download_cut\n", line: 3, field: "faults[0].type", msg: "needs the emulated module"},
		{name: "platform of a real module", file: "s.yaml", data: "module: {port: /dev/ttyUSB0, platform: true}\n", line: 1, field: "module.platform", msg: "not used with a real module"},
		{name: "cut a negative count", file: "s.yaml", data: minimal + "faults:\n  - {type: download_cut, count: -1}\n", line: 6, field: "faults[0].count", msg: "1 or more responses"},
		{name: "plans dir escapes", file: "s.yaml", data: "module: {plans_dir: ../plans}\n", line: 1, field: "module.plans_dir", msg: "leaves the scenario's directory"},
		{name: "unknown package", file: "s.yaml", data: "module:\n  plans:\n    - components: [{id: STM32, target_version: '2', package: zip}]\n", line: 3, field: "module.plans[0].components[0].package", msg: "want raw (the image itself), full"},
		{name: "signed raw image", file: "s.yaml", data: "module:\n  plans:\n    - components: [{id: STM32, target_version: '2', sign: true}]\n", line: 3, field: "module.plans[0].components[0].sign", msg: "a raw image carries no signature"},
		{name: "delta of a second component", file: "s.yaml", data: "module:\n  plans:\n    - components: [{id: BLE, target_version: '2', package: delta}]\nmcu:\n  components: [{id: APP, version: '1'}, {id: BLE, version: '1'}]\n", line: 3, field: "module.plans[0].components[0].package", msg: "the first of mcu.components (APP), not BLE"},
		{name: "delta to the running version", file: "s.yaml", data: "module:\n  plans:\n    - components: [{id: STM32, target_version: 1_0_0, package: delta}]\n", line: 3, field: "module.plans[0].components[0].target_version", msg: "the MCU runs already"},
		{name: "delta to an external MCU", file: "s.yaml", data: "module:\n  plans:\n    - components: [{id: STM32, target_version: '2', package: delta}]\nmcu: {port: 'pty:/tmp/x'}\n", line: 3, field: "module.plans[0].components[0].package", msg: "an external MCU's image is not known here"},
		{name: "unknown verify key", file: "s.yaml", data: minimal + "mcu: {verify_key: mine}\n", line: 5, field: "mcu.verify_key", msg: `"mine": want scenario`},
		{name: "verify key of an external MCU", file: "s.yaml", data: minimal + "mcu: {port: 'pty:/tmp/x', verify_key: scenario}\n", line: 5, field: "mcu.verify_key", msg: "not used with an external MCU"},
		{name: "yaml syntax", file: "s.yaml", data: "name: [x\n", line: 1, msg: "did not find expected"},
		{name: "field given twice", file: "s.yaml", data: "name: a\nname: b\n" + minimal, line: 2, msg: `field "name" is given twice`},
		{name: "empty file", file: "s.yaml", data: "", line: 1, msg: "empty"},
		{name: "not a mapping", file: "s.yaml", data: "- a\n- b\n", line: 1, msg: "a scenario is a mapping"},
		{name: "json unknown field", file: "s.json", data: "{\n  \"module\": {\n    \"plans\": [{\"components\": [{\"id\": \"A\", \"target_version\": \"2\"}]}],\n    \"piece\": 10\n  }\n}\n", line: 4, field: "module.piece", msg: "unknown field"},
		{name: "json bad value", file: "s.json", data: "{\"timeout\": true,\n \"module\": {}}", line: 1, field: "timeout", msg: "not a duration"},
		{name: "json syntax", file: "s.json", data: "{\n  \"name\": \"x\",\n  oops\n}", line: 3, msg: "invalid character"},
		{name: "json duplicate key", file: "s.json", data: "{\"name\": \"a\",\n\"name\": \"b\"}", line: 2, msg: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file, []byte(tt.data))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SchemaError", err, err)
			}
			if se.File != tt.file || se.Line != tt.line || se.Field != tt.field {
				t.Errorf("error at %s:%d field %q, want %s:%d field %q (%v)", se.File, se.Line, se.Field, tt.file, tt.line, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if tt.line > 0 && !strings.Contains(err.Error(), tt.file+":"+strconv.Itoa(tt.line)) {
				t.Errorf("error %q does not name %s:%d", err, tt.file, tt.line)
			}
		})
	}
}

// TestParseJSONAndYAMLAgree: the same scenario in JSON and YAML reads the
// same.
func TestParseJSONAndYAMLAgree(t *testing.T) {
	y := `
name: both
module:
  piece_size: 4K
  plans:
    - name: p
      strategy: {retries: 2, min_battery: 30}
      components: [{id: A, target_version: "2.0", size: 10000}]
mcu:
  components: [{id: A, version: "1.0"}]
faults:
  - {type: flips, rate: 0.001, direction: to_mcu, at: {bytes: 100}, for: 2s}
expect: {result: updated, versions: {A: "2.0"}}
`
	j := `{"name": "both",
 "module": {"piece_size": "4K", "plans": [{"name": "p", "strategy": {"retries": 2, "min_battery": 30},
   "components": [{"id": "A", "target_version": "2.0", "size": 10000}]}]},
 "mcu": {"components": [{"id": "A", "version": "1.0"}]},
 "faults": [{"type": "flips", "rate": 0.001, "direction": "to_mcu", "at": {"bytes": 100}, "for": "2s"}],
 "expect": {"result": "updated", "versions": {"A": "2.0"}}}`
	a, err := Parse("s.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("s.json", []byte(j))
	if err != nil {
		t.Fatal(err)
	}
	a.File, b.File, a.pos, b.pos = "", "", nil, nil
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"piece size", b.Module.PieceSize, a.Module.PieceSize},
		{"plan", b.Module.Plans[0].Name, a.Module.Plans[0].Name},
		{"min battery", *b.Module.Plans[0].Strategy.MinBattery, *a.Module.Plans[0].Strategy.MinBattery},
		{"fault", describe(&b.Faults[0]), describe(&a.Faults[0])},
		{"expected version", b.Expect.Versions["A"], a.Expect.Versions["A"]},
	} {
		if c.got != c.want {
			t.Errorf("%s: JSON gives %v, YAML %v", c.name, c.got, c.want)
		}
	}
}

// TestPlatformFaults: the faults of the platform link parse with their
// fields and defaults, and put the module behind a platform.
func TestPlatformFaults(t *testing.T) {
	// fields are the fields of a platform fault.
	type fields struct {
		Count          int
		After          Size
		BytesPerSecond int
		Down, For      time.Duration
	}
	tests := []struct {
		fault string
		want  fields
	}{
		{fault: "{type: download_cut}", want: fields{Count: 1}},
		{fault: "{type: download_cut, after: 12KiB, count: 2}", want: fields{Count: 2, After: 12 << 10}},
		{fault: "{type: download_rate, bytes_per_second: 50, for: 2s}", want: fields{BytesPerSecond: 50, For: 2 * time.Second}},
		{fault: "{type: broker_restart, down: 1s, at: {bytes: 8KiB}}", want: fields{Down: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			sc, err := Parse("s.yaml", []byte(minimal+"faults:\n  - "+tt.fault+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !sc.Module.Platform {
				t.Error("module.platform = false, want the fault to imply it")
			}
			f := sc.Faults[0]
			got := fields{Count: f.Count, After: f.After, BytesPerSecond: f.BytesPerSecond, Down: f.Down, For: f.For}
			if got != tt.want {
				t.Errorf("fault %+v, want %+v", got, tt.want)
			}
		})
	}
	sc, err := Parse("s.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Module.Platform {
		t.Error("module.platform = true in a scenario that does not ask for it")
	}
}

// TestUnsupportedFaults: a fault this build cannot run yet parses, and
// Run refuses it with an error wrapping ErrUnsupported that names its
// line. Every fault type runs today; the test plays one that does not.
func TestUnsupportedFaults(t *testing.T) {
	const typ = "test_unsupported"
	faultKinds[typ] = faultKind{unsupported: "this test says so"}
	t.Cleanup(func() { delete(faultKinds, typ) })
	sc, err := Parse("s.yaml", []byte(minimal+"faults:\n  - {type: "+typ+"}\n"))
	if err != nil {
		t.Fatalf("Parse: %v; the syntax of a fault not supported yet must be accepted", err)
	}
	_, err = Run(t.Context(), sc, 1, Options{})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Run = %v, want an error wrapping ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), "s.yaml:6") || !strings.Contains(err.Error(), "faults[0]") || !strings.Contains(err.Error(), "this test says so") {
		t.Errorf("error %q does not name s.yaml:6 and faults[0] and say why", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"16384", 16384, true}, {"16K", 16 << 10, true}, {"16KiB", 16 << 10, true}, {"1M", 1 << 20, true},
		{"1 MiB", 1 << 20, true}, {"512b", 512, true}, {"-1", 0, false}, {"lots", 0, false}, {"", 0, false},
		{"99999999999999999999K", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzScenario feeds the parser arbitrary files, as YAML and as JSON: it
// must never panic, and what it accepts must be complete.
func FuzzScenario(f *testing.F) {
	files, _ := filepath.Glob("../../examples/scenarios/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte(`{"module": {"plans": [{"components": [{"id": "A", "target_version": "2"}]}]}, "faults": [{"type": "random", "count": 2}]}`))
	f.Add([]byte("a: &x [1, *x]\n"))
	f.Add([]byte("{\"a\": [[[[[[[[[[]]]]]]]]]]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"f.yaml", "f.json"} {
			sc, err := Parse(name, data)
			if err != nil {
				var se *SchemaError
				if !errors.As(err, &se) {
					t.Fatalf("Parse(%s) error %v is not a *SchemaError", name, err)
				}
				continue
			}
			if sc.Name == "" || sc.Timeout <= 0 || sc.Link.Baud < 0 {
				t.Fatalf("Parse(%s) accepted a scenario without its defaults: name %q, timeout %v", name, sc.Name, sc.Timeout)
			}
			if sc.Module.Port == "" && len(sc.Module.Plans) == 0 && sc.Module.PlansDir == "" {
				t.Fatalf("Parse(%s) accepted an emulated module without plans", name)
			}
			for _, fl := range sc.Faults {
				if _, ok := faultKinds[fl.Type]; !ok {
					t.Fatalf("Parse(%s) accepted fault type %q", name, fl.Type)
				}
			}
			for _, p := range sc.Module.Plans {
				for _, c := range p.Components {
					if !slices.Contains(packageKinds, c.Package) {
						t.Fatalf("Parse(%s) accepted package %q", name, c.Package)
					}
				}
			}
		}
	})
}
