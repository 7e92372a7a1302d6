package module

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/atota/atota/atcmd"
)

// Registration states of AT+QIOTSTATE? (spec §2).
const (
	stateInitialised   = 1
	stateRegistering   = 5
	stateRegistered    = 6 // waiting to subscribe
	stateReady         = 8 // subscribed, ready for data
	stateDeregistering = 10
	stateDeregistered  = 11
)

// intSetting is an integer AT+QIOTCFG key: its range and default.
type intSetting struct{ min, max, def int }

// intSettings are the integer AT+QIOTCFG keys (spec §2), in the order
// AT+QIOTCFG=? lists them.
var (
	intSettings = map[string]intSetting{
		"lifetime":     {1, 65535, 120},
		"buffer":       {0, 1, 0},
		"act":          {1, 15, 1},
		"session_mode": {0, 1, 0},
		"tsl":          {0, 1, 0},
		"txid_mode":    {0, 1, 0},
	}
	intSettingOrder = []string{"lifetime", "buffer", "act", "session_mode", "tsl", "txid_mode"}
)

// rangeText formats a setting's range as AT+QIOTCFG=? does: "(0,1)" for
// two values, "(1-65535)" for more.
func (s intSetting) rangeText() string {
	if s.max == s.min+1 {
		return fmt.Sprintf("(%d,%d)", s.min, s.max)
	}
	return fmt.Sprintf("(%d-%d)", s.min, s.max)
}

// online reports whether the module is connected to the platform or on
// its way there or back: configuration is refused then (spec §2).
// m.mu is held.
func (m *Module) online() bool {
	switch m.regState {
	case stateRegistering, stateRegistered, stateReady, stateDeregistering:
		return true
	}
	return false
}

// handleCFG answers AT+QIOTCFG: product, server and device identity, and
// the integer settings. Every change is saved; none is allowed while the
// module is online.
func (m *Module) handleCFG(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		for _, k := range intSettingOrder {
			w.WriteLine(fmt.Sprintf(`+QIOTCFG: "%s",%s`, k, intSettings[k].rangeText()))
		}
		for _, l := range []string{`+QIOTCFG: "server",(0,1),<server_URL>`, `+QIOTCFG: "productinfo",<pk>,<ps>`, `+QIOTCFG: "dk_ds",<dk>,<ds>`} {
			w.WriteLine(l)
		}
		return nil
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	key, err := r.Str(0)
	if err != nil {
		return atcmd.ErrError
	}
	st := m.st
	if len(r.Args) == 1 {
		return m.queryCFG(w, key)
	}
	if m.online() {
		m.log.Warn("AT+QIOTCFG refused while connected: deregister with AT+QIOTREG=0 first", "key", key)
		return atcmd.ErrError
	}
	switch key {
	case "productinfo":
		pk, err1 := r.Str(1)
		ps, err2 := r.Str(2)
		if err1 != nil || err2 != nil || len(r.Args) != 3 {
			return atcmd.ErrError
		}
		st.ProductKey, st.ProductSecret = pk, ps
	case "server":
		typ, err1 := r.Int(1)
		url, err2 := r.Str(2)
		if err1 != nil || err2 != nil || len(r.Args) != 3 || typ < 0 || typ > 1 {
			return atcmd.ErrError
		}
		st.ServerType, st.ServerURL = int(typ), url
	case "dk_ds":
		dk, err := r.Str(1)
		if err != nil || len(r.Args) > 3 {
			return atcmd.ErrError
		}
		ds := ""
		if len(r.Args) == 3 {
			if ds, err = r.Str(2); err != nil {
				return atcmd.ErrError
			}
		}
		st.DeviceKey, st.DeviceSecret = dk, ds
	default:
		spec, ok := intSettings[key]
		if !ok {
			return atcmd.ErrError
		}
		v, err := r.Int(1)
		if err != nil || len(r.Args) != 2 || v < int64(spec.min) || v > int64(spec.max) {
			return atcmd.ErrError
		}
		if st.Settings == nil {
			st.Settings = map[string]int{}
		}
		st.Settings[key] = int(v)
		if int(v) == spec.def {
			delete(st.Settings, key)
		}
	}
	m.save()
	return nil
}

// queryCFG answers AT+QIOTCFG="<key>". m.mu is held.
func (m *Module) queryCFG(w atcmd.ResponseWriter, key string) error {
	st := m.st
	switch key {
	case "productinfo":
		return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "productinfo","%s","%s","1"`, st.ProductKey, st.ProductSecret))
	case "server":
		return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "server",%d,"%s"`, st.ServerType, st.ServerURL))
	case "dk_ds":
		return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "dk_ds","%s","%s"`, st.DeviceKey, st.DeviceSecret))
	}
	spec, ok := intSettings[key]
	if !ok {
		return atcmd.ErrError
	}
	v, set := st.Settings[key]
	if !set {
		v = spec.def
	}
	return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "%s",%d`, key, v))
}

// handleREG answers AT+QIOTREG: 0 deregisters, 1 registers now, 2
// registers now and at every start.
func (m *Module) handleREG(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTREG: (0-2)")
	case atcmd.Read:
		return w.WriteLine("+QIOTREG: " + strconv.Itoa(m.st.RegMode))
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	mode, err := r.Int(0)
	if err != nil || mode < 0 || mode > 2 || len(r.Args) != 1 {
		return atcmd.ErrError
	}
	if mode == 0 {
		m.st.RegMode = 0
		m.save()
		m.deregister()
		return nil
	}
	if why := m.cannotRegister(); why != "" {
		m.log.Warn("AT+QIOTREG refused: " + why)
		return atcmd.ErrError
	}
	m.st.RegMode = int(mode)
	m.save()
	m.register()
	return nil
}

// cannotRegister says what is missing for a registration, or "". m.mu is
// held.
func (m *Module) cannotRegister() string {
	var missing []string
	if m.st.ProductKey == "" {
		missing = append(missing, "product key")
	}
	if m.st.ProductSecret == "" {
		missing = append(missing, "product secret")
	}
	if m.st.ServerURL == "" {
		missing = append(missing, "server")
	}
	if len(missing) > 0 {
		return "no " + strings.Join(missing, ", ") + " configured (AT+QIOTCFG, or --product and --product-secret)"
	}
	if m.net.cfun != 1 {
		return fmt.Sprintf("the radio is off (AT+CFUN=%d): AT+CFUN=1 first", m.net.cfun)
	}
	if m.net.detached {
		return "detached from the network (AT+CGATT=0 or AT+COPS=2): AT+CGATT=1 first"
	}
	return ""
}

// register connects to the (emulated) platform: 2,10200 after the
// registration delay, 3,10200 an event delay later; while the module is
// still attaching to the network, once it is attached. Registering again
// while online does nothing. m.mu is held.
func (m *Module) register() {
	switch m.regState {
	case stateRegistering, stateRegistered, stateReady:
		return
	}
	m.regState = stateRegistering
	if !m.net.attached {
		m.net.regPending = true
		return
	}
	m.emit.after(m.cfg.RegDelay, m.cfg.EventDelay,
		event{kind: kindReg, line: "+QIOTEVT: 2,10200", apply: func() { m.regState = stateRegistered }},
		event{kind: kindReg, line: "+QIOTEVT: 3,10200", apply: func() {
			m.regState = stateReady
			m.readyAt = time.Now()
			m.wake()
		}})
}

// deregister leaves the platform: registration events not sent yet are
// dropped, and 6,10200 follows. Offline, it does nothing. m.mu is held.
func (m *Module) deregister() {
	m.net.rejoin = false
	switch m.regState {
	case stateRegistering, stateRegistered, stateReady:
	default:
		return
	}
	m.net.regPending = false
	m.emit.cancel(kindReg)
	m.regState = stateDeregistering
	m.events(event{line: "+QIOTEVT: 6,10200", apply: func() {
		if m.regState == stateDeregistering { // not registering again meanwhile
			m.regState = stateDeregistered
		}
	}})
}

// handleSTATE answers AT+QIOTSTATE? with the registration state.
func (m *Module) handleSTATE(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind != atcmd.Read {
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.WriteLine("+QIOTSTATE: " + strconv.Itoa(m.regState))
}

// handleMCUVER answers AT+QIOTMCUVER: the MCU declares, queries and (with
// an empty version) removes its components. A version report may finish
// the component being updated.
func (m *Module) handleMCUVER(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTMCUVER: <MCU_number>,<MCU_version>")
	case atcmd.Read:
		for _, c := range m.st.MCU {
			w.WriteLine(fmt.Sprintf(`+QIOTMCUVER: "%s","%s"`, c.ID, c.Version))
		}
		return nil
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	id, err := r.Str(0)
	if err != nil || !validID(id) || len(r.Args) > 2 {
		return atcmd.ErrError
	}
	if len(r.Args) == 1 {
		v, ok := m.st.version(id)
		if !ok {
			return atcmd.ErrError
		}
		return w.WriteLine(fmt.Sprintf(`+QIOTMCUVER: "%s","%s"`, id, v))
	}
	v, err := r.Str(1)
	if err != nil || !validVersion(v) {
		return atcmd.ErrError
	}
	if m.st.setVersion(id, v) {
		m.obs.versions(m.st.versions())
	}
	m.versionReported(id, v)
	m.save()
	return nil
}

// maxName is the longest component id or version accepted.
const maxName = 64

// validVersion reports whether v uses only the characters the platform
// allows in a version: letters, digits, '_', '-', '.'. The empty version
// (which removes a component) is valid.
func validVersion(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return len(v) <= maxName
}

// validID reports whether id can be a component id: not empty, and
// nothing that would break the quoted field of a +QIOTEVT event.
func validID(id string) bool {
	if id == "" || len(id) > maxName {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= 0x7f || c == ',' || c == '"' {
			return false
		}
	}
	return true
}
