package scenario

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// examples is where the built-in scenarios are.
const examples = "../../examples/scenarios"

// notYet lists the built-in scenarios that need a feature of another
// package that has not landed, and why; Run must refuse them with
// ErrUnsupported, never pass them silently.
var notYet = map[string]string{}

// knownFailing lists the built-in scenarios whose expectations the
// packages they test do not meet yet, and why: they must run, and fail.
var knownFailing = map[string]string{}

func TestBuiltinScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) < 9 {
		t.Fatalf("built-in scenarios: %d files (%v), want at least 9", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(t.Context(), sc, sc.Seed, Options{})
			if why, ok := notYet[name]; ok {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Run = %v, want ErrUnsupported (%s)", err, why)
				}
				t.Logf("not supported yet, as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sum bytes.Buffer
			res.WriteSummary(&sum)
			if why, ok := knownFailing[name]; ok {
				if res.Passed() {
					t.Fatalf("%s passes now: take it off knownFailing (%s)\n%s", name, why, sum.String())
				}
				t.Logf("fails, as known (%s):\n%s", why, sum.String())
				return
			}
			if !res.Passed() {
				t.Fatalf("%s failed:\n%s", name, sum.String())
			}
			if len(res.Corrupt) > 0 {
				t.Fatalf("corrupt images reported good: %q", res.Corrupt)
			}
		})
	}
}

// TestWrongExpectation: a scenario whose expectation does not hold fails,
// and the result says what differed and how to replay it.
func TestWrongExpectation(t *testing.T) {
	sc, err := Parse("wrong.yaml", []byte(`
name: wrong
module:
  event_delay: 1ms
  reg_delay: 1ms
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 4KiB}]
mcu:
  timeouts: {plan: 500ms}
expect:
  result: updated
  versions: {STM32: 3_0_0}
  events: ["7,10706"]
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), sc, 5, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed() {
		t.Fatal("the run passed, want it to fail")
	}
	tests := []struct {
		name string
		want string
	}{
		{name: "version", want: "versions.STM32: want 3_0_0, got 2_0_0"},
		{name: "event", want: "events 7,10706: want seen, got seen 0 times"},
		{name: "replay", want: "atota run wrong.yaml --seed 5"},
	}
	msg := res.Err().Error()
	var sum bytes.Buffer
	res.WriteSummary(&sum)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Err() = %q, want it to say %q", msg, tt.want)
			}
			if !strings.Contains(sum.String(), tt.want) && tt.name != "version" && tt.name != "event" {
				t.Errorf("summary does not say %q:\n%s", tt.want, sum.String())
			}
		})
	}
	if !strings.Contains(sum.String(), "FAIL      versions.STM32: want 3_0_0, got 2_0_0") {
		t.Errorf("summary does not mark the version FAIL:\n%s", sum.String())
	}
	for _, c := range res.Checks {
		if c.Name == "result" && !c.OK {
			t.Errorf("result check failed: %+v; the update itself went through", c)
		}
	}
}

// TestJUnitReadBack writes JUnit XML for a passing and a failing run and
// reads it back with encoding/xml, as a CI system would.
func TestJUnitReadBack(t *testing.T) {
	pass := &Result{Scenario: "ok", File: "ok.yaml", Seed: 1, Outcome: Updated, Duration: 1500 * time.Millisecond,
		Checks: []Check{{Name: "result", Want: "updated", Got: "updated", OK: true}}}
	fail := &Result{Scenario: "bad", File: "bad.yaml", Seed: 9, Outcome: Failed, Duration: time.Second,
		Checks: []Check{{Name: "result", Want: "updated", Got: "failed", OK: false}, {Name: "exit_code", Want: "0", Got: "1", OK: false}}}
	runErr := &RunError{Scenario: "later", File: "later.yaml", Seed: 3, Err: fmt.Errorf("signal faults are %w", ErrUnsupported)}
	var b bytes.Buffer
	if err := WriteJUnit(&b, []*Result{pass, fail}, runErr); err != nil {
		t.Fatal(err)
	}
	var got struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Suites   []struct {
			Name       string `xml:"name,attr"`
			Tests      int    `xml:"tests,attr"`
			Failures   int    `xml:"failures,attr"`
			Time       string `xml:"time,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Class   string `xml:"classname,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
			Out string `xml:"system-out"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("the JUnit XML does not parse: %v\n%s", err, b.String())
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"tests", got.Tests, 4},
		{"failures", got.Failures, 2},
		{"errors", got.Errors, 1},
		{"suites", len(got.Suites), 3},
		{"suite name", got.Suites[0].Name, "ok"},
		{"suite time", got.Suites[0].Time, "1.500"},
		{"passing case", got.Suites[0].Cases[0].Failure == nil, true},
		{"failing suite failures", got.Suites[1].Failures, 2},
		{"failure message", got.Suites[1].Cases[0].Failure.Message, "result: want updated, got failed"},
		{"classname", got.Suites[1].Cases[0].Class, "scenario.bad"},
		{"seed property", got.Suites[1].Properties[1].Value, "9"},
		{"replay property", got.Suites[1].Properties[3].Value, "atota run bad.yaml --seed 9"},
		{"summary", strings.Contains(got.Suites[1].Out, "replay:   atota run bad.yaml --seed 9"), true},
		{"error case", strings.Contains(got.Suites[2].Cases[0].Error.Message, "not supported yet"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestResultJSON: the result line of --json is one object with the
// checks.
func TestResultJSON(t *testing.T) {
	r := &Result{Scenario: "s", Seed: 2, Outcome: Refused, Checks: []Check{{Name: "result", Want: "refused", Got: "refused", OK: true}}}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"kind": "result", "outcome": "refused", "passed": true, "mcu_exit_code": 3.0, "seed": 2.0} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (%s)", key, got[key], want, data)
		}
	}
	e, _ := json.Marshal(Event{T: 1500 * time.Microsecond, Kind: "urc", Name: "7,10700", Cycle: 1, Text: "+QIOTEVT: 7,10700"})
	if want := `{"t":0.0015,"kind":"urc","name":"7,10700","cycle":1,"text":"+QIOTEVT: 7,10700"}`; string(e) != want {
		t.Errorf("event JSON %s, want %s", e, want)
	}
}

// matrixSeeds is how many seeds of the randomized fault matrix the normal
// suite runs; ATOTA_MATRIX=N runs N (the figure for the notes is 1000).
func matrixSeeds(t *testing.T) int {
	if s := os.Getenv("ATOTA_MATRIX"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("ATOTA_MATRIX=%q: want a number of seeds", s)
		}
		return n
	}
	if testing.Short() {
		return 4
	}
	return 12
}

// TestRandomFaultMatrix runs the randomized fault matrix: every run must
// end updated (the plan allows enough retries for every fault drawn), and
// no corrupt image may be reported good.
func TestRandomFaultMatrix(t *testing.T) {
	sc, err := Load(filepath.Join(examples, "random-faults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	n := matrixSeeds(t)
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(1000 + i)
	}
	m, err := RunMatrix(t.Context(), sc, seeds, 0, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	m.WriteTable(&table)
	t.Log("\n" + table.String())
	c := m.Counts()
	if c.Runs != n {
		t.Fatalf("%d runs, want %d", c.Runs, n)
	}
	if c.Corrupt != 0 {
		t.Errorf("%d runs with a corrupt image reported good, want 0", c.Corrupt)
	}
	if c.Updated != n {
		t.Errorf("%d of %d runs updated, want all", c.Updated, n)
	}
	if !m.Passed() {
		t.Errorf("the matrix failed:\n%s", table.String())
	}
}

// TestDeterministicFaults: two runs with one seed draw the same faults;
// another seed draws others.
func TestDeterministicFaults(t *testing.T) {
	sc, err := Load(filepath.Join(examples, "random-faults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	draw := func(seed uint64) string {
		r := &runner{sc: sc, seed: seed}
		var d []string
		for _, a := range r.draw() {
			d = append(d, a.desc)
		}
		return strings.Join(d, "; ")
	}
	if a, b := draw(17), draw(17); a != b {
		t.Errorf("seed 17 drew %q, then %q", a, b)
	}
	if draw(17) == draw(18) {
		t.Errorf("seeds 17 and 18 drew the same faults: %q", draw(17))
	}
}
