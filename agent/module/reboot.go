package module

import (
	"fmt"
	"time"
)

// kindFOTA marks the events of a module firmware update in progress:
// dropped when its task ends early.
const kindFOTA eventKind = 100

// installFirmware goes on with a module firmware update (FOTA) whose
// package is in the cache: 7,10703, 7,10704 (updating), 7,10705, and the
// module reboots into the new version. m.mu is held.
func (m *Module) installFirmware() {
	t := m.task
	gen, c := t.gen, *t.comp()
	current := func() bool { return m.task != nil && m.task.gen == gen }
	m.progress(10703, "")
	m.events(
		event{kind: kindFOTA, line: "+QIOTEVT: 7,10703"},
		event{kind: kindFOTA, line: "+QIOTEVT: 7,10704", apply: func() {
			if current() {
				m.task.Phase = phaseUpdating
				m.save()
				m.progress(10704, "")
			}
		}},
		event{kind: kindFOTA, line: "+QIOTEVT: 7,10705", apply: func() {
			if current() {
				m.task.done = c.Digests.Size
				m.progress(10705, "")
			}
		}},
		event{kind: kindFOTA, apply: func() {
			if !current() {
				return
			}
			m.log.Info("module firmware updated", "plan", m.task.Plan, "component", c.ID, "from", m.st.ModuleVersion, "to", c.Target)
			m.st.ModuleVersion = c.Target
			m.endTask()
			m.reboot("module firmware updated to " + c.Target)
		}},
	)
}

// Reboot restarts the emulated module as a power cycle would: the link
// drops (Serve accepts the next one when the reboot is over), queued
// events are lost, echo and AT+CMEE go back to their defaults, the
// registration is gone and comes back by itself only with AT+QIOTREG=2.
// The state file, and with it a transfer in progress, survives.
func (m *Module) Reboot() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reboot("asked for on the control endpoint")
}

// reboot starts a reboot. m.mu is held.
func (m *Module) reboot(why string) {
	m.log.Info("module rebooting", "why", why, "for", m.cfg.RebootDelay)
	m.emit.clearAll()
	m.srv.Reset()
	m.regState = stateInitialised
	m.resetNet()
	clear(m.settings)
	if !m.booting {
		m.booting = true
		m.booted = make(chan struct{})
	}
	m.bootURC = m.drop != nil
	if m.drop != nil {
		m.drop()
	}
	m.emit.schedule(time.Now(), m.cfg.RebootDelay, 0, []event{{apply: m.bootDone}})
}

// bootDone ends a reboot: the boot lines go out and a module in
// AT+QIOTREG=2 registers; when the reboot dropped the link, both wait for
// the next one (see up). m.mu is held.
func (m *Module) bootDone() {
	if !m.booting {
		return
	}
	m.booting = false
	close(m.booted)
	m.log.Info("module up again", "version", m.st.ModuleVersion)
	if !m.bootURC {
		m.up()
	}
	m.wake()
}

// up sends the boot lines and registers a module in AT+QIOTREG=2. m.mu is
// held.
func (m *Module) up() {
	m.events(m.bootLines()...)
	m.autoRegister()
}

// bootLines returns the lines the model prints when it has booted.
func (m *Module) bootLines() []event {
	evs := make([]event, len(m.model.BootLines))
	for i, l := range m.model.BootLines {
		evs[i] = event{line: l}
	}
	return evs
}

// autoRegister registers a module in AT+QIOTREG=2 after a start. m.mu is
// held.
func (m *Module) autoRegister() {
	if m.st.RegMode != 2 {
		return
	}
	if why := m.cannotRegister(); why != "" {
		m.log.Warn(fmt.Sprintf("automatic registration (AT+QIOTREG=2) skipped: %s", why), "state", m.cfg.StatePath)
		return
	}
	m.register()
}
