package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/atota/atota/internal/atomicfile"
)

// Task statuses on the platform.
const (
	TaskConfirming = "pending-confirmation" // a manual plan waits for the app
	TaskQueued     = "queued"               // eligible, not pushed yet
	TaskPushed     = "pushed"               // pushed, no progress yet
	TaskUpgrading  = "upgrading"            // progress reported
	TaskSucceeded  = "succeeded"            // the device reported the target version
	TaskFailed     = "failed"               // a failure step, or the timeout
	TaskRefused    = "refused"              // the device refused; pushed again after the rejection window
	TaskCanceled   = "canceled"             // overwritten by a later plan, or the plan ended
)

// Task is where one device stands with one plan.
type Task struct {
	Plan      string    `json:"plan"`
	Component string    `json:"component"`
	From      string    `json:"from,omitempty"` // the version when the task began
	Target    string    `json:"target"`
	Status    string    `json:"status"`
	Step      int       `json:"step"`
	Desc      string    `json:"desc,omitempty"`
	Pushes    int       `json:"pushes"`
	Failures  int       `json:"failures"`
	Confirmed bool      `json:"confirmed,omitempty"`
	Pushed    time.Time `json:"pushed,omitzero"`  // last push
	Started   time.Time `json:"started,omitzero"` // first progress of this attempt
	Retry     time.Time `json:"retry,omitzero"`   // not before: retry interval or rejection window
	Updated   time.Time `json:"updated"`
}

// DeviceStatus is what the platform knows of a device.
type DeviceStatus struct {
	Product  string            `json:"product"`
	Device   string            `json:"device"`
	Versions map[string]string `json:"versions,omitempty"`
	Seen     time.Time         `json:"seen"`
	Tasks    []*Task           `json:"tasks,omitempty"`
}

// Status is the platform's state: every device and its tasks.
type Status struct {
	Version int             `json:"version"`
	Devices []*DeviceStatus `json:"devices"`
}

func (s *Status) device(pk, dn string) *DeviceStatus {
	for _, d := range s.Devices {
		if d.Product == pk && d.Device == dn {
			return d
		}
	}
	d := &DeviceStatus{Product: pk, Device: dn, Versions: map[string]string{}}
	s.Devices = append(s.Devices, d)
	slices.SortFunc(s.Devices, func(a, b *DeviceStatus) int {
		return strings.Compare(a.Product+"/"+a.Device, b.Product+"/"+b.Device)
	})
	return d
}

func (d *DeviceStatus) task(planName string) *Task {
	for _, t := range d.Tasks {
		if t.Plan == planName {
			return t
		}
	}
	return nil
}

// ReadStatus reads a platform state file.
func ReadStatus(path string) (*Status, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Status{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: state: %w", err)
	}
	var s Status
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("platform: state %s: %v", path, err)
	}
	return &s, nil
}

func (s *Status) save(path string) error {
	return atomicfile.WriteJSON(path, s, 0o644)
}

// Table writes the status as an aligned text table, one line per task
// (and one per device without tasks).
func (s *Status) Table() string {
	rows := [][]string{{"DEVICE", "PRODUCT", "PLAN", "COMPONENT", "VERSION", "TARGET", "STATUS", "STEP", "PUSHES", "FAILS", "UPDATED", "DETAIL"}}
	for _, d := range s.Devices {
		if len(d.Tasks) == 0 {
			rows = append(rows, []string{d.Device, d.Product, "-", "-", versionsText(d.Versions), "-", "no task", "-", "-", "-", d.Seen.Local().Format("15:04:05"), ""})
		}
		for _, t := range d.Tasks {
			rows = append(rows, []string{d.Device, d.Product, t.Plan, t.Component, orDash(d.Versions[t.Component]), t.Target, t.Status,
				fmt.Sprint(t.Step), fmt.Sprint(t.Pushes), fmt.Sprint(t.Failures), t.Updated.Local().Format("15:04:05"), t.Desc})
		}
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)+2))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func versionsText(v map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(v) {
		parts = append(parts, k+"="+v[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
