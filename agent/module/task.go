package module

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
)

// Phases of an OTA task.
const (
	phaseOffered     = "offered"     // 10700s sent, waiting for AT+QIOTUPDATE=1 or =0
	phaseDownloading = "downloading" // pieces served with AT+QIOTOTARD
	phaseUpdating    = "updating"    // AT+QIOTUPDATE=3 seen, waiting for the version report
)

// taskState is the persisted part of an OTA task.
type taskState struct {
	Plan       string          `json:"plan"`
	SHA256     bool            `json:"sha256"`
	Components []taskComponent `json:"components"`
	Phase      string          `json:"phase"`
	Current    int             `json:"current"`     // index into Components
	PieceStart int64           `json:"piece_start"` // absolute offset of the current piece
	PieceLen   int64           `json:"piece_len"`
}

type taskComponent struct {
	ID      string       `json:"id"`
	Source  string       `json:"source"` // source version for a delta, "" for full
	Target  string       `json:"target"`
	File    string       `json:"file"`
	Digests plan.Digests `json:"digests"`
	Battery int          `json:"min_battery"`
	Signal  int          `json:"min_signal_dbm"`
}

// task is the OTA task in progress: its state and the package of the
// current component, held in memory as a module holds its download.
type task struct {
	taskState
	pkg []byte
}

func (t *task) comp() *taskComponent { return &t.Components[t.Current] }

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
	if m.task != nil && m.task.Phase != phaseOffered {
		m.log.Info("plan request during a transfer: the transfer goes on", "plan", m.task.Plan)
		return nil
	}
	m.offer(sha)
	return nil
}

// offer looks for a plan this device is eligible for and announces every
// component to upgrade with a 7,10700 event, all of them back to back
// before the first 7,10701 (spec §13.6). m.mu is held.
func (m *Module) offer(sha bool) {
	plans, errs := m.cfg.Plans.Load()
	for _, err := range errs {
		m.log.Warn("plan skipped", "err", err)
	}
	dev := plan.Device{Product: m.st.ProductKey, Key: m.st.deviceKey(), Versions: m.st.versions()}
	now := m.cfg.Now()
	for _, p := range plans {
		dev.Failures = m.st.Failures[p.Name]
		first, err := p.Next(now, dev)
		if err != nil {
			m.log.Debug("plan not offered", "plan", p.Name, "why", err)
			continue
		}
		t, err := m.newTask(p, first, sha)
		if err != nil {
			m.log.Error("plan not offered", "plan", p.Name, "err", err)
			continue
		}
		m.task = t
		m.save()
		m.log.Info("plan offered", "plan", p.Name, "components", len(t.Components))
		var evs []event
		for _, c := range t.Components {
			evs = append(evs, line(`+QIOTEVT: 7,10700,"%s","%s","%s",%d,%d,%d`, c.ID, c.Source, c.Target, c.Battery, c.Signal, c.Digests.Size))
		}
		m.events(evs...)
		return
	}
	m.log.Info("no plan for this device", "product", dev.Product, "device", dev.Key)
}

// newTask builds the task for plan p from component first on: every later
// component that is not at its target version yet.
func (m *Module) newTask(p *plan.Plan, first int, sha bool) (*task, error) {
	t := &task{taskState: taskState{Plan: p.Name, SHA256: sha, Phase: phaseOffered}}
	for i, c := range p.Components[first:] {
		if c.Type != plan.MCU {
			m.log.Warn("component skipped: module firmware (FOTA) is not emulated yet", "plan", p.Name, "component", c.ID)
			continue
		}
		if v, _ := m.st.version(c.ID); v == c.TargetVersion && i > 0 {
			continue
		}
		d, err := plan.DigestFile(c.Path(p))
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", c.ID, err)
		}
		src := ""
		if c.Package == plan.Delta {
			src = c.SourceVersion
		}
		t.Components = append(t.Components, taskComponent{
			ID: c.ID, Source: src, Target: c.TargetVersion, File: c.Path(p), Digests: d,
			Battery: p.MinBattery(), Signal: p.MinSignalDBm(),
		})
	}
	if len(t.Components) == 0 {
		return nil, errors.New("no component the MCU can take")
	}
	return t, nil
}

func (m *Module) handleUPDATE(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	switch r.Kind {
	case atcmd.Test:
		return w.WriteLine("+QIOTUPDATE: (0-3)")
	case atcmd.Set:
	default:
		return atcmd.ErrError
	}
	action, err := r.Int(0)
	if err != nil || len(r.Args) != 1 {
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
		m.log.Info("plan refused by the MCU", "plan", t.Plan)
		if m.st.Refused == nil {
			m.st.Refused = map[string]time.Time{}
		}
		m.st.Refused[t.Plan] = m.cfg.Now()
		m.endTask()
	case 1: // confirm; the MCU may confirm each 10700
		if t.Phase != phaseOffered {
			return nil
		}
		m.log.Info("plan confirmed", "plan", t.Plan)
		if err := m.startComponent(0); err != nil {
			m.failTask(err)
		}
	case 2: // next piece
		if t.Phase != phaseDownloading {
			return atcmd.ErrError
		}
		c := t.comp()
		next := t.PieceStart + t.PieceLen
		if next >= c.Digests.Size {
			m.log.Warn("AT+QIOTUPDATE=2 after the last piece; ignored", "component", c.ID)
			return nil
		}
		t.PieceStart, t.PieceLen = next, min(int64(m.cfg.PieceSize), c.Digests.Size-next)
		m.save()
		m.events(line("+QIOTEVT: 7,10702"), m.pieceEvent())
	case 3: // the MCU is updating
		if t.Phase != phaseDownloading {
			return atcmd.ErrError
		}
		t.Phase = phaseUpdating
		m.save()
		m.events(line("+QIOTEVT: 7,10704"))
	default:
		return atcmd.ErrError
	}
	return nil
}

// startComponent loads component i's package and announces its download:
// 10701 with the digests, 10702, and 10703 for the first piece. m.mu is
// held.
func (m *Module) startComponent(i int) error {
	t := m.task
	t.Current, t.Phase = i, phaseDownloading
	c := t.comp()
	if err := m.loadPackage(); err != nil {
		return err
	}
	t.PieceStart, t.PieceLen = 0, min(int64(m.cfg.PieceSize), c.Digests.Size)
	m.save()
	d := c.Digests
	start := fmt.Sprintf(`+QIOTEVT: 7,10701,"%s",%d,"%s",%d`, c.ID, d.Size, d.MD5, d.CRC)
	if t.SHA256 {
		start += `,"` + d.SHA256 + `"`
	}
	m.events(event{line: start}, line("+QIOTEVT: 7,10702"), m.pieceEvent())
	return nil
}

// loadPackage reads the current component's package into memory and
// checks it is still the file that was announced. m.mu is held.
func (m *Module) loadPackage() error {
	c := m.task.comp()
	data, err := os.ReadFile(c.File)
	if err != nil {
		return fmt.Errorf("component %s: package: %w", c.ID, err)
	}
	d, err := plan.Digest(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if d != c.Digests {
		return fmt.Errorf("component %s: package %s changed since the plan was offered (SHA-256 %s, announced %s)", c.ID, c.File, d.SHA256, c.Digests.SHA256)
	}
	m.task.pkg = data
	return nil
}

func (m *Module) pieceEvent() event {
	t := m.task
	c := t.comp()
	return line(`+QIOTEVT: 7,10703,"%s",%d,%d,%d`, c.ID, c.Digests.Size, t.PieceStart, t.PieceLen)
}

// handleOTARD answers AT+QIOTOTARD=<start>,<len> with a header, the raw
// bytes and CR LF (spec §4, §13.2-5): start must lie in the current piece;
// the length is clamped to MaxRead and to the end of the piece.
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
	if t == nil || t.Phase == phaseOffered || t.pkg == nil {
		m.log.Warn("AT+QIOTOTARD with no piece ready", "start", start)
		return atcmd.ErrError
	}
	end := t.PieceStart + t.PieceLen
	if start < t.PieceStart || start >= end {
		m.log.Warn("AT+QIOTOTARD outside the current piece", "start", start, "piece_start", t.PieceStart, "piece_end", end)
		return atcmd.ErrError
	}
	n = min(n, MaxRead, end-start)
	w.WriteLine(fmt.Sprintf("+QIOTOTARD: %d,%d", start, n))
	w.Write(t.pkg[start : start+n])
	_, err := io.WriteString(w, "\r\n")
	return err
}

// versionReported takes a component version the MCU reported: the target
// version of the component being updated means success (10705) and the
// next component starts; any other version during the update is a
// failure (10706). m.mu is held.
func (m *Module) versionReported(id, v string) {
	t := m.task
	if t == nil || t.Phase == phaseOffered || t.comp().ID != id {
		return
	}
	c := t.comp()
	if v != c.Target {
		if t.Phase == phaseUpdating {
			m.failTask(fmt.Errorf("component %s reported version %q, want %q", id, v, c.Target))
		}
		return
	}
	m.log.Info("component updated", "plan", t.Plan, "component", id, "version", v)
	m.events(line("+QIOTEVT: 7,10705"))
	if t.Current+1 < len(t.Components) {
		if err := m.startComponent(t.Current + 1); err != nil {
			m.failTask(err)
		}
		return
	}
	m.log.Info("plan done", "plan", t.Plan)
	m.endTask()
}

// failTask ends the task with 7,10706 and counts the failure. m.mu is held.
func (m *Module) failTask(err error) {
	t := m.task
	m.log.Warn("upgrade failed", "plan", t.Plan, "err", err)
	if m.st.Failures == nil {
		m.st.Failures = map[string]int{}
	}
	m.st.Failures[t.Plan]++
	m.events(line("+QIOTEVT: 7,10706"))
	m.endTask()
}

func (m *Module) endTask() {
	m.task = nil
	m.save()
}

// resumeTask takes up the task saved in the state file after a restart.
func (m *Module) resumeTask() error {
	ts := m.st.Task
	if ts == nil {
		return nil
	}
	m.task = &task{taskState: *ts}
	if ts.Phase == phaseOffered {
		return nil
	}
	if err := m.loadPackage(); err != nil {
		m.task, m.st.Task = nil, nil
		return err
	}
	return nil
}
