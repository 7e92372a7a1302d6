package module

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/atota/atota/agent/plan"
)

// Phases of an OTA task.
const (
	phaseOffered     = "offered"     // 10700s sent, waiting for AT+QIOTUPDATE=1 or =0
	phaseDownloading = "downloading" // confirmed: pieces served with AT+QIOTOTARD (FOTA: installing)
	phaseUpdating    = "updating"    // AT+QIOTUPDATE=3 seen, waiting for the version report
)

// taskState is the persisted part of an OTA task.
type taskState struct {
	Plan       string          `json:"plan"`
	SHA256     bool            `json:"sha256"`
	WindowEnd  time.Time       `json:"window_end"` // the plan's window: a transfer still running then fails
	Components []taskComponent `json:"components"`
	Phase      string          `json:"phase"`
	Current    int             `json:"current"`     // index into Components
	PieceStart int64           `json:"piece_start"` // absolute offset of the current piece
	PieceLen   int64           `json:"piece_len"`
}

// taskComponent is one component of a task, with what its events carry.
type taskComponent struct {
	ID      string       `json:"id"`
	Type    string       `json:"type,omitempty"` // plan.MCU (SOTA) or plan.Module (FOTA); "" is plan.MCU
	Source  string       `json:"source"`         // the 10700 source version
	Target  string       `json:"target"`
	Root    string       `json:"root,omitempty"` // the directory File must stay in; "" for none
	File    string       `json:"file"`
	Digests plan.Digests `json:"digests"`
	Battery int          `json:"min_battery"`
	Signal  int          `json:"min_signal_dbm"`
}

// fota reports whether the component is the module's own firmware.
func (c *taskComponent) fota() bool { return c.Type == plan.Module }

// check reports a task no module would have saved.
func (ts *taskState) check() error {
	switch {
	case ts.Plan == "":
		return errors.New("no plan name")
	case len(ts.Components) == 0:
		return errors.New("no components")
	case ts.Current < 0 || ts.Current >= len(ts.Components):
		return fmt.Errorf("current component %d of %d", ts.Current, len(ts.Components))
	case !slices.Contains([]string{phaseOffered, phaseDownloading, phaseUpdating}, ts.Phase):
		return fmt.Errorf("phase %q", ts.Phase)
	}
	for i, c := range ts.Components {
		if c.ID == "" || c.File == "" || c.Digests.Size <= 0 || len(c.Digests.SHA256) != 64 || !slices.Contains([]string{"", plan.MCU, plan.Module}, c.Type) {
			return fmt.Errorf("components[%d]: id %q, type %q, file %q, size %d, sha256 %q", i, c.ID, c.Type, c.File, c.Digests.Size, c.Digests.SHA256)
		}
	}
	size := ts.Components[ts.Current].Digests.Size
	if ts.Phase == phaseDownloading && (ts.PieceStart < 0 || ts.PieceLen <= 0 || ts.PieceStart+ts.PieceLen > size) {
		return fmt.Errorf("piece %d+%d outside the %d-byte package", ts.PieceStart, ts.PieceLen, size)
	}
	return nil
}

// task is the OTA task in progress: its state, and the module's copies of
// its packages once the download started.
type task struct {
	taskState
	gen       int
	files     []*os.File // per component, the cached copy; nil until fetched
	waitPiece bool       // the current piece's 7,10703 waits for the cache
	done      int64      // bytes of the current component the MCU has read
}

func (t *task) comp() *taskComponent { return &t.Components[t.Current] }

// fetched reports whether every package of the task is in the cache.
func (t *task) fetched() bool { return !slices.Contains(t.files, nil) }

// closeFiles closes the task's cached copies. m.mu is held.
func (m *Module) closeFiles() {
	if m.task == nil {
		return
	}
	for i, f := range m.task.files {
		if f != nil {
			f.Close()
			m.task.files[i] = nil
		}
	}
}

// cacheInUse returns the cache files the task in progress needs. m.mu is
// held.
func (m *Module) cacheInUse() map[string]bool {
	keep := map[string]bool{}
	if m.task != nil && m.task.Phase != phaseOffered {
		for _, c := range m.task.Components {
			keep[m.cache.path(c.Digests)] = true
		}
	}
	return keep
}

// device returns what eligibility looks at for plan p: module
// components go by the module's own firmware version. m.mu is held.
func (m *Module) device(p *plan.Plan) plan.Device {
	v := m.st.versions()
	for _, c := range p.Components {
		if c.Type == plan.Module {
			v[c.ID] = m.st.ModuleVersion
		}
	}
	return plan.Device{Product: m.st.ProductKey, Key: m.st.deviceKey(), Versions: v, Failures: m.st.Failures[p.Name]}
}

// loadPlans loads the plans, logging the bad ones when that list
// changed. m.mu is held.
func (m *Module) loadPlans() []*plan.Plan {
	plans, errs := m.cfg.Plans.Load()
	msg := fmt.Sprint(errs)
	if msg != m.planErrs {
		m.planErrs = msg
		for _, err := range errs {
			m.log.Warn("plan skipped", "err", err)
		}
	}
	return plans
}

// awaitsConfirmation reports whether plan p waits for the app
// confirmation of a manual plan. m.mu is held.
func (m *Module) awaitsConfirmation(p *plan.Plan) bool {
	_, ok := m.st.Confirmed[p.Name]
	return p.NeedsConfirmation(m.st.deviceKey()) && !ok
}

// eligible returns the component of plan p this device upgrades now, or
// why none. m.mu is held.
func (m *Module) eligible(p *plan.Plan) (int, plan.Device, error) {
	dev := m.device(p)
	if m.awaitsConfirmation(p) {
		return -1, dev, errors.New("manual plan: waiting for the app confirmation (POST /v1/confirm on the control endpoint)")
	}
	first, err := p.Next(m.cfg.Now(), dev)
	return first, dev, err
}

// taskFor returns the task plan p offers this device now, or nil and why
// not. m.mu is held.
func (m *Module) taskFor(p *plan.Plan, sha bool) (*task, error) {
	first, dev, err := m.eligible(p)
	if err != nil {
		return nil, err
	}
	return m.newTask(p, first, dev.Versions, sha)
}

// findTask looks for a plan this device is eligible for and returns the
// task for it, or nil. Bad plans and plans whose packages cannot be read
// are logged and passed over. m.mu is held.
func (m *Module) findTask(sha bool) *task {
	for _, p := range m.loadPlans() {
		t, err := m.taskFor(p, sha)
		if err != nil {
			m.log.Debug("plan not offered", "plan", p.Name, "why", err)
			continue
		}
		return t
	}
	m.log.Info("no plan for this device", "product", m.st.ProductKey, "device", m.st.deviceKey())
	return nil
}

// newTask builds the task for plan p: component first (the one
// p.Next chose) and every later one the device can take after it, in
// plan order. A later component already at its target version is left
// out; one the device will not be eligible for (a delta from another
// version, a version not specified) ends the list there, since the plan
// upgrades its components in order. m.mu is held.
func (m *Module) newTask(p *plan.Plan, first int, versions map[string]string, sha bool) (*task, error) {
	m.gen++
	t := &task{gen: m.gen, taskState: taskState{Plan: p.Name, SHA256: sha, Phase: phaseOffered, WindowEnd: p.Window.End}}
	for i := first; i < len(p.Components); i++ {
		c := p.Components[i]
		v, reported := versions[c.ID]
		if i > first {
			if reported && v == c.TargetVersion {
				continue
			}
			if c.Package == plan.Delta && v != c.SourceVersion || c.SpecifiedVersions != nil && !slices.Contains(c.SpecifiedVersions, v) {
				m.log.Info("component left for a later plan request: not eligible yet", "plan", p.Name, "component", c.ID, "version", v)
				break
			}
		}
		tc := taskComponent{
			ID: c.ID, Type: c.Type, Target: c.TargetVersion, Root: p.Dir, File: c.File,
			Battery: p.MinBattery(), Signal: p.MinSignalDBm(),
		}
		if tc.Type == plan.MCU {
			tc.Type = ""
		}
		if p.Dir == "" {
			tc.File = c.Path(p)
		}
		switch {
		case c.Package == plan.Delta:
			tc.Source = c.SourceVersion
		case c.Type == plan.Module:
			tc.Source = m.st.ModuleVersion // [INF] the FOTA example shows the running version
		}
		d, err := tc.digest()
		if err != nil {
			return nil, err
		}
		if d.Size == 0 {
			return nil, fmt.Errorf("component %s: package %s is empty", c.ID, tc.path())
		}
		tc.Digests = d
		t.Components = append(t.Components, tc)
		if c.Type == plan.Module {
			break // the module reboots after its own update: the rest comes with the next offer
		}
	}
	t.files = make([]*os.File, len(t.Components))
	return t, nil
}

// path returns the package's path, for messages.
func (c *taskComponent) path() string {
	if c.Root == "" {
		return c.File
	}
	return filepath.Join(c.Root, filepath.FromSlash(c.File))
}

// open opens the package file; a path inside a plans directory cannot
// leave it, not even through a symbolic link.
func (c *taskComponent) open() (*os.File, error) {
	var f *os.File
	var err error
	if c.Root == "" {
		f, err = os.Open(c.File)
	} else {
		f, err = os.OpenInRoot(c.Root, filepath.FromSlash(c.File))
	}
	if err != nil {
		return nil, fmt.Errorf("component %s: package: %w", c.ID, err)
	}
	return f, nil
}

// digest returns the package's digests.
func (c *taskComponent) digest() (plan.Digests, error) {
	f, err := c.open()
	if err != nil {
		return plan.Digests{}, err
	}
	defer f.Close()
	d, err := plan.Digest(f)
	if err != nil {
		return plan.Digests{}, fmt.Errorf("component %s: package %s: %w", c.ID, c.path(), err)
	}
	return d, nil
}

// offer makes t the task and sends one 7,10700 per component, back to
// back before any 7,10701 (spec §13.6). m.mu is held.
func (m *Module) offer(t *task, how string) {
	m.setTask(t)
	m.pushed[t.Plan] = time.Now()
	delete(m.pushNow, t.Plan)
	m.save()
	m.log.Info("plan offered", "plan", t.Plan, "how", how, "components", len(t.Components), "sha256", t.SHA256)
	evs := make([]event, 0, len(t.Components))
	for _, c := range t.Components {
		evs = append(evs, line(`+QIOTEVT: 7,10700,"%s","%s","%s",%d,%d,%d`, c.ID, c.Source, c.Target, c.Battery, c.Signal, c.Digests.Size))
		m.obs.progress(TaskProgress{Plan: t.Plan, Component: c.ID, Event: 10700, Total: c.Digests.Size})
	}
	m.events(evs...)
	m.wake()
}

// setTask replaces the task in progress, closing the old one's files.
// m.mu is held.
func (m *Module) setTask(t *task) {
	if m.task != nil && m.task != t {
		m.closeFiles()
		m.emit.cancel(kindFOTA)
	}
	m.task = t
}

// confirm starts the download of the offered task. m.mu is held.
func (m *Module) confirm() {
	t := m.task
	m.log.Info("plan confirmed", "plan", t.Plan)
	delete(m.st.Refused, t.Plan)
	m.advance(0)
}

// advance starts the first component from index i on that is not at its
// target version yet, or ends the plan when none is left. m.mu is held.
func (m *Module) advance(i int) {
	t := m.task
	for ; i < len(t.Components); i++ {
		c := &t.Components[i]
		v, _ := m.st.version(c.ID)
		if c.fota() {
			v = m.st.ModuleVersion
		}
		if v != c.Target {
			break
		}
		m.log.Info("component already at its target version", "plan", t.Plan, "component", c.ID, "version", c.Target)
	}
	if i == len(t.Components) {
		m.log.Info("plan done", "plan", t.Plan)
		m.endTask()
		return
	}
	m.startComponent(i)
}

// startComponent announces component i's download: 7,10701 with the
// digests (bare for FOTA), 7,10702, and 7,10703 for the first piece once
// the package is in the module's cache. m.mu is held.
func (m *Module) startComponent(i int) {
	t := m.task
	t.Current, t.Phase, t.done = i, phaseDownloading, 0
	c := t.comp()
	t.PieceStart, t.PieceLen = 0, min(int64(m.cfg.PieceSize), c.Digests.Size)
	m.save()
	d := c.Digests
	start := "+QIOTEVT: 7,10701"
	if !c.fota() {
		start = fmt.Sprintf(`+QIOTEVT: 7,10701,"%s",%d,"%s",%d`, c.ID, d.Size, d.MD5, d.CRC)
		if t.SHA256 {
			start += `,"` + d.SHA256 + `"`
		}
	}
	m.log.Info("download started", "plan", t.Plan, "component", c.ID, "size", d.Size, "fota", c.fota())
	m.events(event{line: start}, line("+QIOTEVT: 7,10702"))
	m.progress(10701, "")
	if t.files[i] != nil {
		m.pieceReady()
		return
	}
	t.waitPiece = true
	m.wake() // the planner copies the packages
}

// pieceReady announces the current piece, now in the cache; for a module
// component it goes on with the firmware update. m.mu is held.
func (m *Module) pieceReady() {
	t := m.task
	t.waitPiece = false
	if t.comp().fota() {
		m.installFirmware()
		return
	}
	m.events(m.pieceEvent())
	m.progress(10703, "")
}

// nextPiece moves to the piece after the current one and announces it.
// m.mu is held.
func (m *Module) nextPiece() {
	t := m.task
	c := t.comp()
	next := t.PieceStart + t.PieceLen
	if next >= c.Digests.Size {
		m.log.Warn("AT+QIOTUPDATE=2 after the last piece; ignored", "component", c.ID)
		return
	}
	t.PieceStart, t.PieceLen = next, min(int64(m.cfg.PieceSize), c.Digests.Size-next)
	m.save()
	m.events(line("+QIOTEVT: 7,10702"), m.pieceEvent())
	m.progress(10703, "")
}

// pieceEvent returns the 7,10703 event of the current piece. m.mu is held.
func (m *Module) pieceEvent() event {
	t := m.task
	c := t.comp()
	return line(`+QIOTEVT: 7,10703,"%s",%d,%d,%d`, c.ID, c.Digests.Size, t.PieceStart, t.PieceLen)
}

// progress tells the observer about a step of the current component.
// m.mu is held.
func (m *Module) progress(ev int, reason string) {
	t := m.task
	c := t.comp()
	p := TaskProgress{Plan: t.Plan, Component: c.ID, Event: ev, Done: t.done, Total: c.Digests.Size, Reason: reason}
	if ev == 10703 {
		p.Done = max(t.done, t.PieceStart)
		p.PieceStart, p.PieceLen = t.PieceStart, t.PieceLen
	}
	if ev == 10705 {
		p.Done = p.Total
	}
	m.obs.progress(p)
}

// versionReported takes a component version the MCU reported: the target
// version of the component being downloaded or updated means success
// (10705) and the next component starts; another version after
// AT+QIOTUPDATE=3 is a failure (10706). m.mu is held.
func (m *Module) versionReported(id, v string) {
	t := m.task
	if t == nil || t.Phase == phaseOffered || t.comp().ID != id || t.comp().fota() {
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
	m.progress(10705, "")
	m.advance(t.Current + 1)
}

// failTask ends the task with 7,10706 and counts the failure. m.mu is held.
func (m *Module) failTask(err error) {
	m.countFailure(err)
	m.events(line("+QIOTEVT: 7,10706"))
	m.progress(10706, err.Error())
	m.endTask()
}

// countFailure counts a failed attempt at the task's plan. m.mu is held.
func (m *Module) countFailure(err error) {
	t := m.task
	m.log.Warn("upgrade failed", "plan", t.Plan, "err", err)
	if m.st.Failures == nil {
		m.st.Failures = map[string]int{}
	}
	m.st.Failures[t.Plan]++
}

// endTask forgets the task and its cached packages. m.mu is held.
func (m *Module) endTask() {
	m.setTask(nil)
	m.save()
	m.cache.prune(nil)
	m.wake()
}

// resumeTask takes up the task saved in the state file after a restart:
// the module reopens its copies of the packages. A copy that went away or
// was damaged is made again from the plan's file if that still matches
// the offer; otherwise the task fails and the MCU hears 7,10706 at its
// first command. m.mu is held.
func (m *Module) resumeTask() {
	ts := m.st.Task
	if ts == nil {
		return
	}
	ts.Components = slices.Clone(ts.Components)
	m.gen++
	m.task = &task{taskState: *ts, gen: m.gen, files: make([]*os.File, len(ts.Components))}
	if ts.Phase == phaseOffered {
		return
	}
	err := m.fetch(m.task)
	if err == nil && m.task.comp().fota() {
		err = errors.New("the module restarted while installing its own firmware; it keeps the version it had")
	}
	if err != nil {
		m.countFailure(fmt.Errorf("the task cannot go on after the restart: %w", err))
		m.notice = append(m.notice, line("+QIOTEVT: 7,10706"))
		m.progress(10706, err.Error())
		m.endTask()
		return
	}
	m.task.done = ts.PieceStart
	m.log.Info("task resumed", "plan", ts.Plan, "component", m.task.comp().ID, "phase", ts.Phase, "piece_start", ts.PieceStart, "piece_len", ts.PieceLen)
}

// fetch opens the cached copies of every package of t, making those that
// are missing. m.mu is held, or t is not shared yet.
func (m *Module) fetch(t *task) error {
	for i := range t.Components {
		if t.files[i] != nil {
			continue
		}
		f, err := m.cache.open(m.ctx, &t.Components[i])
		if err != nil {
			return err
		}
		t.files[i] = f
	}
	return nil
}
