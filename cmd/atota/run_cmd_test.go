package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickScenario is a scenario that runs in a fraction of a second, with
// what it expects appended.
const quickScenario = `
name: quick
module:
  event_delay: 1ms
  reg_delay: 1ms
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 4KiB}]
mcu:
  timeouts: {plan: 500ms}
`

func writeScenario(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunCommand(t *testing.T) {
	good := writeScenario(t, "quick.yaml", quickScenario+"expect: {result: updated, versions: {STM32: 2_0_0}}\n")
	wrong := writeScenario(t, "wrong.yaml", quickScenario+"expect: {versions: {STM32: 3_0_0}}\n")
	broken := writeScenario(t, "broken.yaml", quickScenario+"faults:\n  - {type: flips, rate: 2}\n")
	cut := writeScenario(t, "cut.yaml", quickScenario+"faults:\n  - {type: download_cut, after: 1000}\n")
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string // parts of stdout
		stderr  []string // parts of stderr
		justOut func(t *testing.T, stdout string)
	}{
		{name: "passes", args: []string{"run", good}, code: exitOK,
			stdout: []string{"PASS quick (seed 0): outcome updated", "ok        versions.STM32: want 2_0_0, got 2_0_0"}},
		{name: "wrong expectation", args: []string{"run", wrong, "--seed", "42"}, code: exitFailure,
			stdout: []string{"FAIL quick (seed 42)", "FAIL      versions.STM32: want 3_0_0, got 2_0_0", "replay:   atota run " + wrong + " --seed 42"},
			stderr: []string{"1 of 1 scenarios failed"}},
		{name: "schema error", args: []string{"run", broken}, code: exitUsage,
			stderr: []string{"broken.yaml:11:", "faults[0].rate", "at most 1"}},
		{name: "platform fault", args: []string{"run", cut}, code: exitOK,
			stdout: []string{"PASS quick", "platform: 2 package requests (1 resumed, 1 cut), 4096 bytes sent", "task:     plan plan-1: STM32 -> 2_0_0 succeeded"}},
		{name: "missing file", args: []string{"run", filepath.Join(t.TempDir(), "nope.yaml")}, code: exitUsage, stderr: []string{"nope.yaml"}},
		{name: "no file", args: []string{"run"}, code: exitUsage, stderr: []string{"requires at least 1 arg"}},
		{name: "matrix", args: []string{"run", good, "--matrix", "3", "--seed", "7"}, code: exitOK,
			stdout: []string{"matrix quick, seeds 7 to 9", "corrupt reported good", "  3     3  "}},
		{name: "json", args: []string{"run", good, "--json"}, code: exitOK, stderr: []string{"PASS quick"},
			justOut: func(t *testing.T, stdout string) {
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				kinds := map[string]int{}
				for _, l := range lines {
					var v map[string]any
					if err := json.Unmarshal([]byte(l), &v); err != nil {
						t.Fatalf("stdout line %q is not JSON: %v", l, err)
					}
					kinds[v["kind"].(string)]++
				}
				var last map[string]any
				json.Unmarshal([]byte(lines[len(lines)-1]), &last)
				if kinds["urc"] == 0 || kinds["cycle"] == 0 || last["kind"] != "result" || last["passed"] != true {
					t.Errorf("JSON lines: kinds %v, last %v; want events, then a passing result", kinds, last)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not hold %q:\n%s", want, stdout.String())
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not hold %q:\n%s", want, stderr.String())
				}
			}
			if tt.justOut != nil {
				tt.justOut(t, stdout.String())
			}
		})
	}
}

// TestRunJUnit runs a passing and a failing scenario into one JUnit file
// and reads it back as a CI system would.
func TestRunJUnit(t *testing.T) {
	good := writeScenario(t, "quick.yaml", quickScenario)
	wrong := writeScenario(t, "wrong.yaml", strings.Replace(quickScenario, "name: quick", "name: wrong", 1)+"expect: {exit_code: 3}\n")
	report := filepath.Join(t.TempDir(), "report.xml")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", good, wrong, "--junit", report}, &stdout, &stderr); code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s%s", code, exitFailure, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s does not parse: %v\n%s", report, err, data)
	}
	if len(got.Suites) != 2 || got.Suites[0].Name != "quick" || got.Suites[1].Name != "wrong" {
		t.Fatalf("suites %+v, want quick and wrong", got.Suites)
	}
	if got.Failures != 1 || got.Suites[0].Failures != 0 || got.Suites[1].Failures != 1 {
		t.Errorf("failures: %d in all, %d and %d by suite; want 1, 0 and 1", got.Failures, got.Suites[0].Failures, got.Suites[1].Failures)
	}
	var msg string
	for _, c := range got.Suites[1].Cases {
		if c.Failure != nil {
			msg = c.Failure.Message
		}
	}
	if msg != "exit_code: want 3, got 0" {
		t.Errorf("failure message %q, want %q", msg, "exit_code: want 3, got 0")
	}
}
