package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Plan states (the "state" field).
const (
	Saved     = "saved"     // being edited; never offered
	Activated = "activated" // offered to devices; never changed in place
	Ended     = "ended"     // over; never offered
)

// Upgrade modes (the "mode" field).
const (
	Silent = "silent" // pushed to the device directly
	Manual = "manual" // offered only after the user confirmed it in an app
)

// Component types (a component's "type" field).
const (
	MCU    = "mcu"    // SOTA: the MCU reads the data with AT+QIOTOTARD
	Module = "module" // FOTA of the module's own firmware
)

// Package kinds (a component's "package" field).
const (
	Full  = "full"
	Delta = "delta"
)

// Plan is one upgrade plan, as loaded from a plan file. A Plan returned by
// [Parse] or [Dir.Load] has passed [Plan.Validate] and has its defaults
// filled in.
type Plan struct {
	Name    string
	Product string // product key the plan is for
	State   string // Saved, Activated (default) or Ended

	Blacklist   []string // device keys never upgraded
	Whitelist   []string // when non-empty, only these device keys are upgraded
	AutoConfirm []string // manual mode: device keys whose users confirm automatically

	Timezone string         // as written: an IANA name or a fixed offset such as "+08:00"
	Location *time.Location // Timezone, loaded
	Window   Window         // the planned time

	// PushPeriod is when the platform pushes the plan by itself; nil
	// means all day.
	PushPeriod *Period

	Mode             string // Silent or Manual
	PushActively     bool   // default true
	RejectionMinutes int    // default 120, 10 to 1440

	Strategy   Strategy
	Components []Component       // upgraded one after another, in order
	Texts      map[string]string // language → upgrade text

	Source string // the file the plan was loaded from, for messages
	Dir    string // the plans directory, for resolving component files
}

// Window is a plan's planned time: absolute instants, written in the plan's
// time zone. Start is inclusive, End exclusive.
type Window struct {
	Start, End time.Time
}

// Period is a push period in whole hours of the plan's time zone, From
// inclusive and To exclusive, each 0 to 24. A period with From > To wraps
// midnight (22 to 2 is four hours); 0 to 24 is the whole day.
type Period struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Strategy is a plan's upgrade strategy.
type Strategy struct {
	Retries      int  // how many more times a failed upgrade is offered again
	MinSignalDBm *int // minimum signal strength in dBm; nil: none
	MinBattery   *int // minimum battery level in percent; nil: none
}

// Component is one component of a plan.
type Component struct {
	Type              string   // MCU or Module
	ID                string   // as the MCU reports it with AT+QIOTMCUVER
	Package           string   // Full or Delta
	TargetVersion     string   // the version that counts as success
	SourceVersion     string   // Delta only: the version the delta applies to
	SpecifiedVersions []string // Full only: when non-nil, the only versions eligible
	File              string   // package file, relative to the plans directory, as written
}

// Path returns the package file's path: c.File inside the plans directory
// p.Dir. When p.Dir is empty it returns c.File itself. Use [Component.Open]
// to open the file without following symbolic links out of the directory.
func (c Component) Path(p *Plan) string {
	return filepath.Join(p.Dir, filepath.FromSlash(c.File))
}

// Open opens the component's package file for reading. It refuses a path,
// including one through a symbolic link, that leaves the plans directory.
func (c Component) Open(p *Plan) (*os.File, error) {
	if p.Dir == "" {
		return nil, fmt.Errorf("plan: %s: open %s: the plan has no plans directory (Plan.Dir is empty)", p.Name, c.File)
	}
	f, err := os.OpenInRoot(p.Dir, filepath.FromSlash(c.File))
	if err != nil {
		return nil, fmt.Errorf("plan: %s: component %s: %w", p.Name, c.ID, err)
	}
	return f, nil
}

// Defaults. The rejection window is the platform's documented default; the
// two minimums are our reading (spec/quecthing-at.md §5 and §7): the
// 7,10700 event always carries a battery limit and a minimum signal, and a
// plan without them must send values that stop nobody.
const (
	DefaultRejectionMinutes = 120
	DefaultMinBattery       = 0    // [INF] percent: no battery limit
	DefaultMinSignalDBm     = -113 // [INF] dBm of CSQ rssi 0, the weakest bucket: no signal limit
)

// MinBattery returns the minimum battery level in percent for the 7,10700
// event: the plan's strategy.min_battery, else [DefaultMinBattery].
func (p *Plan) MinBattery() int {
	if p.Strategy.MinBattery != nil {
		return *p.Strategy.MinBattery
	}
	return DefaultMinBattery
}

// MinSignalDBm returns the minimum signal strength in dBm for the 7,10700
// event: the plan's strategy.min_signal_dbm, else [DefaultMinSignalDBm].
func (p *Plan) MinSignalDBm() int {
	if p.Strategy.MinSignalDBm != nil {
		return *p.Strategy.MinSignalDBm
	}
	return DefaultMinSignalDBm
}

// RejectionWindow returns how long after a refusal a silent, actively
// pushed plan is pushed again.
func (p *Plan) RejectionWindow() time.Duration {
	return time.Duration(p.RejectionMinutes) * time.Minute
}

// NeedsConfirmation reports whether the device with the given key must wait
// for its user's confirmation in the app before the plan is offered: true
// for a manual plan unless the key is in auto_confirm.
func (p *Plan) NeedsConfirmation(deviceKey string) bool {
	return p.Mode == Manual && !contains(p.AutoConfirm, deviceKey)
}

// Text returns the upgrade text for the language lang, falling back to
// English and then Chinese; "" if the plan has none.
func (p *Plan) Text(lang string) string {
	for _, l := range []string{lang, "en", "zh"} {
		if t, ok := p.Texts[l]; ok {
			return t
		}
	}
	return ""
}
