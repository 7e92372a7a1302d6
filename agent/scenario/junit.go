package scenario

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub actions):
// a <testsuites> with one <testsuite> per run and one <testcase> per
// expectation.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// RunError is a scenario that could not be run at all, for WriteJUnit:
// it becomes a test case with an error.
type RunError struct {
	Scenario string
	File     string
	Seed     uint64
	Err      error
}

// Error returns "scenario NAME: ERROR".
func (e *RunError) Error() string { return fmt.Sprintf("scenario %s: %v", e.Scenario, e.Err) }

// Unwrap returns the error the run failed with.
func (e *RunError) Unwrap() error { return e.Err }

// WriteJUnit writes results as JUnit XML: one test suite per run (named
// after the scenario, with the seed when the same scenario ran with
// several), one test case per expectation, a failure per expectation
// that did not hold, and the summary in system-out. errs are runs that
// could not be made: each is a suite with one test case in error.
func WriteJUnit(w io.Writer, results []*Result, errs ...*RunError) error {
	all := junitSuites{Name: "atota run"}
	var total time.Duration
	runs := map[string]int{}
	for _, r := range results {
		runs[r.Scenario]++
	}
	for _, r := range results {
		name := r.Scenario
		if runs[r.Scenario] > 1 {
			name = fmt.Sprintf("%s seed %d", r.Scenario, r.Seed)
		}
		s := junitSuite{
			Name: name, Time: secs(r.Duration),
			Properties: []junitProperty{
				{Name: "file", Value: r.File},
				{Name: "seed", Value: strconv.FormatUint(r.Seed, 10)},
				{Name: "outcome", Value: string(r.Outcome)},
				{Name: "replay", Value: fmt.Sprintf("atota run %s --seed %d", cmp(r.File, r.Scenario), r.Seed)},
			},
		}
		for _, c := range r.Checks {
			tc := junitCase{Name: c.Name, ClassName: "scenario." + r.Scenario, Time: "0"}
			if !c.OK {
				msg := fmt.Sprintf("%s: want %s, got %s", c.Name, c.Want, c.Got)
				tc.Failure = &junitFailure{Message: msg, Type: "expectation", Text: msg + fmt.Sprintf("\nreplay: atota run %s --seed %d", cmp(r.File, r.Scenario), r.Seed)}
				s.Failures++
			}
			s.Cases = append(s.Cases, tc)
		}
		var b strings.Builder
		r.WriteSummary(&b)
		s.SystemOut = b.String()
		s.Tests = len(s.Cases)
		all.Tests += s.Tests
		all.Failures += s.Failures
		total += r.Duration
		all.Suites = append(all.Suites, s)
	}
	for _, e := range errs {
		msg := e.Err.Error()
		all.Suites = append(all.Suites, junitSuite{
			Name: e.Scenario, Tests: 1, Errors: 1, Time: "0",
			Properties: []junitProperty{{Name: "file", Value: e.File}, {Name: "seed", Value: strconv.FormatUint(e.Seed, 10)}},
			Cases:      []junitCase{{Name: "run", ClassName: "scenario." + e.Scenario, Time: "0", Error: &junitFailure{Message: msg, Type: "error", Text: msg}}},
		})
		all.Tests++
		all.Errors++
	}
	all.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("scenario: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// MarshalJSON writes the result as one JSON object of kind "result",
// without its events (those are written as they happen).
func (r *Result) MarshalJSON() ([]byte, error) {
	type check struct {
		Name string `json:"name"`
		Want string `json:"want"`
		Got  string `json:"got"`
		OK   bool   `json:"ok"`
	}
	type comp struct {
		ID        string `json:"id"`
		From      string `json:"from"`
		Version   string `json:"version"`
		Target    string `json:"target,omitempty"`
		Size      int64  `json:"size,omitempty"`
		Served    int64  `json:"served,omitempty"`
		Package   string `json:"package,omitempty"`
		ImageSize int64  `json:"image_size,omitempty"`
	}
	type plat struct {
		Requests       int      `json:"requests"`
		Resumed        int      `json:"resumed"`
		Cuts           int      `json:"cuts"`
		Sent           int64    `json:"sent_bytes"`
		Paced          int64    `json:"paced_bytes"`
		PacedTime      float64  `json:"paced_time"`
		BrokerRestarts int      `json:"broker_restarts"`
		Reconnects     int      `json:"reconnects"`
		Tasks          []string `json:"tasks"`
	}
	out := struct {
		Kind       string   `json:"kind"`
		Scenario   string   `json:"scenario"`
		File       string   `json:"file,omitempty"`
		Seed       uint64   `json:"seed"`
		Passed     bool     `json:"passed"`
		Outcome    Outcome  `json:"outcome"`
		Reason     string   `json:"reason,omitempty"`
		ExitCode   int      `json:"mcu_exit_code"`
		Duration   float64  `json:"duration"`
		Wall       float64  `json:"wall"`
		LineTime   float64  `json:"line_time"`
		Cycles     int      `json:"cycles"`
		Components []comp   `json:"components"`
		Package    int64    `json:"package_bytes"`
		Reread     int64    `json:"reread_bytes"`
		Corrupt    []string `json:"corrupt"`
		Faults     []string `json:"faults"`
		Platform   *plat    `json:"platform,omitempty"`
		Checks     []check  `json:"checks"`
	}{
		Kind: "result", Scenario: r.Scenario, File: r.File, Seed: r.Seed, Passed: r.Passed(),
		Outcome: r.Outcome, Reason: r.Reason, ExitCode: r.Outcome.ExitCode(),
		Duration: r.Duration.Seconds(), Wall: r.Wall.Seconds(), LineTime: r.LineTime.Seconds(),
		Cycles: r.Cycles, Package: r.PackageBytes, Reread: r.Reread,
		Corrupt: nonNil(r.Corrupt), Faults: nonNil(r.Faults), Checks: []check{}, Components: []comp{},
	}
	if p := r.Platform; p != nil {
		out.Platform = &plat{Requests: p.Requests, Resumed: p.Resumed, Cuts: p.Cuts, Sent: p.Sent, Paced: p.Paced,
			PacedTime: p.PacedTime.Seconds(), BrokerRestarts: p.BrokerRestarts, Reconnects: p.Reconnects, Tasks: nonNil(p.Tasks)}
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, check(c))
	}
	for _, c := range r.Components {
		out.Components = append(out.Components, comp(c))
	}
	return json.Marshal(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
