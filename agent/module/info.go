package module

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/atota/atota/atcmd"
)

// handleINFO answers AT+QIOTINFO: "=?" lists "up", ="up" reports the
// device information to the platform, and "?" reads it, one
// +QIOTINFO: "<item>","<value>" line per item (spec §3; the quoting is
// our reading, and the MCU side strips quotes either way).
func (m *Module) handleINFO(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine(`+QIOTINFO: "up"`)
	case atcmd.Set:
		what, err := r.Str(0)
		if err != nil || what != "up" || len(r.Args) != 1 {
			return atcmd.ErrError
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.regState != stateReady {
			m.log.Warn(`AT+QIOTINFO="up" refused: not connected to the platform (AT+QIOTREG=1 first)`)
			return atcmd.ErrError
		}
		m.log.Info("device information reported to the platform")
		return nil
	case atcmd.Read:
		m.mu.Lock()
		items := m.info()
		m.mu.Unlock()
		for _, kv := range items {
			if err := w.WriteLine(fmt.Sprintf(`+QIOTINFO: "%s","%s"`, kv[0], kv[1])); err != nil {
				return err
			}
		}
		return nil
	}
	return atcmd.ErrError
}

// info returns the AT+QIOTINFO? items in the order the docs list them:
// the status group, then the info group. m.mu is held.
func (m *Module) info() [][2]string {
	var mcu []string
	for _, c := range m.st.MCU {
		mcu = append(mcu, c.ID+":"+c.Version) // [INF] the format is not documented
	}
	dbm := ""
	if m.csq != 99 && m.net.cfun == 1 {
		dbm = strconv.Itoa(rssiDBm(m.csq))
	}
	md := m.model
	return [][2]string{
		{"type", md.Name},
		{"version", m.st.ModuleVersion},
		{"mcu_version", strings.Join(mcu, ";")},
		{"cell_id", md.CellID},
		{"icc_id", m.st.ICCID},
		{"mcc", md.IMSIPrefix[:3]},
		{"mnc", md.IMSIPrefix[3:]},
		{"lac", md.TAC},
		{"phone_num", ""},
		{"sim_num", m.st.IMSI},
		{"sdk_ver", md.SDKVersion},
		{"battery", strconv.Itoa(m.battery)},
		{"voltage", fmt.Sprintf("%.2f", float64(millivolts(m.battery))/1000)},
		{"signal_strength", dbm},
		{"memory_free", strconv.Itoa(md.MemoryFree)},
		{"rsrp", strconv.Itoa(rsrp(m.csq))},
		{"rsrq", strconv.Itoa(rsrq(m.csq))},
		{"snr", strconv.Itoa(snr(m.csq))},
	}
}

// rssiDBm converts an AT+CSQ rssi to dBm: -113 + 2·rssi (spec §10).
func rssiDBm(csq int) int { return -113 + 2*csq }

// rsrp, rsrq and snr are plausible LTE values for a CSQ rssi: the
// reference signal power about 27 dB under the wideband RSSI, quality
// and SNR rising with the signal. Unknown signal (99) reads as the worst.
func rsrp(csq int) int {
	if csq == 99 {
		return -140
	}
	return max(rssiDBm(csq)-27, -140)
}

func rsrq(csq int) int {
	if csq == 99 {
		return -20
	}
	return -20 + csq*17/31
}

func snr(csq int) int {
	if csq == 99 {
		return -10
	}
	return -10 + csq*40/31
}
