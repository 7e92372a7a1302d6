package module

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/atota/atota/agent/plan"
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

// taskComponent is one component of a task, with what its events carry.
type taskComponent struct {
	ID      string       `json:"id"`
	Source  string       `json:"source"` // source version for a delta, "" for full
	Target  string       `json:"target"`
	Root    string       `json:"root,omitempty"` // the plans directory File must stay in; "" for none
	File    string       `json:"file"`
	Digests plan.Digests `json:"digests"`
	Battery int          `json:"min_battery"`
	Signal  int          `json:"min_signal_dbm"`
}

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
		if c.ID == "" || c.File == "" || c.Digests.Size <= 0 {
			return fmt.Errorf("components[%d]: id %q, file %q, size %d", i, c.ID, c.File, c.Digests.Size)
		}
	}
	size := ts.Components[ts.Current].Digests.Size
	if ts.Phase == phaseDownloading && (ts.PieceStart < 0 || ts.PieceLen <= 0 || ts.PieceStart+ts.PieceLen > size) {
		return fmt.Errorf("piece %d+%d outside the %d-byte package", ts.PieceStart, ts.PieceLen, size)
	}
	return nil
}

// task is the OTA task in progress: its state and the package of the
// current component, held in memory as a module holds its download.
type task struct {
	taskState
	pkg []byte // nil until the download starts
}

func (t *task) comp() *taskComponent { return &t.Components[t.Current] }

// findTask looks for a plan this device is eligible for and returns the
// task for it, or nil. Bad plans and plans whose packages cannot be read
// are logged and passed over. m.mu is held.
func (m *Module) findTask(sha bool) *task {
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
		t, err := m.newTask(p, first, dev.Versions, sha)
		if err != nil {
			m.log.Error("plan not offered", "plan", p.Name, "err", err)
			continue
		}
		return t
	}
	m.log.Info("no plan for this device", "product", dev.Product, "device", dev.Key)
	return nil
}

// newTask builds the task for plan p: component first (the one
// p.Next chose) and every later one the device can take after it, in
// plan order. A later component already at its target version is left
// out; one the device will not be eligible for (a delta from another
// version, a version not specified) ends the list there, since the plan
// upgrades its components in order.
func (m *Module) newTask(p *plan.Plan, first int, versions map[string]string, sha bool) (*task, error) {
	t := &task{taskState: taskState{Plan: p.Name, SHA256: sha, Phase: phaseOffered}}
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
		if c.Type != plan.MCU {
			if i == first {
				return nil, fmt.Errorf("component %s: module firmware (FOTA) is not emulated yet", c.ID)
			}
			m.log.Warn("module firmware (FOTA) is not emulated yet: components from here on are left out", "plan", p.Name, "component", c.ID)
			break
		}
		tc := taskComponent{
			ID: c.ID, Target: c.TargetVersion, Root: p.Dir, File: c.File,
			Battery: p.MinBattery(), Signal: p.MinSignalDBm(),
		}
		if p.Dir == "" {
			tc.File = c.Path(p)
		}
		if c.Package == plan.Delta {
			tc.Source = c.SourceVersion
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
	}
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

// load reads the package into memory and checks it is still the file
// that was announced.
func (c *taskComponent) load() ([]byte, error) {
	f, err := c.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// One byte more than announced tells a grown file from the right one.
	data, err := io.ReadAll(io.LimitReader(f, c.Digests.Size+1))
	if err != nil {
		return nil, fmt.Errorf("component %s: package %s: %w", c.ID, c.path(), err)
	}
	d, err := plan.Digest(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if d != c.Digests {
		return nil, fmt.Errorf("component %s: package %s changed since the plan was offered (%d bytes, SHA-256 %s; announced %d bytes, SHA-256 %s)",
			c.ID, c.path(), d.Size, d.SHA256, c.Digests.Size, c.Digests.SHA256)
	}
	return data, nil
}

// offerEvents returns the 7,10700 events for every component of t, to be
// sent back to back before the first 7,10701 (spec §13.6).
func (t *task) offerEvents() []event {
	evs := make([]event, 0, len(t.Components))
	for _, c := range t.Components {
		evs = append(evs, line(`+QIOTEVT: 7,10700,"%s","%s","%s",%d,%d,%d`, c.ID, c.Source, c.Target, c.Battery, c.Signal, c.Digests.Size))
	}
	return evs
}

// advance starts the first component from index i on that is not at its
// target version yet, or ends the plan when none is left. m.mu is held.
func (m *Module) advance(i int) {
	t := m.task
	for ; i < len(t.Components); i++ {
		c := &t.Components[i]
		if v, _ := m.st.version(c.ID); v != c.Target {
			break
		}
		m.log.Info("component already at its target version", "plan", t.Plan, "component", c.ID, "version", c.Target)
	}
	if i == len(t.Components) {
		m.log.Info("plan done", "plan", t.Plan)
		m.endTask()
		return
	}
	if err := m.startComponent(i); err != nil {
		m.failTask(err)
	}
}

// startComponent loads component i's package and announces its download:
// 10701 with the digests, 10702, and 10703 for the first piece. m.mu is
// held.
func (m *Module) startComponent(i int) error {
	t := m.task
	t.Current, t.Phase, t.pkg = i, phaseDownloading, nil
	c := t.comp()
	data, err := c.load()
	if err != nil {
		return err
	}
	t.pkg = data
	t.PieceStart, t.PieceLen = 0, min(int64(m.cfg.PieceSize), c.Digests.Size)
	m.save()
	d := c.Digests
	start := fmt.Sprintf(`+QIOTEVT: 7,10701,"%s",%d,"%s",%d`, c.ID, d.Size, d.MD5, d.CRC)
	if t.SHA256 {
		start += `,"` + d.SHA256 + `"`
	}
	m.log.Info("download started", "plan", t.Plan, "component", c.ID, "size", d.Size)
	m.events(event{line: start}, line("+QIOTEVT: 7,10702"), m.pieceEvent())
	return nil
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
}

// pieceEvent returns the 7,10703 event of the current piece. m.mu is held.
func (m *Module) pieceEvent() event {
	t := m.task
	c := t.comp()
	return line(`+QIOTEVT: 7,10703,"%s",%d,%d,%d`, c.ID, c.Digests.Size, t.PieceStart, t.PieceLen)
}

// versionReported takes a component version the MCU reported: the target
// version of the component being downloaded or updated means success
// (10705) and the next component starts; another version after
// AT+QIOTUPDATE=3 is a failure (10706). m.mu is held.
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
	m.advance(t.Current + 1)
}

// failTask ends the task with 7,10706 and counts the failure. m.mu is held.
func (m *Module) failTask(err error) {
	m.countFailure(err)
	m.events(line("+QIOTEVT: 7,10706"))
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

// endTask forgets the task. m.mu is held.
func (m *Module) endTask() {
	m.task = nil
	m.save()
}

// resumeTask takes up the task saved in the state file after a restart:
// the module reloads the piece it was serving. A package that changed or
// went away meanwhile fails the task; the MCU hears 7,10706 at its first
// command. m.mu is held.
func (m *Module) resumeTask() {
	ts := m.st.Task
	if ts == nil {
		return
	}
	ts.Components = slices.Clone(ts.Components)
	m.task = &task{taskState: *ts}
	if ts.Phase != phaseDownloading {
		return
	}
	data, err := m.task.comp().load()
	if err != nil {
		m.countFailure(fmt.Errorf("the task cannot go on after the restart: %w", err))
		m.notice = append(m.notice, line("+QIOTEVT: 7,10706"))
		m.endTask()
		return
	}
	m.task.pkg = data
	m.log.Info("task resumed", "plan", ts.Plan, "component", m.task.comp().ID, "piece_start", ts.PieceStart, "piece_len", ts.PieceLen)
}
