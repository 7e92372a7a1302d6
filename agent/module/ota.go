package module

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/atota/atota/atcmd"
)

// handleOTAREQ answers AT+QIOTOTAREQ[=<sha256>]: OK, then one 7,10700 per
// component of the plan found, or nothing when there is none. A request
// during a transfer starts over from the offer, as after an MCU reset; if
// the plan is not offered any more, the transfer fails (7,10706).
func (m *Module) handleOTAREQ(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	sha := false
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTOTAREQ: (0,1)")
	case atcmd.Exec:
	case atcmd.Set:
		n, err := r.Int(0)
		if err != nil || n < 0 || n > 1 || len(r.Args) != 1 {
			return atcmd.ErrError
		}
		sha = n == 1
	default:
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.regState != stateReady {
		m.log.Warn("AT+QIOTOTAREQ refused: not connected to the platform (AT+QIOTREG=1 first)", "state", m.regState)
		return atcmd.ErrError
	}
	t := m.findTask(sha)
	if old := m.task; old != nil && old.Phase != phaseOffered {
		if t == nil || t.Plan != old.Plan {
			m.failTask(fmt.Errorf("plan %s is not offered any more", old.Plan))
		} else {
			m.log.Info("plan requested during its transfer: starting over from the offer", "plan", old.Plan)
		}
	}
	m.task = t
	m.save()
	if t == nil {
		return nil
	}
	m.log.Info("plan offered", "plan", t.Plan, "components", len(t.Components), "sha256", sha)
	m.events(t.offerEvents()...)
	return nil
}

// handleUPDATE answers AT+QIOTUPDATE=<action>: 0 refuses the plan, 1
// confirms it, 2 asks for the next piece, 3 reports the MCU is updating.
func (m *Module) handleUPDATE(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTUPDATE: (0-3)")
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	action, err := r.Int(0)
	if err != nil || len(r.Args) != 1 || action < 0 || action > 3 {
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.task
	if t == nil {
		m.log.Warn("AT+QIOTUPDATE without a plan", "action", action)
		return atcmd.ErrError
	}
	switch action {
	case 0: // refuse
		m.log.Info("plan refused by the MCU", "plan", t.Plan, "phase", t.Phase)
		if m.st.Refused == nil {
			m.st.Refused = map[string]time.Time{}
		}
		m.st.Refused[t.Plan] = m.cfg.Now()
		m.endTask()
	case 1: // confirm; the MCU may confirm each 10700, only the first counts
		if t.Phase != phaseOffered {
			return nil
		}
		m.log.Info("plan confirmed", "plan", t.Plan)
		m.advance(0)
	case 2: // next piece
		if t.Phase != phaseDownloading {
			return atcmd.ErrError
		}
		m.nextPiece()
	case 3: // the MCU is updating
		if t.Phase == phaseOffered {
			return atcmd.ErrError
		}
		t.Phase = phaseUpdating
		m.save()
		m.events(line("+QIOTEVT: 7,10704"))
	}
	return nil
}

// handleOTARD answers AT+QIOTOTARD=<start>,<len> with a header, the raw
// bytes and CR LF (spec §4, §13.2-5): start must lie in the current piece;
// the length is clamped to MaxRead and to the end of the piece. Reads
// change no state and write nothing to the state file.
func (m *Module) handleOTARD(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTOTARD: <start>,(1-" + strconv.Itoa(MaxRead) + ")")
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	start, err1 := r.Int(0)
	n, err2 := r.Int(1)
	if err1 != nil || err2 != nil || len(r.Args) != 2 || n <= 0 {
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.task
	if t == nil || t.pkg == nil {
		m.log.Warn("AT+QIOTOTARD with no piece ready", "start", start)
		return atcmd.ErrError
	}
	end := t.PieceStart + t.PieceLen
	if start < t.PieceStart || start >= end {
		m.log.Warn("AT+QIOTOTARD outside the current piece", "start", start, "piece_start", t.PieceStart, "piece_end", end)
		return atcmd.ErrError
	}
	n = min(n, MaxRead, end-start)
	if err := w.WriteLine(fmt.Sprintf("+QIOTOTARD: %d,%d", start, n)); err != nil {
		return err
	}
	if _, err := w.Write(t.pkg[start : start+n]); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\r\n")
	return err
}
