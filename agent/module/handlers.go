package module

import (
	"context"
	"fmt"
	"strconv"

	"github.com/atota/atota/atcmd"
)

// Registration states of AT+QIOTSTATE? (spec §2).
const (
	stateUninitialised = 0
	stateInitialised   = 1
	stateAuthenticated = 3
	stateRegistering   = 5
	stateRegistered    = 6
	stateReady         = 8 // subscribed, ready for data
	stateDeregistered  = 11
)

type handlerFunc = func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error

// mux returns the module's command table.
func (m *Module) mux() *atcmd.Mux {
	mux := atcmd.NewMux()
	for name, h := range map[string]handlerFunc{
		"":            okHandler,
		"I":           m.handleI,
		"+CGSN":       m.handleCGSN,
		"+CSQ":        m.handleCSQ,
		"+CBC":        m.handleCBC,
		"+QIOTCFG":    m.handleCFG,
		"+QIOTREG":    m.handleREG,
		"+QIOTSTATE":  m.handleSTATE,
		"+QIOTMCUVER": m.handleMCUVER,
		"+QIOTOTAREQ": m.handleOTAREQ,
		"+QIOTUPDATE": m.handleUPDATE,
		"+QIOTOTARD":  m.handleOTARD,
	} {
		mux.HandleFunc(name, h)
	}
	return mux
}

func okHandler(context.Context, atcmd.ResponseWriter, *atcmd.Request) error { return nil }

func (m *Module) handleI(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind != atcmd.Exec {
		return atcmd.ErrError
	}
	for _, l := range []string{"Quectel", "EC800M", "Revision: EC800MCNLAR06A01M04"} {
		w.WriteLine(l)
	}
	return nil
}

func (m *Module) handleCGSN(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind == atcmd.Test {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.WriteLine(m.st.IMEI)
}

func (m *Module) handleCSQ(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+CSQ: (0-31,99),(0-7,99)")
	case atcmd.Exec, atcmd.Read: // the QuecThing FAQ writes AT+CSQ?
		m.mu.Lock()
		defer m.mu.Unlock()
		return w.WriteLine(fmt.Sprintf("+CSQ: %d,99", m.cfg.CSQ))
	}
	return atcmd.CMEOperationNotSupported
}

func (m *Module) handleCBC(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind != atcmd.Exec {
		return atcmd.CMEOperationNotSupported
	}
	// Quectel form: charge state, percent, millivolts.
	return w.WriteLine(fmt.Sprintf("+CBC: 0,%d,%d", m.cfg.Battery, 3600+6*m.cfg.Battery))
}

// handleCFG answers the AT+QIOTCFG keys an OTA needs.
func (m *Module) handleCFG(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	switch r.Kind {
	case atcmd.Test:
		for _, l := range []string{`+QIOTCFG: "productinfo",<pk>,<ps>`, `+QIOTCFG: "server",(0,1),<server_URL>`, `+QIOTCFG: "dk_ds",<dk>,<ds>`} {
			w.WriteLine(l)
		}
		return nil
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	key, err := r.Str(0)
	if err != nil {
		return err
	}
	query := len(r.Args) == 1
	switch key {
	case "productinfo":
		if query {
			return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "productinfo","%s","%s","1"`, st.ProductKey, st.ProductSecret))
		}
		pk, err1 := r.Str(1)
		ps, err2 := r.Str(2)
		if err1 != nil || err2 != nil || m.regState == stateReady {
			return atcmd.ErrError
		}
		st.ProductKey, st.ProductSecret = pk, ps
	case "server":
		if query {
			return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "server",%d,"%s"`, st.ServerType, st.ServerURL))
		}
		typ, err1 := r.Int(1)
		url, err2 := r.Str(2)
		if err1 != nil || err2 != nil || typ < 0 || typ > 1 || m.regState == stateReady {
			return atcmd.ErrError
		}
		st.ServerType, st.ServerURL = int(typ), url
	case "dk_ds":
		if query {
			return w.WriteLine(fmt.Sprintf(`+QIOTCFG: "dk_ds","%s","%s"`, st.DeviceKey, st.DeviceSecret))
		}
		dk, err := r.Str(1)
		if err != nil || m.regState == stateReady {
			return atcmd.ErrError
		}
		ds := ""
		if len(r.Args) > 2 {
			if ds, err = r.Str(2); err != nil {
				return atcmd.ErrError
			}
		}
		st.DeviceKey, st.DeviceSecret = dk, ds
	default:
		return atcmd.ErrError
	}
	m.save()
	return nil
}

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
	if err != nil || mode < 0 || mode > 2 {
		return atcmd.ErrError
	}
	if mode == 0 {
		m.st.RegMode = 0
		m.save()
		if m.regState == stateReady {
			m.emit.cancel()
			m.events(event{line: "+QIOTEVT: 6,10200", apply: func() { m.setRegState(stateDeregistered) }})
		}
		return nil
	}
	if m.st.ProductKey == "" || m.st.ProductSecret == "" || m.st.ServerURL == "" {
		m.log.Warn("AT+QIOTREG refused: no product key, product secret or server configured (AT+QIOTCFG, or --product and --product-secret)")
		return atcmd.ErrError
	}
	m.st.RegMode = int(mode)
	m.save()
	m.register()
	return nil
}

// register connects to the (emulated) platform: registration events after
// the registration delay. The caller holds m.mu or m is not shared yet.
func (m *Module) register() {
	if m.regState == stateReady {
		return
	}
	m.regState = stateRegistering
	m.emit.after(m.cfg.RegDelay, m.cfg.EventDelay,
		event{line: "+QIOTEVT: 2,10200", apply: func() { m.setRegState(stateRegistered) }},
		event{line: "+QIOTEVT: 3,10200", apply: func() { m.setRegState(stateReady) }})
}

func (m *Module) setRegState(s int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regState = s
}

func (m *Module) handleSTATE(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind != atcmd.Read {
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.WriteLine("+QIOTSTATE: " + strconv.Itoa(m.regState))
}

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
	if err != nil || id == "" {
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
	if err != nil || len(r.Args) > 2 || !validVersion(v) {
		return atcmd.ErrError
	}
	m.st.setVersion(id, v)
	m.versionReported(id, v)
	m.save()
	return nil
}

// validVersion reports whether v uses only the characters the platform
// allows in a version: letters, digits, '_', '-', '.'.
func validVersion(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return len(v) <= 64
}
