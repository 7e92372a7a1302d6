package scenario

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// runPlatform runs a scenario given as YAML with seed and returns its
// result, failing the test unless every expectation held.
func runPlatform(t *testing.T, name, yaml string, seed uint64) *Result {
	t.Helper()
	sc, err := Parse(name+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if !sc.Module.Platform {
		t.Fatal("module.platform = false, want the faults to imply it")
	}
	res, err := Run(t.Context(), sc, seed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	res.WriteSummary(&sum)
	if !res.Passed() {
		t.Fatalf("%s failed:\n%s", name, sum.String())
	}
	if res.Platform == nil {
		t.Fatalf("no platform result:\n%s", sum.String())
	}
	t.Logf("\n%s", sum.String())
	return res
}

// texts returns the texts of the events called name, in order.
func texts(res *Result, name string) []string {
	var out []string
	for _, e := range res.Events {
		if e.Name == name {
			out = append(out, e.Text)
		}
	}
	return out
}

// index returns the index of the first event called name whose text
// holds part, or -1.
func index(res *Result, name, part string) int {
	return slices.IndexFunc(res.Events, func(e Event) bool { return e.Name == name && strings.Contains(e.Text, part) })
}

// platformModule is the module of the platform tests: quick events.
const platformModule = `
module:
  event_delay: 2ms
  reg_delay: 5ms
  piece_size: 8KiB
`

// TestDownloadCut: the package server cuts two responses after 12 KiB;
// the module's link resumes each with Range from where it broke, so no
// byte is sent twice, and the update and the platform's task complete.
func TestDownloadCut(t *testing.T) {
	res := runPlatform(t, "cut", platformModule+`
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 32KiB}]
faults:
  - {type: download_cut, after: 12KiB, count: 2}
expect:
  result: updated
  versions: {STM32: 2_0_0}
  events: ["platform:task_succeeded"]
`, 1)
	p := res.Platform
	tests := []struct {
		name      string
		got, want any
	}{
		{"requests", p.Requests, 3},
		{"resumed", p.Resumed, 2},
		{"cuts", p.Cuts, 2},
		{"bytes sent", p.Sent, int64(32 << 10)},
		{"paced", p.Paced, int64(0)},
		{"cut events", len(texts(res, "platform:download_cut")), 2},
		{"task", strings.Join(p.Tasks, "; "), "plan plan-1: STM32 -> 2_0_0 succeeded, step 100 (reported 2_0_0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	reqs := texts(res, "platform:request")
	wants := []string{"Range bytes=0-: 206, 12288 bytes sent, cut", "Range bytes=12288-: 206, 12288 bytes sent, cut", "Range bytes=24576-: 206, 8192 bytes sent"}
	if len(reqs) != len(wants) {
		t.Fatalf("package requests %q, want %d", reqs, len(wants))
	}
	for i, want := range wants {
		if !strings.HasSuffix(reqs[i], want) {
			t.Errorf("request %d: %q, want it to end %q", i+1, reqs[i], want)
		}
	}
}

// TestDownloadCutDrawn: a cut without after falls at a byte drawn from
// the seed: the same byte for the same seed, another for another seed.
func TestDownloadCutDrawn(t *testing.T) {
	yaml := platformModule + `
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 16KiB}]
faults:
  - {type: download_cut}
`
	cut := func(seed uint64) string {
		res := runPlatform(t, "drawn", yaml, seed)
		cuts := texts(res, "platform:download_cut")
		if len(cuts) != 1 || res.Platform.Sent != 16<<10 || res.Platform.Resumed != 1 {
			t.Fatalf("seed %d: cuts %q, %d bytes sent, %d resumed; want one cut, 16384 bytes, 1 resumed", seed, cuts, res.Platform.Sent, res.Platform.Resumed)
		}
		return cuts[0]
	}
	a, b, c := cut(3), cut(3), cut(4)
	if a != b {
		t.Errorf("seed 3 cut %q, then %q", a, b)
	}
	if a == c {
		t.Errorf("seeds 3 and 4 cut at the same byte: %q", a)
	}
}

// TestDownloadRate: at 50 B/s the package server sends the 150-byte
// package in one response, every byte of it paced, which the rate
// models as 3 s; the MCU asks again while the download runs.
func TestDownloadRate(t *testing.T) {
	res := runPlatform(t, "rate", platformModule+`
  plans:
    - components: [{id: STM32, target_version: 2_0_0, size: 150}]
mcu:
  timeouts: {plan: 1s}
faults:
  - {type: download_rate, bytes_per_second: 50}
expect:
  result: updated
  versions: {STM32: 2_0_0}
  events: ["platform:job_pending", "platform:task_succeeded"]
`, 1)
	p := res.Platform
	tests := []struct {
		name      string
		got, want any
	}{
		{"requests", p.Requests, 1},
		{"resumed", p.Resumed, 0},
		{"bytes sent", p.Sent, int64(150)},
		{"bytes paced", p.Paced, int64(150)},
		{"modelled time", p.PacedTime, 3 * time.Second},
		{"job ready after it was pending", index(res, "platform:job_pending", "") < index(res, "platform:job_ready", "STM32@2_0_0"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestBrokerRestart: the broker goes down while the MCU reads the first
// of two components and comes back a second later. The module's link
// reconnects; the first component's new version, reported while the
// broker was down, reaches the platform, which only then pushes the job
// of the second through the restarted broker; both update and the
// platform counts the task a success.
func TestBrokerRestart(t *testing.T) {
	res := runPlatform(t, "broker", platformModule+`
  plans:
    - components:
        - {id: APP, target_version: 2_0_0, size: 16KiB}
        - {id: BLE, target_version: 2_0_0, size: 8KiB}
mcu:
  components: [{id: APP, version: 1_0_0}, {id: BLE, version: 1_0_0}]
faults:
  - {type: broker_restart, at: {bytes: 8KiB}, down: 1s}
expect:
  result: updated
  versions: {APP: 2_0_0, BLE: 2_0_0}
  events: ["platform:broker_down", "platform:broker_up", "platform:link_up", "platform:task_succeeded"]
`, 1)
	p := res.Platform
	down, up := index(res, "platform:broker_down", ""), index(res, "platform:broker_up", "")
	linkUp := index(res, "platform:link_up", "")
	appReady, bleReady := index(res, "platform:job_ready", "APP@2_0_0"), index(res, "platform:job_ready", "BLE@2_0_0")
	tests := []struct {
		name      string
		got, want any
	}{
		{"restarts", p.BrokerRestarts, 1},
		{"reconnects", p.Reconnects, 1},
		{"first job before the restart", appReady >= 0 && appReady < down, true},
		{"broker back after it went down", down < up, true},
		{"link back after the broker", up < linkUp, true},
		{"second job after the restart", down < bleReady, true},
		{"task", strings.Join(p.Tasks, "; "), "plan plan-1: BLE -> 2_0_0 succeeded, step 100 (reported 2_0_0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}
