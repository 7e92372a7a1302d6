package module

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atota/atota/atcmd"
)

// kindNet marks a network attach on its way: dropped by AT+CFUN=0.
const kindNet eventKind = 101

// netState is the emulated radio and network: what AT+CFUN, AT+CGATT and
// the registration URC settings changed. A reboot resets it.
type netState struct {
	cfun       int  // 0 minimum, 1 full, 4 flight mode
	attached   bool // registered on the network: AT+CEREG? stat 1
	detached   bool // AT+CGATT=0 or AT+COPS=2: stays off the network until asked back
	regPending bool // AT+QIOTREG waits for the network
	rejoin     bool // the platform connection was lost with the network: it comes back with it
	cereg      int  // AT+CEREG=<n>
	creg       int  // AT+CREG=<n>
	cgreg      int  // AT+CGREG=<n>
	clock      time.Duration
	contexts   map[int]pdpContext
}

// pdpContext is one AT+CGDCONT context.
type pdpContext struct{ typ, apn string }

// resetNet puts the network as it is after a power-up: radio on, attached.
// m.mu is held.
func (m *Module) resetNet() {
	m.net = netState{cfun: 1, attached: true, contexts: map[int]pdpContext{1: {"IP", m.model.APN}}}
}

// stat returns the network registration status of AT+CEREG?: 1
// registered (home), 2 searching, 0 not searching. m.mu is held.
func (m *Module) stat() int {
	switch {
	case m.net.attached:
		return 1
	case m.net.cfun == 1 && !m.net.detached:
		return 2
	}
	return 0
}

// netDown takes the module off the network: a registration to the
// platform is lost with it, and comes back with the network. m.mu is held.
func (m *Module) netDown(why string) {
	m.emit.cancel(kindNet)
	was := m.net.attached || m.stat() == 2
	m.net.attached = false
	if m.online() || m.net.regPending {
		m.log.Info("the platform connection is lost with the network", "why", why)
		m.emit.cancel(kindReg)
		m.net.rejoin = m.net.rejoin || m.st.RegMode != 0
		m.net.regPending = false
		m.regState = stateInitialised
	}
	if was {
		m.regURCs()
	}
}

// netUp starts the attach after AT+CFUN=1 or AT+CGATT=1: the module
// registers on the network after the model's attach delay. m.mu is held.
func (m *Module) netUp() {
	if m.net.attached || m.net.cfun != 1 || m.net.detached {
		return
	}
	m.emit.cancel(kindNet)
	if m.model.AttachDelay == 0 {
		m.attach()
		return
	}
	m.regURCs() // searching
	m.emit.after(time.Duration(m.model.AttachDelay), 0, event{kind: kindNet, apply: m.attach})
}

// attach registers the module on the network; a platform registration
// waiting for it goes on. m.mu is held.
func (m *Module) attach() {
	if m.net.cfun != 1 || m.net.detached || m.net.attached {
		return
	}
	m.net.attached = true
	m.regURCs()
	if m.net.regPending || m.net.rejoin && m.cannotRegister() == "" {
		m.net.regPending, m.net.rejoin = false, false
		m.regState = stateInitialised
		m.register()
	}
}

// regURCs sends +CEREG, +CREG and +CGREG URCs for the current status to
// the settings that asked for them. m.mu is held.
func (m *Module) regURCs() {
	for _, r := range []struct {
		n    int
		name string
	}{{m.net.cereg, "+CEREG"}, {m.net.creg, "+CREG"}, {m.net.cgreg, "+CGREG"}} {
		if r.n > 0 {
			m.events(event{line: r.name + ": " + m.regFields(r.n, false)})
		}
	}
}

// regFields formats the status of AT+CEREG? (read, with n) or its URC
// (without): stat, and with n 2 the location. m.mu is held.
func (m *Module) regFields(n int, read bool) string {
	s := strconv.Itoa(m.stat())
	if n >= 2 && m.stat() == 1 {
		s += fmt.Sprintf(`,"%s","%s",%d`, m.model.TAC, m.model.CellID, m.model.AcT)
	}
	if read {
		s = strconv.Itoa(n) + "," + s
	}
	return s
}

// handleCFUN answers AT+CFUN: 0 and 4 take the network down (the radio
// off), 1 brings it back; AT+CFUN=1,1 reboots the module.
func (m *Module) handleCFUN(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+CFUN: (0,1,4),(0,1)")
	case atcmd.Read:
		return w.WriteLine("+CFUN: " + strconv.Itoa(m.net.cfun))
	case atcmd.Set:
	default:
		return atcmd.CMEOperationNotSupported
	}
	fun, err := r.Int(0)
	if err != nil || len(r.Args) > 2 || fun != 0 && fun != 1 && fun != 4 {
		return atcmd.CMEIncorrectParameters
	}
	rst := int64(0)
	if len(r.Args) == 2 {
		if rst, err = r.Int(1); err != nil || rst < 0 || rst > 1 {
			return atcmd.CMEIncorrectParameters
		}
	}
	if rst == 1 {
		if fun != 1 {
			return atcmd.CMEIncorrectParameters
		}
		m.events(event{apply: func() { m.reboot("AT+CFUN=1,1") }})
		return nil
	}
	m.net.cfun = int(fun)
	if fun == 1 {
		m.netUp()
	} else {
		m.netDown(fmt.Sprintf("AT+CFUN=%d", fun))
	}
	return nil
}

// handleCPIN answers AT+CPIN?: the SIM is ready and needs no PIN.
func (m *Module) handleCPIN(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Read:
		return w.WriteLine("+CPIN: READY")
	case atcmd.Test:
		return nil
	}
	return atcmd.CMEOperationNotAllowed
}

// handleReg answers AT+CEREG, AT+CREG and AT+CGREG: the URC setting n
// (0 none, 1 status, 2 status and location) and the status.
func (m *Module) handleReg(n *int, name string) handlerFunc {
	return func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		switch r.Kind {
		case atcmd.Test:
			return w.WriteLine(name + ": (0-2)")
		case atcmd.Read:
			return w.WriteLine(name + ": " + m.regFields(*n, true))
		case atcmd.Set:
			v, err := r.Int(0)
			if err != nil || len(r.Args) != 1 || v < 0 || v > 2 {
				return atcmd.CMEIncorrectParameters
			}
			*n = int(v)
			return nil
		}
		return atcmd.CMEOperationNotSupported
	}
}

// handleCGATT answers AT+CGATT: the packet domain attach.
func (m *Module) handleCGATT(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+CGATT: (0,1)")
	case atcmd.Read:
		return w.WriteLine("+CGATT: " + strconv.Itoa(boolInt(m.net.attached)))
	case atcmd.Set:
		v, err := r.Int(0)
		if err != nil || len(r.Args) != 1 || v < 0 || v > 1 {
			return atcmd.CMEIncorrectParameters
		}
		if v == 0 {
			m.net.detached = true
			m.netDown("AT+CGATT=0")
			return nil
		}
		if m.net.cfun != 1 {
			return atcmd.CMEOperationNotAllowed
		}
		m.net.detached = false
		m.netUp()
		return nil
	}
	return atcmd.CMEOperationNotSupported
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// handleCOPS answers AT+COPS: the operator while attached; 0 selects it
// automatically, 2 leaves the network.
func (m *Module) handleCOPS(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	md := m.model
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine(fmt.Sprintf(`+COPS: (2,"%s","%s","%s",%d),,(0-4),(0-2)`, md.Operator, md.Operator, md.IMSIPrefix, md.AcT))
	case atcmd.Read:
		if !m.net.attached {
			return w.WriteLine("+COPS: 0")
		}
		return w.WriteLine(fmt.Sprintf(`+COPS: 0,0,"%s",%d`, md.Operator, md.AcT))
	case atcmd.Set:
		mode, err := r.Int(0)
		if err != nil {
			return atcmd.CMEIncorrectParameters
		}
		switch mode {
		case 0, 1, 4:
			m.net.detached = false
			m.netUp()
			return nil
		case 2:
			m.net.detached = true
			m.netDown("AT+COPS=2")
			return nil
		case 3:
			return nil
		}
		return atcmd.CMEIncorrectParameters
	}
	return atcmd.CMEOperationNotSupported
}

// cclkLayout is the time of AT+CCLK, without the zone.
const cclkLayout = "06/01/02,15:04:05"

// handleCCLK answers AT+CCLK? with the network time in the model's zone
// and format (+CCLK: "yy/MM/dd,hh:mm:ss±zz", zz in quarter hours, quoted
// or not); AT+CCLK="..." sets the clock.
func (m *Module) handleCCLK(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	off, _ := zoneOffset(m.model.NetworkZone)
	switch r.Kind {
	case atcmd.Test:
		return nil
	case atcmd.Read:
		t := m.cfg.Now().Add(m.net.clock).In(time.FixedZone("", off))
		s := fmt.Sprintf("%s%+03d", t.Format(cclkLayout), off/900)
		if m.model.CCLKQuoted {
			s = `"` + s + `"`
		}
		return w.WriteLine("+CCLK: " + s)
	case atcmd.Set:
		if len(r.Args) != 1 || len(r.Args[0].Value) < len(cclkLayout)+2 {
			return atcmd.CMEIncorrectParameters
		}
		s := r.Args[0].Value
		quarters, err := strconv.Atoi(s[len(cclkLayout):])
		if err != nil || quarters < -48 || quarters > 56 {
			return atcmd.CMEIncorrectParameters
		}
		t, err := time.ParseInLocation(cclkLayout, s[:len(cclkLayout)], time.FixedZone("", quarters*900))
		if err != nil {
			return atcmd.CMEIncorrectParameters
		}
		m.net.clock = t.Sub(m.cfg.Now())
		return nil
	}
	return atcmd.CMEOperationNotSupported
}

// pdpTypes are the PDP types AT+CGDCONT takes.
var pdpTypes = []string{"IP", "IPV6", "IPV4V6", "NON-IP"}

// handleCGDCONT answers AT+CGDCONT: the PDP contexts, context 1 with the
// model's APN and, while attached, its address.
func (m *Module) handleCGDCONT(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine(`+CGDCONT: (1-15),"IP",,,(0-2),(0-4),(0,1),(0,1)`)
	case atcmd.Read:
		var cids []int
		for cid := range m.net.contexts {
			cids = append(cids, cid)
		}
		slices.Sort(cids)
		for _, cid := range cids {
			c := m.net.contexts[cid]
			addr := "0.0.0.0"
			if cid == 1 && m.net.attached {
				addr = m.model.PDPAddress
			}
			if err := w.WriteLine(fmt.Sprintf(`+CGDCONT: %d,"%s","%s","%s",0,0,0,0`, cid, c.typ, c.apn, addr)); err != nil {
				return err
			}
		}
		return nil
	case atcmd.Set:
		cid, err := r.Int(0)
		if err != nil || cid < 1 || cid > 15 {
			return atcmd.CMEIncorrectParameters
		}
		if len(r.Args) == 1 {
			delete(m.net.contexts, int(cid))
			return nil
		}
		typ, err := r.Str(1)
		if err != nil || !slices.Contains(pdpTypes, strings.ToUpper(typ)) {
			return atcmd.CMEIncorrectParameters
		}
		apn := ""
		if len(r.Args) > 2 {
			if apn, err = r.Str(2); err != nil {
				return atcmd.CMEIncorrectParameters
			}
		}
		m.net.contexts[int(cid)] = pdpContext{typ, apn}
		return nil
	}
	return atcmd.CMEOperationNotSupported
}
