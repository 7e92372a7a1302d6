package scenario

import (
	"time"
)

// Scenario is one hardware-in-the-loop scenario as read from a file: the
// module, the MCU, the link between them, the faults to inject and what
// must hold at the end. Parse and Load fill in the defaults; the field
// comments give them.
type Scenario struct {
	Name        string        `scenario:"name"`        // default: the file name without extension
	Description string        `scenario:"description"` // one or two sentences for the summary
	Seed        uint64        `scenario:"seed"`        // default seed of the faults; --seed overrides it
	Timeout     time.Duration `scenario:"timeout"`     // the longest the run may take; default 2m

	Module ModuleSpec `scenario:"module"`
	MCU    MCUSpec    `scenario:"mcu"`
	Link   LinkSpec   `scenario:"link"`
	Faults []Fault    `scenario:"faults"`
	Expect Expect     `scenario:"expect"`

	// File is the scenario file as given to Load ("" for Parse of data
	// with no name); Dir is the directory relative paths in it are read
	// in, and that they cannot leave.
	File string `scenario:"-"`
	Dir  string `scenario:"-"`

	pos positions // where each field was written, for errors after parsing
}

// ModuleSpec describes the module: emulated (the default), fed by plans
// written in the scenario or taken from a plans directory, directly or
// through a local platform, or a real one on a port.
type ModuleSpec struct {
	// Port is a real module on a serial port (PORT as atota mcu takes
	// it): the emulated MCU talks to it and the plans come from its
	// platform. Empty: the module is emulated.
	Port string `scenario:"port"`
	Baud int    `scenario:"baud"` // of Port when it is a serial device; default 115200

	Product    string         `scenario:"product"`     // product key; default "p1demo"
	PieceSize  Size           `scenario:"piece_size"`  // bytes the module holds at once; default 65536
	CSQ        *int           `scenario:"csq"`         // signal, AT+CSQ rssi 0-31 or 99; default 25
	Battery    *int           `scenario:"battery"`     // the module's AT+CBC percent; default 100
	EventDelay *time.Duration `scenario:"event_delay"` // OK to the events it causes; default 20ms
	RegDelay   *time.Duration `scenario:"reg_delay"`   // AT+QIOTREG=1 to its events; default 200ms
	PlansDir   string         `scenario:"plans_dir"`   // a plans directory, relative to the scenario file
	Plans      []PlanSpec     `scenario:"plans"`       // plans written for the run, with generated packages

	// Platform puts a local platform (agent/platform) between the plans
	// and the module: an embedded MQTT broker and a package server with
	// Range, on loopback. The platform pushes the plans as jobs to the
	// module's platform link, which downloads and verifies each package
	// and only then offers it to the MCU. download_cut, download_rate
	// and broker_restart faults imply it. Default false: the module reads
	// the plans directly.
	Platform bool `scenario:"platform"`
}

// PlanSpec is an upgrade plan written for the run (spec/plan-format.md),
// its packages generated: deterministic images of the given sizes.
type PlanSpec struct {
	Name         string            `scenario:"name"`          // default: "plan-N"
	Mode         string            `scenario:"mode"`          // silent (default) or manual
	Window       WindowSpec        `scenario:"window"`        // default: from an hour before the start to a day after
	PushActively *bool             `scenario:"push_actively"` // default true
	Strategy     StrategySpec      `scenario:"strategy"`      //
	Texts        map[string]string `scenario:"texts"`         // manual plans: default {"en": "Scenario update"}
	AutoConfirm  []string          `scenario:"auto_confirm"`  // device keys
	Components   []ComponentSpec   `scenario:"components"`    // at least one
}

// WindowSpec is a plan's window: each end either an absolute time
// "YYYY-MM-DD hh:mm" (UTC) or an offset from the run's start, "-1h" or
// "+30m". The module's clock starts at the run's start rounded down to
// the minute, and moves on in real time (and with clock faults).
type WindowSpec struct {
	Start string `scenario:"start"` // default "-1h"
	End   string `scenario:"end"`   // default "+24h"
}

// StrategySpec is a plan's upgrade strategy.
type StrategySpec struct {
	Retries      int  `scenario:"retries"`        // failed upgrades offered again; default 0
	MinBattery   *int `scenario:"min_battery"`    // percent
	MinSignalDBm *int `scenario:"min_signal_dbm"` // dBm
}

// ComponentSpec is one component of a plan written for the run.
type ComponentSpec struct {
	ID            string `scenario:"id"`             // as the MCU reports it
	TargetVersion string `scenario:"target_version"` //
	// Size is the size of the generated image; default 16384. A delta's
	// new image is a rebuild of the MCU's image of this size, a little
	// longer.
	Size      Size     `scenario:"size"`
	Specified []string `scenario:"specified_versions"`
	// Package is what the module serves: raw (the default), the image
	// itself; full, an atota package (agent/pack) of the image; delta,
	// an atota package that rebuilds the image from the one the MCU
	// runs. A delta is for the first of mcu.components, from its
	// version (the plan's source_version), and its new image is a
	// rebuild of the old one: a few words changed, a block of code
	// inserted, the version tag changed.
	Package string `scenario:"package"`
	// Sign signs a full or delta package with the run's key (see
	// MCUSpec.VerifyKey).
	Sign bool `scenario:"sign"`
}

// MCUSpec describes the MCU: emulated (the default), writing to a
// simulated flash per component, or an external device on a port.
type MCUSpec struct {
	// Port puts an external MCU on this PORT: the emulated module serves
	// it there (pty:PATH for a process or a board on a virtual serial
	// pair, a serial device, tcp-listen://...). Empty: the MCU is
	// emulated.
	Port string `scenario:"port"`
	Baud int    `scenario:"baud"` // of Port when it is a serial device; default 115200
	// Shell commands for an external MCU: ResetCommand for mcu_reset
	// faults, PowerOffCommand and PowerOnCommand for power_cut faults.
	ResetCommand    string `scenario:"reset_command"`
	PowerOffCommand string `scenario:"power_off_command"`
	PowerOnCommand  string `scenario:"power_on_command"`

	// Components and their versions before the update, in the order the
	// MCU reports them; default one, STM32 1_0_0.
	Components []ComponentVersion `scenario:"components"`
	Part       string             `scenario:"part"`    // flashsim part of every component's flash; default stm32f103cb
	Battery    *int               `scenario:"battery"` // percent; default 100
	SHA256     bool               `scenario:"sha256"`  // ask for plans with AT+QIOTOTAREQ=1
	Block      int                `scenario:"block"`   // AT+QIOTOTARD read size; default 1024
	Timeouts   TimeoutSpec        `scenario:"timeouts"`
	// Attempts is how many update cycles may fail on their own (a failed
	// verification, a timeout) before the MCU gives up; default one more
	// than the largest strategy.retries of the plans. Cycles cut short by
	// an injected reset, power cut, module reboot or link loss do not
	// count: the MCU starts again, as real firmware does after a reset.
	Attempts int `scenario:"attempts"`
	// RetryDelay is the pause between cycles; default 100ms.
	RetryDelay *time.Duration `scenario:"retry_delay"`
	// VerifyKey makes the MCU require signed packages, as atota mcu
	// --verify-key does: "scenario", the public key of the key the run
	// signs with (sign: true); "wrong", a key that signed nothing, so
	// that every update is refused. Empty: no signature is required.
	VerifyKey string `scenario:"verify_key"`
}

// ComponentVersion is one MCU component and its version.
type ComponentVersion struct {
	ID      string `scenario:"id"`
	Version string `scenario:"version"`
}

// TimeoutSpec sets the emulated MCU's timeouts; zero fields keep the
// defaults given.
type TimeoutSpec struct {
	Command  time.Duration `scenario:"command"`  // a plain command; default 1s
	Read     time.Duration `scenario:"read"`     // AT+QIOTOTARD to its header; default 3s
	Payload  time.Duration `scenario:"payload"`  // the header to the end of its payload; default 10s
	Register time.Duration `scenario:"register"` // AT+QIOTREG=1 to 3,10200; default 10s
	Plan     time.Duration `scenario:"plan"`     // AT+QIOTOTAREQ to 7,10700; default 2s
	Event    time.Duration `scenario:"event"`    // between the events of a transfer; default 5s
}

// LinkSpec describes the serial link between module and MCU.
type LinkSpec struct {
	// Baud is the line's rate, 8N1 (Parity: 8E1); 0 is a link with no
	// rate. Without Pace, bytes move at memory speed and the reported
	// duration adds the time they would take on this line (the UART
	// model); with Pace, both ends are paced to it in real time.
	Baud   int  `scenario:"baud"`
	Parity bool `scenario:"parity"`
	Pace   bool `scenario:"pace"`
}

// Fault is one fault to inject: what (Type), when (At) and for how long
// (For), with the fields its type takes (see the package documentation).
type Fault struct {
	Type string  `scenario:"type"`
	At   Trigger `scenario:"at"`
	// For is how long a lasting fault (flips, drops, delay, split,
	// link_loss, signal, download_rate) stays on; 0 is to the end of the
	// run.
	For time.Duration `scenario:"for"`

	Direction string        `scenario:"direction"` // to_mcu, to_module or both (default)
	Rate      float64       `scenario:"rate"`      // flips, drops: chance per byte
	Delay     time.Duration `scenario:"delay"`     // delay: per write
	Jitter    time.Duration `scenario:"jitter"`    // delay: random extra up to this

	Count    int           `scenario:"count"`    // urc_storm: lines; random: faults drawn; download_cut: responses cut
	Interval time.Duration `scenario:"interval"` // urc_storm: between lines
	Lines    []string      `scenario:"lines"`    // urc_storm: the lines sent, in turn

	Down time.Duration `scenario:"down"` // module_reboot, power_cut, broker_restart: how long it stays off

	Op        int    `scenario:"op"`        // power_cut: the flash operation cut, counted from the cycle's start
	Every     int    `scenario:"every"`     // power_cut: cycle k is cut at operation k*every
	Component string `scenario:"component"` // corrupt_block: only this component

	Block  int      `scenario:"block"`  // corrupt_block: the n-th AT+QIOTOTARD answer (1-based)
	Offset *Size    `scenario:"offset"` // corrupt_block: the answer carrying this byte of the package
	Repeat bool     `scenario:"repeat"` // corrupt_block: every time, not once
	Pool   []string `scenario:"pool"`   // random: the fault types drawn from

	Advance        time.Duration `scenario:"advance"`          // clock: how far the module's clock jumps
	Percent        *int          `scenario:"percent"`          // battery: the MCU's new battery level
	CSQ            *int          `scenario:"csq"`              // signal: the module's new AT+CSQ rssi
	BytesPerSecond int           `scenario:"bytes_per_second"` // download_rate: the package server's rate
	// After is how many bytes of a package response download_cut lets
	// through before it drops the connection; 0 draws the byte from the
	// seed.
	After Size `scenario:"after"`
}

// Trigger says when a fault starts. Each set field is a condition and
// the fault starts when the first of them holds; with none set it starts
// with the run.
type Trigger struct {
	Time  time.Duration `scenario:"time"`  // this long after the run starts
	Bytes Size          `scenario:"bytes"` // when an AT+QIOTOTARD answer reaches this byte of the package being read
	Event string        `scenario:"event"` // when the module sends this event ("7,10703")
	Count int           `scenario:"count"` // Event: the count-th time (default 1)
	Cycle int           `scenario:"cycle"` // when the MCU starts its n-th update cycle (emulated MCU)
}

// Zero reports whether no condition is set: the fault starts at once.
func (t Trigger) Zero() bool { return t.Time == 0 && t.Bytes == 0 && t.Event == "" && t.Cycle == 0 }

// Expect is what must hold at the end of the run; unset fields are not
// checked.
type Expect struct {
	// Result is how the update ended: updated, refused, failed or
	// no_plan (see Outcome).
	Result string `scenario:"result"`
	// Versions maps components to the version that must boot at the end
	// (emulated MCU) or that the MCU must have reported (external MCU).
	Versions map[string]string `scenario:"versions"`
	// Events must each have been seen, in any order; NoEvents must not
	// have been. Names as in Event.Name: "7,10705", "fault:mcu_reset",
	// "cycle:verify_failed".
	Events   []string `scenario:"events"`
	NoEvents []string `scenario:"no_events"`
	// ExitCode is the exit code atota mcu --once would give for the
	// outcome: 0 updated (or nothing to do), 1 failed, 3 refused.
	ExitCode *int `scenario:"exit_code"`
	// MaxDuration bounds the reported duration (see Result.Duration).
	MaxDuration time.Duration `scenario:"max_duration"`
	// MaxReread bounds the package bytes read more than once, as a
	// fraction of the package sizes (0.5: half a package read again).
	MaxReread *float64 `scenario:"max_reread"`
	// MaxCycles bounds the MCU's update cycles (emulated MCU).
	MaxCycles int `scenario:"max_cycles"`
}
