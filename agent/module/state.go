package module

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/atota/atota/internal/atomicfile"
)

// stateVersion is the format version of the state file.
const stateVersion = 1

// state is what the module keeps across restarts, as a real module keeps
// it in its own flash: configuration saved with AT+QIOTCFG, the
// registration mode, the MCU component versions, the current OTA task and
// the failure counts.
type state struct {
	Version int `json:"version"`

	ProductKey    string `json:"product_key,omitempty"`
	ProductSecret string `json:"product_secret,omitempty"`
	DeviceKey     string `json:"device_key,omitempty"`
	DeviceSecret  string `json:"device_secret,omitempty"`
	IMEI          string `json:"imei"`
	IMSI          string `json:"imsi,omitempty"`
	ICCID         string `json:"iccid,omitempty"`
	ServerType    int    `json:"server_type"`
	ServerURL     string `json:"server_url"`

	RegMode int `json:"reg_mode"`

	// Settings holds the integer AT+QIOTCFG keys ("lifetime", "tsl", ...)
	// set away from their defaults.
	Settings map[string]int `json:"settings,omitempty"`

	// MCU holds the component versions in the order they were declared.
	MCU []mcuVersion `json:"mcu,omitempty"`

	Task *taskState `json:"task,omitempty"`

	// Failures counts failed upgrades per plan; Refused holds when the
	// device last refused a plan; Confirmed when the user confirmed a
	// manual plan in the app.
	Failures  map[string]int       `json:"failures,omitempty"`
	Refused   map[string]time.Time `json:"refused,omitempty"`
	Confirmed map[string]time.Time `json:"confirmed,omitempty"`

	// Model is the model the state was last used with, and ModuleVersion
	// its own firmware version, changed by a module firmware update (FOTA).
	Model         string `json:"model,omitempty"`
	ModuleVersion string `json:"module_version,omitempty"`
}

type mcuVersion struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

// version returns the version declared for component id.
func (s *state) version(id string) (string, bool) {
	for _, m := range s.MCU {
		if m.ID == id {
			return m.Version, true
		}
	}
	return "", false
}

// setVersion declares, changes or (with an empty version) removes a
// component, and reports whether that changed anything.
func (s *state) setVersion(id, v string) bool {
	for i, m := range s.MCU {
		if m.ID == id {
			if m.Version == v {
				return false
			}
			if v == "" {
				s.MCU = append(s.MCU[:i], s.MCU[i+1:]...)
			} else {
				s.MCU[i].Version = v
			}
			return true
		}
	}
	if v == "" {
		return false
	}
	s.MCU = append(s.MCU, mcuVersion{ID: id, Version: v})
	return true
}

// versions returns the component versions as a map.
func (s *state) versions() map[string]string {
	m := make(map[string]string, len(s.MCU))
	for _, c := range s.MCU {
		m[c.ID] = c.Version
	}
	return m
}

// deviceKey is the key the platform knows the device by: the custom key
// from dk_ds, else the IMEI.
func (s *state) deviceKey() string {
	if s.DeviceKey != "" {
		return s.DeviceKey
	}
	return s.IMEI
}

// freshState returns the state of a module of model md fresh from the
// factory.
func freshState(md *Model) (*state, error) {
	imei, err := newIMEI(md.IMEITAC)
	if err != nil {
		return nil, err
	}
	s := &state{Version: stateVersion, IMEI: imei, ServerType: md.Server.Type, ServerURL: md.Server.URL}
	return s, s.fillSIM(md)
}

// fillSIM gives the state a SIM (IMSI and ICCID) if it has none: a state
// file written before they were kept gets them on its next start.
func (s *state) fillSIM(md *Model) error {
	if s.IMSI != "" && s.ICCID != "" {
		return nil
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1e9))
	if err != nil {
		return fmt.Errorf("module: SIM: %w", err)
	}
	if s.IMSI == "" {
		s.IMSI = md.IMSIPrefix + fmt.Sprintf("%010d", n.Int64())[:15-len(md.IMSIPrefix)]
	}
	if s.ICCID == "" {
		body := md.ICCIDPrefix + fmt.Sprintf("%013d", n.Int64())[:19-len(md.ICCIDPrefix)]
		s.ICCID = body + string(rune('0'+luhn(body)))
	}
	return nil
}

// loadState reads the state file at path and returns the state and the
// file's content; an empty path or a missing file gives a fresh state with
// a new IMEI and no content.
func loadState(path string, md *Model) (*state, []byte, error) {
	if path == "" {
		s, err := freshState(md)
		return s, nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s, err := freshState(md)
		return s, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("module: state file: %w", err)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, nil, fmt.Errorf("module: state file %s is damaged (%v); move it away to start afresh", path, err)
	}
	if s.Version != stateVersion {
		return nil, nil, fmt.Errorf("module: state file %s has format version %d, this atota reads %d; move it away to start afresh", path, s.Version, stateVersion)
	}
	if err := s.check(); err != nil {
		return nil, nil, fmt.Errorf("module: state file %s is damaged (%v); move it away to start afresh", path, err)
	}
	if s.IMEI == "" {
		if s.IMEI, err = newIMEI(md.IMEITAC); err != nil {
			return nil, nil, err
		}
	}
	if err := s.fillSIM(md); err != nil {
		return nil, nil, err
	}
	return &s, data, nil
}

// check reports a value no module would have written.
func (s *state) check() error {
	if s.RegMode < 0 || s.RegMode > 2 {
		return fmt.Errorf("reg_mode %d: want 0, 1 or 2", s.RegMode)
	}
	for i, c := range s.MCU {
		if !validID(c.ID) || c.Version == "" || !validVersion(c.Version) {
			return fmt.Errorf("mcu[%d]: id %q, version %q: want a non-empty id and version", i, c.ID, c.Version)
		}
	}
	for k, v := range s.Settings {
		if spec, ok := intSettings[k]; !ok || v < spec.min || v > spec.max {
			return fmt.Errorf("settings: %q is %d: not a setting, or out of range", k, v)
		}
	}
	if s.Task != nil {
		if err := s.Task.check(); err != nil {
			return fmt.Errorf("task: %w", err)
		}
	}
	return nil
}

// marshal returns the state as written to the file.
func (s *state) marshal() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("module: state: %w", err)
	}
	return append(data, '\n'), nil
}

// writeState writes the state file atomically: a crash at any point leaves
// the old state or the new.
func writeState(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("module: state file: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("module: state file: %w", err)
	}
	return nil
}

// newIMEI returns a random 15-digit IMEI with a valid Luhn check digit
// and the model's 8-digit type allocation code.
func newIMEI(tac string) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("module: IMEI: %w", err)
	}
	body := fmt.Sprintf("%s%06d", tac, n.Int64())
	return body + string(rune('0'+luhn(body))), nil
}

// luhn returns the check digit for the digits in s.
func luhn(s string) int {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}
