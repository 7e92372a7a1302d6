package module

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
)

// Defaults of the emulated module.
const (
	// DefaultPieceSize is how many bytes of a package the module holds at
	// once: one 7,10703 event per piece.
	DefaultPieceSize = 65536
	// DefaultCSQ is the simulated signal, AT+CSQ rssi 25 (-63 dBm).
	DefaultCSQ = 25
	// DefaultEventDelay is the time from a command's OK to the events it
	// causes; real MCU firmware loses events sent with the OK (spec §13.7).
	DefaultEventDelay = 20 * time.Millisecond
	// DefaultRegDelay is the time from AT+QIOTREG=1 to 2,10200.
	DefaultRegDelay = 200 * time.Millisecond
	// DefaultRebootDelay is how long a reboot keeps the module away.
	DefaultRebootDelay = 3 * time.Second
	// DefaultPushInterval is how often the platform pushes a plan the
	// device neither confirmed nor refused ("about every 10 minutes").
	DefaultPushInterval = 10 * time.Minute
	// DefaultFirstPush is how long after a registration the platform
	// pushes a plan for the first time, leaving an MCU that asks by itself
	// (AT+QIOTOTAREQ) the time to do so.
	DefaultFirstPush = 30 * time.Second
	// DefaultPlanPoll is how often the module looks at its plans while it
	// could push one: a plan added to the plans directory is noticed
	// within this time, without a restart.
	DefaultPlanPoll = 5 * time.Second
	// MaxRead is the most bytes one AT+QIOTOTARD answers (spec §4,
	// §13.4) on the default model; Model.OTARDMax is each model's.
	MaxRead = 1024
)

// PlanSource gives the upgrade plans the module knows; a plans directory
// (*plan.Dir) is one, a platform link another. A plan's component files
// are found through Plan.Dir. Bad plans come back as errors beside the
// good ones.
type PlanSource interface {
	Load() ([]*plan.Plan, []error)
}

// Listener hands out links to serve one after another: a serial port
// reopened, a pty whose peer reconnected, a TCP connection.
type Listener interface {
	Accept(ctx context.Context) (io.ReadWriteCloser, error)
}

// Config configures a Module. Start from DefaultConfig.
type Config struct {
	// Plans is where upgrade plans come from.
	Plans PlanSource
	// StatePath is the state file; empty keeps the state in memory only.
	StatePath string
	// CacheDir holds the module's copies of the packages of the task in
	// progress. Empty means StatePath with ".cache" in place of its
	// extension, or a temporary directory when StatePath is empty.
	CacheDir string

	// Product and device identity, as if saved with AT+QIOTCFG
	// "productinfo" and "dk_ds". Empty fields keep what the state holds.
	ProductKey, ProductSecret string
	DeviceKey, DeviceSecret   string

	CSQ        int           // simulated signal, rssi 0-31 or 99
	Battery    int           // simulated battery percent for AT+CBC
	PieceSize  int           // bytes of a package the module holds at once
	EventDelay time.Duration // from a command's OK to the events it causes
	RegDelay   time.Duration // from AT+QIOTREG=1 to the registration events

	// RebootDelay is how long a reboot (after a module firmware update,
	// or asked for through the control endpoint) keeps the module away.
	RebootDelay time.Duration
	// PushInterval is how often a plan with push_actively is pushed again
	// while the device neither confirms nor refuses it.
	PushInterval time.Duration
	// FirstPush is how long after a registration the first push comes.
	FirstPush time.Duration
	// PlanPoll is how often the plans are looked at while a push is
	// possible.
	PlanPoll time.Duration

	// Model is the module model played: identity, network, formats and
	// answers; nil is the DefaultModel. Use Model.Config for its piece
	// size and delays.
	Model *Model
	// Replies are canned answers that come before everything else, in
	// order (a --replies file).
	Replies []Reply

	// Now is the clock plans are judged by (windows, push periods,
	// rejection windows); nil is time.Now. Timers run on the time
	// package's clock, so Now must advance with it, as time.Now does.
	Now    func() time.Time
	Logger *slog.Logger
	// Observer, when set, hears version reports and task progress.
	Observer Observer
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	return Config{
		CSQ:          DefaultCSQ,
		Battery:      100,
		PieceSize:    DefaultPieceSize,
		EventDelay:   DefaultEventDelay,
		RegDelay:     DefaultRegDelay,
		RebootDelay:  DefaultRebootDelay,
		PushInterval: DefaultPushInterval,
		FirstPush:    DefaultFirstPush,
		PlanPoll:     DefaultPlanPoll,
	}
}

// check reports the first field of c that is out of range.
func (c *Config) check() error {
	switch {
	case c.PieceSize <= 0:
		return fmt.Errorf("module: piece size %d: must be at least 1 byte", c.PieceSize)
	case !validCSQ(c.CSQ):
		return fmt.Errorf("module: csq %d: must be 0 to 31, or 99 for unknown", c.CSQ)
	case c.Battery < 0 || c.Battery > 100:
		return fmt.Errorf("module: battery %d: must be 0 to 100 percent", c.Battery)
	case c.EventDelay < 0 || c.RegDelay < 0 || c.RebootDelay < 0:
		return fmt.Errorf("module: event delay %v, registration delay %v, reboot delay %v: cannot be negative", c.EventDelay, c.RegDelay, c.RebootDelay)
	case c.PushInterval < 0 || c.FirstPush < 0 || c.PlanPoll < 0:
		return fmt.Errorf("module: push interval %v, first push %v, plan poll %v: cannot be negative", c.PushInterval, c.FirstPush, c.PlanPoll)
	}
	return nil
}

func validCSQ(n int) bool { return n >= 0 && n <= 31 || n == 99 }

// Module is an emulated Quectel module: it answers the QuecThing AT
// commands on a link and raises their events.
type Module struct {
	cfg   Config
	model *Model
	log   *slog.Logger
	srv   *atcmd.Server
	emit  *emitter
	obs   *notifier
	cache *cache

	ctx    context.Context // canceled by Close: stops a package copy
	cancel context.CancelFunc
	kick   chan struct{} // wakes the planner
	done   chan struct{} // closed when the planner stopped

	mu       sync.Mutex
	st       *state
	saved    []byte // the state as last written, to skip writes that change nothing
	regState int
	readyAt  time.Time // when the module was last ready for data (state 8)
	csq      int
	battery  int
	task     *task   // the OTA task in progress, nil if none
	gen      int     // counts tasks, to tell a task from the one after it
	notice   []event // events for the MCU's first command (a task lost in a restart)
	lastSHA  bool    // the last AT+QIOTOTAREQ asked for SHA-256: pushes do too
	pushed   map[string]time.Time
	pushNow  map[string]bool // plans to push at once: confirmed in the app, or asked for
	planErrs string          // the plan errors last logged
	served   int64           // payload bytes served
	reads    int64           // AT+QIOTOTARD answered with data
	readBuf  []byte

	net      netState
	settings map[string]string // the model's settings as set, by command (and key)
	unknown  map[string]bool   // commands answered ERROR as unknown, logged once

	booting bool
	booted  chan struct{}      // closed when a reboot is over
	bootURC bool               // the boot lines wait for the next link
	drop    context.CancelFunc // drops the link Serve is serving, nil if none
	linkUp  bool
}

// New returns a Module with the state from cfg.StatePath. Close stops it.
func New(cfg Config) (*Module, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Plans == nil {
		cfg.Plans = noPlans{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PlanPoll == 0 {
		cfg.PlanPoll = DefaultPlanPoll
	}
	model := cfg.Model
	if model == nil {
		model = mustModel(DefaultModel)
	}
	for i := range cfg.Replies {
		if err := cfg.Replies[i].check(); err != nil {
			return nil, fmt.Errorf("module: replies[%d] (%s): %w", i, cfg.Replies[i].at, err)
		}
	}
	st, saved, err := loadState(cfg.StatePath, model)
	if err != nil {
		return nil, err
	}
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&st.ProductKey, cfg.ProductKey}, {&st.ProductSecret, cfg.ProductSecret}, {&st.DeviceKey, cfg.DeviceKey}, {&st.DeviceSecret, cfg.DeviceSecret}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	if st.Model != model.Name {
		if st.Model != "" {
			cfg.Logger.Warn("the state file was used with another model: the module firmware version starts afresh",
				"state", cfg.StatePath, "was", st.Model, "now", model.Name, "version", model.Revision)
		}
		st.Model, st.ModuleVersion = model.Name, ""
	}
	if st.ModuleVersion == "" {
		st.ModuleVersion = model.Revision
	}
	booted := make(chan struct{})
	close(booted)
	m := &Module{
		cfg:      cfg,
		model:    model,
		log:      cfg.Logger,
		cache:    newCache(cfg.CacheDir, cfg.StatePath),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		st:       st,
		saved:    saved,
		regState: stateInitialised,
		csq:      cfg.CSQ,
		battery:  cfg.Battery,
		pushed:   map[string]time.Time{},
		pushNow:  map[string]bool{},
		readBuf:  make([]byte, model.OTARDMax),
		settings: map[string]string{},
		unknown:  map[string]bool{},
		booted:   booted,
	}
	m.resetNet()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	mux := m.mux()
	m.srv = atcmd.NewServer(atcmd.HandlerFunc(func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		if err := m.begin(); err != nil {
			return err
		}
		if rp := findReply(cfg.Replies, r); rp != nil {
			return m.reply(ctx, w, rp)
		}
		if rp := findReply(model.Replies, r); rp != nil {
			return m.reply(ctx, w, rp)
		}
		return mux.ServeAT(ctx, w, r)
	}), atcmd.WithServerLogger(cfg.Logger), atcmd.WithFinalHook(m.end))

	// The goroutines share m.mu: from here on, m is shared.
	m.obs = newNotifier(cfg.Observer)
	m.emit = newEmitter(&m.mu, m.notify)
	go m.run()
	m.mu.Lock()
	m.resumeTask()
	err = m.saveLocked()
	if err == nil {
		m.cache.prune(m.cacheInUse())
		m.autoRegister()
	}
	m.mu.Unlock()
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// noPlans is the PlanSource of a Config without one.
type noPlans struct{}

func (noPlans) Load() ([]*plan.Plan, []error) { return nil, nil }

// Close stops the module's timers and goroutines; events not sent yet are
// dropped. It does not close links. Close may be called more than once.
func (m *Module) Close() error {
	m.cancel()
	m.emit.close()
	<-m.done
	m.obs.close()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closeFiles()
	return m.cache.close()
}

// Model returns the model the module plays.
func (m *Module) Model() *Model { return m.model }

// Server returns the AT server, to serve a single link directly.
func (m *Module) Server() *atcmd.Server { return m.srv }

// DeviceKey returns the key the platform knows this device by.
func (m *Module) DeviceKey() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.deviceKey()
}

// Serve serves the links l hands out, one after another, until ctx is
// done. A link the peer closes is logged and the next one awaited. A
// reboot drops the link; the next one is accepted when the reboot is
// over.
func (m *Module) Serve(ctx context.Context, l Listener) error {
	for {
		m.mu.Lock()
		booted := m.booted
		m.mu.Unlock()
		select {
		case <-booted:
		case <-ctx.Done():
			return nil
		}
		conn, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("module: waiting for a link: %w", err)
		}
		m.log.Info("link up")
		linkCtx, drop := context.WithCancel(ctx)
		m.mu.Lock()
		m.drop, m.linkUp = drop, true
		m.mu.Unlock()
		// The boot lines of a reboot wait until the server reads the new
		// link: before that, it would drop them.
		conn = &firstRead{ReadWriteCloser: conn, f: func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.bootURC {
				m.bootURC = false
				m.up()
			}
		}}
		err = m.srv.Serve(linkCtx, conn)
		dropped := linkCtx.Err() != nil
		drop()
		conn.Close()
		m.mu.Lock()
		m.drop, m.linkUp = nil, false
		m.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return nil
		case dropped:
			m.log.Info("link dropped: the module is rebooting")
		case err != nil && !errors.Is(err, io.EOF):
			m.log.Warn("link failed; waiting for the next", "err", err)
		default:
			m.log.Info("link closed by the peer; waiting for the next")
		}
	}
}

// firstRead calls f before the first Read of a link.
type firstRead struct {
	io.ReadWriteCloser
	once sync.Once
	f    func()
}

func (r *firstRead) Read(p []byte) (int, error) {
	r.once.Do(r.f)
	return r.ReadWriteCloser.Read(p)
}

// begin runs before each command: events the command causes wait for its
// final result, and events kept for the MCU's first command go out.
func (m *Module) begin() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.booting {
		return atcmd.ErrError // a link kept through a reboot (Server used directly)
	}
	m.emit.hold()
	if len(m.notice) > 0 {
		m.events(m.notice...)
		m.notice = nil
	}
	return nil
}

// end runs when a command line's final result is on the wire: the events
// it caused are timed from now.
func (m *Module) end() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.emit.release()
}

// notify sends an event line to the MCU; the emitter calls it.
func (m *Module) notify(line string) { m.srv.Notify(line) }

// saveLocked writes the state file if the state changed since the last
// write. m.mu is held.
func (m *Module) saveLocked() error {
	m.st.Task = nil
	if m.task != nil {
		ts := m.task.taskState
		m.st.Task = &ts
	}
	if m.cfg.StatePath == "" {
		return nil
	}
	data, err := m.st.marshal()
	if err != nil {
		return err
	}
	if string(data) == string(m.saved) {
		return nil
	}
	if err := writeState(m.cfg.StatePath, data); err != nil {
		return err
	}
	m.saved = data
	return nil
}

// save writes the state and logs a failure: the command already took
// effect, and the next change tries again. m.mu is held.
func (m *Module) save() {
	if err := m.saveLocked(); err != nil {
		m.log.Error("saving state failed", "err", err)
	}
}

// events queues lines for the MCU, the first EventDelay from now (or
// from the final result of the command running), each further one
// EventDelay after the one before. m.mu is held.
func (m *Module) events(evs ...event) {
	m.emit.after(m.cfg.EventDelay, m.cfg.EventDelay, evs...)
}

// wake makes the planner look at timers and plans again soon.
func (m *Module) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func line(format string, args ...any) event { return event{line: fmt.Sprintf(format, args...)} }
