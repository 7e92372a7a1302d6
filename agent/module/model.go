package module

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultModel is the model a Module plays when Config.Model is nil: an
// LTE Cat-1 module.
const DefaultModel = "ec800m"

// A Model is a module model the emulator plays: its identity, its
// network, the answers to the 3GPP and Quectel commands real firmware
// sends before any QIOT command, its formats, defaults and typical
// timings. Models are data: one JSON file each under models/, embedded
// in the binary, so a new model is a new file (see models/README.md).
type Model struct {
	Name        string   `json:"name"`        // as AT+CGMM says it: "EC800M"
	Aliases     []string `json:"aliases"`     // more names for --model, lower case
	Description string   `json:"description"` // one line for --help
	Network     string   `json:"network"`     // NetworkCat1 or NetworkNBIoT

	Manufacturer string   `json:"manufacturer"` // AT+CGMI
	Revision     string   `json:"revision"`     // firmware version of a fresh module (AT+CGMR)
	ATI          []string `json:"ati"`          // ATI lines; {model} and {revision} are filled in
	CGMR         string   `json:"cgmr"`         // AT+CGMR line; {revision} is filled in
	SDKVersion   string   `json:"sdk_version"`  // QuecThing SDK, AT+QIOTINFO "sdk_ver"
	MemoryFree   int      `json:"memory_free"`  // bytes, AT+QIOTINFO "memory_free"

	IMEITAC     string `json:"imei_tac"`     // the 8-digit type allocation code of a new IMEI
	IMSIPrefix  string `json:"imsi_prefix"`  // MCC and MNC of the SIM's IMSI
	ICCIDPrefix string `json:"iccid_prefix"` // the first digits of the SIM's ICCID

	Operator    string `json:"operator"`         // AT+COPS? long name
	AcT         int    `json:"act"`              // access technology: 7 LTE, 9 NB-IoT
	TAC         string `json:"tac"`              // tracking area code, hex
	CellID      string `json:"cell_id"`          // hex
	APN         string `json:"apn"`              // of PDP context 1
	PDPAddress  string `json:"pdp_address"`      // of PDP context 1 while attached
	CCLKQuoted  bool   `json:"cclk_quoted"`      // +CCLK: "yy/MM/dd,hh:mm:ss±zz" rather than unquoted
	NetworkZone string `json:"network_timezone"` // the zone of the network time (AT+CCLK?), "+08:00"

	Server     ServerDefault `json:"qiot_server"` // AT+QIOTCFG="server" of a fresh module
	PieceSize  int           `json:"piece_size"`  // bytes of a package held at once
	OTARDMax   int           `json:"otard_max"`   // the most bytes one AT+QIOTOTARD answers
	EventDelay Duration      `json:"event_delay"` // from a command's OK to its events
	RegDelay   Duration      `json:"reg_delay"`   // from AT+QIOTREG=1 to 2,10200
	// AttachDelay is from AT+CFUN=1 to the network registration
	// (AT+CEREG? stat 1).
	AttachDelay Duration `json:"attach_delay"`
	RebootDelay Duration `json:"reboot_delay"` // how long a reboot takes

	BootLines   []string  `json:"boot_urcs"`   // lines printed when the module has booted
	Unsupported []string  `json:"unsupported"` // commands the model answers ERROR, "+CREG"
	Settings    []Setting `json:"settings"`    // commands that keep what they are set to
	Replies     []Reply   `json:"replies"`     // canned answers, as in a --replies file

	source string
}

// Networks a model is on.
const (
	NetworkCat1  = "cat1"  // LTE Cat 1 (or Cat M, Cat 4): AcT 7, MQTT
	NetworkNBIoT = "nbiot" // NB-IoT: AcT 9, LwM2M over CoAP
)

// ServerDefault is the AT+QIOTCFG="server" setting of a fresh module.
type ServerDefault struct {
	Type int    `json:"type"` // 0 LwM2M (CoAP), 1 MQTT
	URL  string `json:"url"`
}

// A Setting is a command that keeps what it is set to, such as AT+QSCLK:
// AT+X=<values> stores them, AT+X? reads them back as +X: <values>,
// AT+X=? answers +X: <Range>, and AT+X answers OK. A keyed setting (AT+QCFG)
// stores values per key: AT+X="key" reads +X: "key",<values>, and
// AT+X="key",<values> stores them.
type Setting struct {
	Command string            `json:"command"` // "+QSCLK"
	Default string            `json:"default"` // the values a read shows before any set, "0"
	Range   string            `json:"range"`   // the test answer, "(0-2)"; none when empty
	Keys    map[string]string `json:"keys"`    // keyed: key as written ("\"MacRAI\"") → default values
}

// Duration is a time.Duration written as a string ("20ms") in JSON. A
// value that is not such a string reads as -1, for the check of the
// field it is in to name it.
type Duration time.Duration

// UnmarshalJSON reads a duration such as "20ms" or "1.5s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = -1
	var s string
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	if v, err := time.ParseDuration(s); err == nil && v >= 0 {
		*d = Duration(v)
	}
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

//go:embed models/*.json
var modelFiles embed.FS

// builtin holds the embedded models, parsed once.
var builtin = func() []*Model {
	files, err := fs.Glob(modelFiles, "models/*.json")
	if err != nil {
		panic(err)
	}
	var ms []*Model
	for _, f := range files {
		data, err := modelFiles.ReadFile(f)
		if err != nil {
			panic(err)
		}
		m, err := ParseModel(path.Base(f), data)
		if err != nil {
			panic("module: built-in " + err.Error())
		}
		ms = append(ms, m)
	}
	return ms
}()

// Models returns the built-in models, sorted by name.
func Models() []*Model {
	ms := slices.Clone(builtin)
	slices.SortFunc(ms, func(a, b *Model) int { return strings.Compare(a.Name, b.Name) })
	return ms
}

// LookupModel returns the built-in model called name (any case, or one of
// its aliases).
func LookupModel(name string) (*Model, error) {
	key := strings.ToLower(name)
	var names []string
	for _, m := range Models() {
		if strings.ToLower(m.Name) == key || slices.Contains(m.Aliases, key) {
			return m, nil
		}
		names = append(names, strings.ToLower(m.Name))
	}
	return nil, fmt.Errorf("module: no model %q; known models: %s", name, strings.Join(names, ", "))
}

// mustModel returns a built-in model; it exists.
func mustModel(name string) *Model {
	m, err := LookupModel(name)
	if err != nil {
		panic(err)
	}
	return m
}

// ModelError is a model file that breaks a rule: the file, the field and
// what is wrong.
type ModelError struct {
	File, Field, Msg string
}

// Error names the file, the field and what is wrong.
func (e *ModelError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("module: model %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("module: model %s: %s: %s", e.File, e.Field, e.Msg)
}

var (
	digitsRE  = regexp.MustCompile(`^[0-9]+$`)
	hexRE     = regexp.MustCompile(`^[0-9A-Fa-f]+$`)
	commandRE = regexp.MustCompile(`^[+$%^][A-Za-z0-9!%\-./:_]+$`)
)

// ParseModel reads a model file: JSON with the fields of Model, nothing
// else; file names the file in errors.
func ParseModel(file string, data []byte) (*Model, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, &ModelError{File: file, Msg: jsonError(data, err)}
	}
	if dec.More() {
		return nil, &ModelError{File: file, Msg: "more than one JSON value"}
	}
	m.source = file
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// check reports the first field of m that breaks a rule.
func (m *Model) check() error {
	bad := func(field, format string, args ...any) error {
		return &ModelError{File: m.source, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case m.Name == "" || strings.ContainsAny(m.Name, "\r\n\",") || len(m.Name) > 32:
		return bad("name", "%q: want 1 to 32 characters, no quotes, commas or line breaks", m.Name)
	case m.Network != NetworkCat1 && m.Network != NetworkNBIoT:
		return bad("network", "%q: want %q or %q", m.Network, NetworkCat1, NetworkNBIoT)
	case m.Manufacturer == "" || !printable(m.Manufacturer):
		return bad("manufacturer", "%q: want a printable name", m.Manufacturer)
	case m.Revision == "" || !validVersion(m.Revision):
		return bad("revision", "%q: want letters, digits, '_', '-' or '.'", m.Revision)
	case len(m.IMEITAC) != 8 || !digitsRE.MatchString(m.IMEITAC):
		return bad("imei_tac", "%q: want 8 digits", m.IMEITAC)
	case len(m.IMSIPrefix) < 5 || len(m.IMSIPrefix) > 6 || !digitsRE.MatchString(m.IMSIPrefix):
		return bad("imsi_prefix", "%q: want the 5 or 6 digits of MCC and MNC", m.IMSIPrefix)
	case len(m.ICCIDPrefix) < 2 || len(m.ICCIDPrefix) > 9 || !digitsRE.MatchString(m.ICCIDPrefix):
		return bad("iccid_prefix", "%q: want 2 to 9 digits", m.ICCIDPrefix)
	case m.AcT < 0 || m.AcT > 14:
		return bad("act", "%d: want an access technology 0 to 14 (7 LTE, 9 NB-IoT)", m.AcT)
	case m.TAC == "" || !hexRE.MatchString(m.TAC) || len(m.TAC) > 6:
		return bad("tac", "%q: want up to 6 hex digits", m.TAC)
	case m.CellID == "" || !hexRE.MatchString(m.CellID) || len(m.CellID) > 8:
		return bad("cell_id", "%q: want up to 8 hex digits", m.CellID)
	case !printable(m.Operator) || strings.Contains(m.Operator, `"`):
		return bad("operator", "%q: want a printable name without quotes", m.Operator)
	case !printable(m.APN) || strings.Contains(m.APN, `"`) || !printable(m.PDPAddress) || strings.Contains(m.PDPAddress, `"`):
		return bad("apn", "apn %q, pdp_address %q: want printable text without quotes", m.APN, m.PDPAddress)
	case m.Server.Type < 0 || m.Server.Type > 1 || m.Server.URL == "" || !printable(m.Server.URL) || strings.Contains(m.Server.URL, `"`):
		return bad("qiot_server", "type %d, url %q: want type 0 or 1 and a URL", m.Server.Type, m.Server.URL)
	case m.PieceSize <= 0 || m.PieceSize > 16<<20:
		return bad("piece_size", "%d: want 1 byte to 16 MiB", m.PieceSize)
	case m.OTARDMax <= 0 || m.OTARDMax > 64<<10:
		return bad("otard_max", "%d: want 1 to 65536", m.OTARDMax)
	case !printable(m.SDKVersion) || strings.Contains(m.SDKVersion, `"`):
		return bad("sdk_version", "%q: want printable text", m.SDKVersion)
	case m.MemoryFree < 0:
		return bad("memory_free", "%d: cannot be negative", m.MemoryFree)
	}
	if _, err := zoneOffset(m.NetworkZone); err != nil {
		return bad("network_timezone", "%v", err)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{{"event_delay", m.EventDelay}, {"reg_delay", m.RegDelay}, {"attach_delay", m.AttachDelay}, {"reboot_delay", m.RebootDelay}} {
		if d.v < 0 || time.Duration(d.v) > time.Minute {
			return bad(d.field, "want a duration such as \"20ms\", at most a minute")
		}
	}
	for i, a := range m.Aliases {
		if a == "" || a != strings.ToLower(a) || strings.ContainsAny(a, " \t\r\n") {
			return bad(fmt.Sprintf("aliases[%d]", i), "%q: want a lower-case name without spaces", a)
		}
	}
	for _, l := range append(append(slices.Clone(m.ATI), m.CGMR), m.BootLines...) {
		if !printable(l) {
			return bad("ati", "%q: a line cannot hold control characters", l)
		}
	}
	for i, c := range m.Unsupported {
		if !commandRE.MatchString(c) {
			return bad(fmt.Sprintf("unsupported[%d]", i), "%q: want an extended command name such as \"+CREG\"", c)
		}
	}
	for i, s := range m.Settings {
		field := fmt.Sprintf("settings[%d]", i)
		if !commandRE.MatchString(s.Command) {
			return bad(field+".command", "%q: want an extended command name such as \"+QSCLK\"", s.Command)
		}
		for _, v := range append([]string{s.Default, s.Range}, mapsValues(s.Keys)...) {
			if !printable(v) {
				return bad(field, "%q: values cannot hold control characters", v)
			}
		}
		for k := range s.Keys {
			if k == "" || !printable(k) {
				return bad(field+".keys", "%q: want a key as written, such as \"\\\"MacRAI\\\"\"", k)
			}
		}
	}
	for i := range m.Replies {
		r := &m.Replies[i]
		if err := r.check(); err != nil {
			fe := err.(*fieldError)
			return bad(fmt.Sprintf("replies[%d].%s", i, fe.field), "%s", fe.msg)
		}
	}
	return nil
}

func mapsValues(m map[string]string) []string {
	var vs []string
	for _, v := range m {
		vs = append(vs, v)
	}
	return vs
}

// printable reports whether s holds no control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// zoneOffset parses "+08:00" (or "" for UTC) into seconds east of UTC, in
// whole quarter hours as AT+CCLK reports them.
func zoneOffset(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse("-07:00", s)
	if err != nil {
		return 0, fmt.Errorf("%q: want an offset such as \"+08:00\"", s)
	}
	_, off := t.Zone()
	if off%(15*60) != 0 || off < -12*3600 || off > 14*3600 {
		return 0, fmt.Errorf("%q: want whole quarter hours from -12:00 to +14:00", s)
	}
	return off, nil
}

// jsonError describes a JSON decoding error with its line and column.
func jsonError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		l, _ := lineCol(data, int64(len(data)))
		return fmt.Sprintf("line %d: the JSON ends too early", l)
	case errors.As(err, &se):
		l, c := lineCol(data, se.Offset)
		return fmt.Sprintf("line %d, column %d: %v", l, c, se)
	case errors.As(err, &te):
		l, c := lineCol(data, te.Offset)
		return fmt.Sprintf("line %d, column %d: %s: want %v", l, c, te.Field, te.Type)
	}
	return err.Error()
}

// lineCol returns the 1-based line and column of byte offset off.
func lineCol(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// Config returns the defaults of DESIGN.md with this model's piece size
// and typical delays.
func (m *Model) Config() Config {
	cfg := DefaultConfig()
	cfg.Model = m
	cfg.PieceSize = m.PieceSize
	cfg.EventDelay, cfg.RegDelay = time.Duration(m.EventDelay), time.Duration(m.RegDelay)
	cfg.RebootDelay = time.Duration(m.RebootDelay)
	return cfg
}
