package module

import (
	"context"
	"fmt"
	"strings"

	"github.com/atota/atota/atcmd"
)

type handlerFunc = func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error

// mux returns the module's command table: the built-in commands, then
// what the model adds (settings) or takes away (unsupported), and a
// fallback for the rest.
func (m *Module) mux() *atcmd.Mux {
	mux := atcmd.NewMux()
	for name, h := range map[string]handlerFunc{
		"":            okHandler,
		"I":           m.handleI,
		"+CGMI":       m.handleIdent(func(md *Model) string { return md.Manufacturer }),
		"+CGMM":       m.handleIdent(func(md *Model) string { return md.Name }),
		"+CGMR":       m.handleCGMR,
		"+CGSN":       m.handleCGSN,
		"+CIMI":       m.handleCIMI,
		"+QCCID":      m.handleQCCID,
		"+CSQ":        m.handleCSQ,
		"+CBC":        m.handleCBC,
		"+CFUN":       m.handleCFUN,
		"+CPIN":       m.handleCPIN,
		"+CEREG":      m.handleReg(&m.net.cereg, "+CEREG"),
		"+CREG":       m.handleReg(&m.net.creg, "+CREG"),
		"+CGREG":      m.handleReg(&m.net.cgreg, "+CGREG"),
		"+CGATT":      m.handleCGATT,
		"+COPS":       m.handleCOPS,
		"+CCLK":       m.handleCCLK,
		"+CGDCONT":    m.handleCGDCONT,
		"+QIOTCFG":    m.handleCFG,
		"+QIOTREG":    m.handleREG,
		"+QIOTSTATE":  m.handleSTATE,
		"+QIOTMCUVER": m.handleMCUVER,
		"+QIOTINFO":   m.handleINFO,
		"+QIOTOTAREQ": m.handleOTAREQ,
		"+QIOTUPDATE": m.handleUPDATE,
		"+QIOTOTARD":  m.handleOTARD,
	} {
		mux.HandleFunc(name, h)
	}
	for i := range m.model.Settings {
		s := &m.model.Settings[i]
		mux.HandleFunc(s.Command, m.handleSetting(s))
	}
	for _, name := range m.model.Unsupported {
		mux.HandleFunc(name, func(context.Context, atcmd.ResponseWriter, *atcmd.Request) error { return atcmd.ErrError })
	}
	mux.Fallback(atcmd.HandlerFunc(m.handleUnknown))
	return mux
}

func okHandler(context.Context, atcmd.ResponseWriter, *atcmd.Request) error { return nil }

// handleUnknown answers a command neither the replies file, the model
// nor the module knows: ERROR, logged once per command name with what to
// do about it.
func (m *Module) handleUnknown(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.unknown[r.Name] {
		m.unknown[r.Name] = true
		var others []string
		for _, md := range Models() {
			if md != m.model && md.knows(r.Command) {
				others = append(others, strings.ToLower(md.Name))
			}
		}
		hint := fmt.Sprintf("to answer it, add it to a --replies file (- command: %s, lines: [...])", r.Command.String())
		if len(others) > 0 {
			hint = "models that answer it: " + strings.Join(others, ", ") + " (--model); or " + hint
		}
		m.log.Warn(fmt.Sprintf("%s is not a command of %s: answered ERROR; %s", r.Command.String(), m.model.Name, hint))
	}
	return atcmd.ErrError
}

// knows reports whether the model has a setting or a reply for c.
func (md *Model) knows(c atcmd.Command) bool {
	for _, s := range md.Settings {
		if strings.EqualFold(s.Command, c.Name) {
			return true
		}
	}
	cmd := strings.ToUpper(c.String())
	for i := range md.Replies {
		if md.Replies[i].matches(cmd) {
			return true
		}
	}
	return false
}

// identity fills {model} and {revision} into a model's line. m.mu is held.
func (m *Module) identity(s string) string {
	return strings.NewReplacer("{model}", m.model.Name, "{revision}", m.st.ModuleVersion).Replace(s)
}

// handleI answers ATI (and ATI0) with the model's identity.
func (m *Module) handleI(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind == atcmd.Set && (len(r.Args) != 1 || r.Args[0].Value != "0") || r.Kind != atcmd.Exec && r.Kind != atcmd.Set {
		return atcmd.ErrError
	}
	m.mu.Lock()
	var lines []string
	for _, l := range m.model.ATI {
		lines = append(lines, m.identity(l))
	}
	m.mu.Unlock()
	for _, l := range lines {
		if err := w.WriteLine(l); err != nil {
			return err
		}
	}
	return nil
}

// handleIdent answers AT+CGMI and AT+CGMM with one line of the model.
func (m *Module) handleIdent(f func(*Model) string) handlerFunc {
	return func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		switch r.Kind {
		case atcmd.Test:
			return nil
		case atcmd.Exec:
			return w.WriteLine(f(m.model))
		}
		return atcmd.ErrError
	}
}

// handleCGMR answers AT+CGMR with the firmware version, which a module
// firmware update changes.
func (m *Module) handleCGMR(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return nil
	case atcmd.Exec:
		m.mu.Lock()
		l := m.identity(m.model.CGMR)
		m.mu.Unlock()
		return w.WriteLine(l)
	}
	return atcmd.ErrError
}

// handleCGSN answers AT+CGSN with the IMEI, the default device key; the
// set forms of 3GPP TS 27.007: 1 is "+CGSN: <IMEI>", 0 the serial number.
func (m *Module) handleCGSN(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	imei := m.st.IMEI
	m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		return nil
	case atcmd.Exec:
		return w.WriteLine(imei)
	case atcmd.Set:
		n, err := r.Int(0)
		if err != nil || len(r.Args) != 1 {
			return atcmd.CMEIncorrectParameters
		}
		switch n {
		case 0:
			return w.WriteLine(imei[len(imei)-8:]) // a serial number of the unit
		case 1:
			return w.WriteLine("+CGSN: " + imei)
		}
		return atcmd.CMEIncorrectParameters
	}
	return atcmd.CMEOperationNotSupported
}

// handleCIMI answers AT+CIMI with the SIM's IMSI.
func (m *Module) handleCIMI(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return nil
	case atcmd.Exec:
		m.mu.Lock()
		defer m.mu.Unlock()
		return w.WriteLine(m.st.IMSI)
	}
	return atcmd.CMEOperationNotSupported
}

// handleQCCID answers AT+QCCID with the SIM's ICCID.
func (m *Module) handleQCCID(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return nil
	case atcmd.Exec:
		m.mu.Lock()
		defer m.mu.Unlock()
		return w.WriteLine("+QCCID: " + m.st.ICCID)
	}
	return atcmd.CMEOperationNotSupported
}

// handleCSQ answers AT+CSQ with the simulated signal; the bit error rate
// is always 99, unknown. With the radio off the signal is unknown too.
func (m *Module) handleCSQ(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+CSQ: (0-31,99),(0-7,99)")
	case atcmd.Exec, atcmd.Read: // the QuecThing FAQ writes AT+CSQ?
		m.mu.Lock()
		csq := m.csq
		if m.net.cfun != 1 {
			csq = 99
		}
		m.mu.Unlock()
		return w.WriteLine(fmt.Sprintf("+CSQ: %d,99", csq))
	}
	return atcmd.CMEOperationNotSupported
}

// handleCBC answers AT+CBC in the Quectel form: charge state (0, not
// charging), percent, millivolts.
func (m *Module) handleCBC(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+CBC: (0-2),(0-100),<voltage>")
	case atcmd.Exec:
		m.mu.Lock()
		defer m.mu.Unlock()
		return w.WriteLine(fmt.Sprintf("+CBC: 0,%d,%d", m.battery, millivolts(m.battery)))
	}
	return atcmd.CMEOperationNotSupported
}

// millivolts is a plausible Li-ion cell voltage for a charge level:
// 3600 mV empty to 4200 mV full.
func millivolts(percent int) int { return 3600 + 6*percent }
