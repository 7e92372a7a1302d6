package module

import (
	"context"
	"fmt"

	"github.com/atota/atota/atcmd"
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
		"+QIOTINFO":   m.handleINFO,
		"+QIOTOTAREQ": m.handleOTAREQ,
		"+QIOTUPDATE": m.handleUPDATE,
		"+QIOTOTARD":  m.handleOTARD,
	} {
		mux.HandleFunc(name, h)
	}
	return mux
}

func okHandler(context.Context, atcmd.ResponseWriter, *atcmd.Request) error { return nil }

// defaultRevision is the module firmware version of a fresh module.
const defaultRevision = "EC800MCNLAR06A01M04"

// moduleIdentity is what the module tells about itself beyond its
// firmware version and SIM.
type moduleIdentity struct {
	Manufacturer, Model   string
	MCC, MNC, LAC, CellID string
	SDKVersion            string
	MemoryFree            int // bytes, AT+QIOTINFO "memory_free"
}

// identity returns the module's identity. m.mu is held.
func (m *Module) identity() moduleIdentity {
	return moduleIdentity{
		Manufacturer: "Quectel", Model: "EC800M",
		MCC: "460", MNC: "00", LAC: "2F1B", CellID: "1A2B3C4",
		SDKVersion: "2.10.0", MemoryFree: 512 << 10,
	}
}

// handleI answers ATI (and ATI0) with the module's identity.
func (m *Module) handleI(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	if r.Kind == atcmd.Set && (len(r.Args) != 1 || r.Args[0].Value != "0") || r.Kind != atcmd.Exec && r.Kind != atcmd.Set {
		return atcmd.ErrError
	}
	m.mu.Lock()
	id := m.identity()
	identity := []string{id.Manufacturer, id.Model, "Revision: " + m.st.ModuleVersion}
	m.mu.Unlock()
	for _, l := range identity {
		if err := w.WriteLine(l); err != nil {
			return err
		}
	}
	return nil
}

// handleCGSN answers AT+CGSN with the IMEI.
func (m *Module) handleCGSN(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return nil
	case atcmd.Exec:
		m.mu.Lock()
		defer m.mu.Unlock()
		return w.WriteLine(m.st.IMEI)
	}
	return atcmd.ErrError
}

// handleCSQ answers AT+CSQ with the simulated signal; the bit error rate
// is always 99, unknown.
func (m *Module) handleCSQ(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+CSQ: (0-31,99),(0-7,99)")
	case atcmd.Exec, atcmd.Read: // the QuecThing FAQ writes AT+CSQ?
		m.mu.Lock()
		defer m.mu.Unlock()
		return w.WriteLine(fmt.Sprintf("+CSQ: %d,99", m.csq))
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
