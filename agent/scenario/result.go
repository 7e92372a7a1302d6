package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Outcome is how an update ended.
type Outcome string

// Outcomes.
const (
	// Updated: every component a plan offered reached its target version
	// and that image boots.
	Updated Outcome = "updated"
	// Refused: the MCU refused the plan by policy (battery, signal,
	// space).
	Refused Outcome = "refused"
	// Failed: the MCU used up its attempts, the plan offered no more, or
	// the run timed out, before every component was updated.
	Failed Outcome = "failed"
	// NoPlan: the module offered nothing and nothing changed.
	NoPlan Outcome = "no_plan"
)

// ExitCode returns the exit code atota mcu --once gives for the outcome:
// 0 updated or nothing to do, 3 refused, 1 failed.
func (o Outcome) ExitCode() int {
	switch o {
	case Updated, NoPlan:
		return 0
	case Refused:
		return 3
	}
	return 1
}

// Result is what a scenario run did and whether its expectations held.
type Result struct {
	Scenario string
	File     string
	Seed     uint64

	Outcome Outcome
	Reason  string // why the outcome is not Updated, or what went wrong

	// Duration is the run's duration as reported and checked: with an
	// unpaced link of a baud rate, the time measured (Wall) plus the time
	// the bytes exchanged take on that line (LineTime, the UART model);
	// otherwise Wall.
	Duration time.Duration
	Wall     time.Duration
	LineTime time.Duration

	Cycles     int               // the emulated MCU's update cycles
	Components []ComponentResult // in the MCU's order
	// PackageBytes is the sum of the sizes of the components downloaded;
	// Reread the package bytes served more than once.
	PackageBytes, Reread int64
	// Corrupt describes every image reported good that is not: must be
	// empty.
	Corrupt []string
	// Faults describes the faults of the run, random ones as drawn.
	Faults []string
	// Platform is what the local platform saw, with module.platform;
	// nil otherwise.
	Platform *PlatformResult

	Events []Event
	Checks []Check
}

// ComponentResult is the state of one component at the end.
type ComponentResult struct {
	ID      string
	From    string // version before the run
	Version string // version at the end: what boots (emulated MCU) or what the MCU reported
	Target  string // the plans' target version; "" if no plan names it
	Size    int64  // package size, if downloaded
	Served  int64  // package bytes served, reads again included
	// Package is "full" or "delta" for an atota package, "" for a raw
	// image; ImageSize is the size of the image the package builds, so
	// that Served/ImageSize is what crossed the link for each byte of
	// the image.
	Package   string
	ImageSize int64
}

// PlatformResult is what the local platform of a run (module.platform)
// saw: its package server's requests and bytes, its broker's restarts,
// and where the module's tasks stand at the end.
type PlatformResult struct {
	Requests int   // package requests answered
	Resumed  int   // of them, for a range from past the first byte
	Cuts     int   // responses cut by download_cut faults
	Sent     int64 // package bytes sent, in all responses
	Paced    int64 // of them, sent at the rate of a download_rate fault
	// PacedTime is the time the paced bytes take at their rates: the
	// download time the rate models.
	PacedTime time.Duration
	// BrokerRestarts counts the broker_restart faults that took the
	// broker down; Reconnects the times the module's link connected
	// again after one.
	BrokerRestarts, Reconnects int
	// Tasks says where each task of the module's device stands at the
	// end, as the platform sees it: "plan NAME: STM32 -> 2_0_0
	// succeeded, step 100 (...)".
	Tasks []string
}

// Check is one expectation and whether it held.
type Check struct {
	Name string // "result", "versions.STM32", "events 7,10705", ...
	Want string
	Got  string
	OK   bool
}

// Passed reports whether every expectation held and no corrupt image was
// reported good.
func (r *Result) Passed() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Corrupt) == 0
}

// RereadRatio returns the package bytes read again as a fraction of the
// package sizes.
func (r *Result) RereadRatio() float64 {
	if r.PackageBytes == 0 {
		return 0
	}
	return float64(r.Reread) / float64(r.PackageBytes)
}

// Event is one thing that happened in a run, for the JSON lines output
// and for the events expectations.
type Event struct {
	T     time.Duration // since the run started
	Kind  string        // run, cycle, urc, fault, flash, module, package, platform, end
	Name  string        // what expectations match: "7,10705", "fault:mcu_reset", "cycle:verify_failed"
	Cycle int           // the MCU's update cycle; 0 outside one
	Text  string        // details for people
}

// MarshalJSON writes the event as one JSON object with the time in
// seconds: {"t":0.012,"kind":"urc","name":"7,10700","cycle":1,"text":"..."}.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		T     float64 `json:"t"`
		Kind  string  `json:"kind"`
		Name  string  `json:"name"`
		Cycle int     `json:"cycle,omitempty"`
		Text  string  `json:"text,omitempty"`
	}{math.Round(e.T.Seconds()*1e6) / 1e6, e.Kind, e.Name, e.Cycle, e.Text})
}

// WriteSummary writes the run for people: the outcome, the components,
// the faults, each expectation, and how to replay the run.
func (r *Result) WriteSummary(w io.Writer) error {
	var b strings.Builder
	status := "PASS"
	if !r.Passed() {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s (seed %d): outcome %s after %s", status, r.Scenario, r.Seed, r.Outcome, seconds(r.Duration))
	if r.LineTime > 0 {
		fmt.Fprintf(&b, " (%s measured + %s on the line)", seconds(r.Wall), seconds(r.LineTime))
	}
	if r.Cycles > 0 {
		fmt.Fprintf(&b, ", %d update cycle%s", r.Cycles, plural(r.Cycles))
	}
	b.WriteString("\n")
	if r.Reason != "" {
		fmt.Fprintf(&b, "  why:      %s\n", r.Reason)
	}
	for _, c := range r.Components {
		fmt.Fprintf(&b, "  %-9s %s -> %s", c.ID+":", c.From, c.Version)
		if c.Target != "" && c.Target != c.Version {
			fmt.Fprintf(&b, " (plan: %s)", c.Target)
		}
		switch {
		case c.Package != "" && c.ImageSize > 0:
			fmt.Fprintf(&b, ", %s package of %d bytes for a %d-byte image, %d bytes served (%.1f%% of the image)",
				c.Package, c.Size, c.ImageSize, c.Served, 100*float64(c.Served)/float64(c.ImageSize))
		case c.Size > 0:
			fmt.Fprintf(&b, ", %d-byte package, %d bytes served", c.Size, c.Served)
		}
		b.WriteString("\n")
	}
	if r.PackageBytes > 0 {
		fmt.Fprintf(&b, "  reread:   %d bytes, %.2f of the packages\n", r.Reread, r.RereadRatio())
	}
	if p := r.Platform; p != nil {
		fmt.Fprintf(&b, "  platform: %d package request%s (%d resumed, %d cut), %d bytes sent", p.Requests, plural(p.Requests), p.Resumed, p.Cuts, p.Sent)
		if p.Paced > 0 {
			fmt.Fprintf(&b, ", %d of them paced (%s at the download rate)", p.Paced, seconds(p.PacedTime))
		}
		if p.BrokerRestarts > 0 {
			fmt.Fprintf(&b, "; broker down %d time%s, link back %d time%s", p.BrokerRestarts, plural(p.BrokerRestarts), p.Reconnects, plural(p.Reconnects))
		}
		b.WriteString("\n")
		for _, t := range p.Tasks {
			fmt.Fprintf(&b, "  task:     %s\n", t)
		}
	}
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  fault:    %s\n", f)
	}
	for _, c := range r.Corrupt {
		fmt.Fprintf(&b, "  CORRUPT:  %s\n", c)
	}
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s      %s: want %s, got %s\n", mark, c.Name, c.Want, c.Got)
	}
	if !r.Passed() {
		fmt.Fprintf(&b, "  replay:   atota run %s --seed %d\n", cmp(r.File, r.Scenario), r.Seed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
