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
	m.lastSHA = sha
	t := m.findTask(sha)
	if old := m.task; old != nil && old.Phase != phaseOffered {
		if t == nil || t.Plan != old.Plan {
			m.failTask(fmt.Errorf("plan %s is not offered any more", old.Plan))
		} else {
			m.log.Info("plan requested during its transfer: starting over from the offer", "plan", old.Plan)
		}
	}
	if t == nil {
		m.setTask(nil)
		m.save()
		return nil
	}
	m.offer(t, "requested")
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
		m.refuse()
	case 1: // confirm; the MCU may confirm each 10700, only the first counts
		if t.Phase == phaseOffered {
			m.confirm()
		}
	case 2: // next piece
		if t.Phase != phaseDownloading || t.comp().fota() || t.waitPiece {
			m.log.Warn("AT+QIOTUPDATE=2 with no piece being read", "phase", t.Phase)
			return atcmd.ErrError
		}
		m.nextPiece()
	case 3: // the MCU is updating
		if t.Phase == phaseOffered || t.comp().fota() {
			m.log.Warn("AT+QIOTUPDATE=3 with no MCU component downloaded", "phase", t.Phase)
			return atcmd.ErrError
		}
		t.Phase = phaseUpdating
		m.save()
		m.events(line("+QIOTEVT: 7,10704"))
		m.progress(10704, "")
	}
	return nil
}

// refuse takes the MCU's AT+QIOTUPDATE=0: the plan is not pushed again
// before its rejection window is over; a manual plan needs a new app
// confirmation. A refusal mid-transfer ends it. m.mu is held.
func (m *Module) refuse() {
	t := m.task
	m.log.Info("plan refused by the MCU", "plan", t.Plan, "phase", t.Phase)
	if m.st.Refused == nil {
		m.st.Refused = map[string]time.Time{}
	}
	m.st.Refused[t.Plan] = m.cfg.Now()
	delete(m.st.Confirmed, t.Plan)
	m.obs.progress(TaskProgress{Plan: t.Plan, Component: t.comp().ID, Event: 0, Done: t.done, Total: t.comp().Digests.Size, Reason: "refused by the MCU (AT+QIOTUPDATE=0)"})
	m.endTask()
}

// handleOTARD answers AT+QIOTOTARD=<start>,<len> with a header, the raw
// bytes and CR LF (spec §4, §13.2-5): start must lie in the current piece;
// the length is clamped to MaxRead and to the end of the piece. The bytes
// come from the module's cached copy of the package. Reads change no
// state and write nothing to the state file.
func (m *Module) handleOTARD(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTOTARD: <start>,(1-" + strconv.Itoa(len(m.readBuf)) + ")")
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
	if t == nil || t.Phase == phaseOffered || t.comp().fota() || t.files[t.Current] == nil {
		m.log.Warn("AT+QIOTOTARD with no piece ready", "start", start)
		return atcmd.ErrError
	}
	end := t.PieceStart + t.PieceLen
	if start < t.PieceStart || start >= end {
		m.log.Warn("AT+QIOTOTARD outside the current piece", "start", start, "piece_start", t.PieceStart, "piece_end", end)
		return atcmd.ErrError
	}
	n = min(n, int64(len(m.readBuf)), end-start)
	buf := m.readBuf[:n]
	if _, err := t.files[t.Current].ReadAt(buf, start); err != nil {
		// The cached copy was checked when the task started; it can only
		// fail now if the disk does.
		m.log.Error("AT+QIOTOTARD: reading the cached package failed", "component", t.comp().ID, "offset", start, "err", err)
		return atcmd.ErrError
	}
	if err := w.WriteLine(fmt.Sprintf("+QIOTOTARD: %d,%d", start, n)); err != nil {
		return err
	}
	if _, err := w.Write(buf); err != nil {
		return err
	}
	m.served += n
	m.reads++
	t.done = max(t.done, start+n)
	_, err := io.WriteString(w, "\r\n")
	return err
}
