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
	// MaxRead is the most bytes one AT+QIOTOTARD answers (spec §4, §13.4).
	MaxRead = 1024

	defaultServerURL = "mqtt://iot-south.quectelcn.com:1883"
)

// PlanSource gives the upgrade plans the module knows; a plans directory
// (*plan.Dir) is one. Bad plans come back as errors beside the good ones.
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

	// Product and device identity, as if saved with AT+QIOTCFG
	// "productinfo" and "dk_ds". Empty fields keep what the state holds.
	ProductKey, ProductSecret string
	DeviceKey, DeviceSecret   string

	CSQ        int           // simulated signal, rssi 0-31 or 99
	Battery    int           // simulated battery percent for AT+CBC
	PieceSize  int           // bytes of a package the module holds at once
	EventDelay time.Duration // from a command's OK to the events it causes
	RegDelay   time.Duration // from AT+QIOTREG=1 to the registration events

	// Now is the clock plans are judged by; nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Observer, when set, hears version reports and task progress.
	Observer Observer
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	return Config{
		CSQ:        DefaultCSQ,
		Battery:    100,
		PieceSize:  DefaultPieceSize,
		EventDelay: DefaultEventDelay,
		RegDelay:   DefaultRegDelay,
	}
}

// check reports the first field of c that is out of range.
func (c *Config) check() error {
	switch {
	case c.PieceSize <= 0:
		return fmt.Errorf("module: piece size %d: must be at least 1 byte", c.PieceSize)
	case c.CSQ < 0 || c.CSQ > 31 && c.CSQ != 99:
		return fmt.Errorf("module: csq %d: must be 0 to 31, or 99 for unknown", c.CSQ)
	case c.Battery < 0 || c.Battery > 100:
		return fmt.Errorf("module: battery %d: must be 0 to 100 percent", c.Battery)
	case c.EventDelay < 0 || c.RegDelay < 0:
		return fmt.Errorf("module: event delay %v, registration delay %v: cannot be negative", c.EventDelay, c.RegDelay)
	}
	return nil
}

// Module is an emulated Quectel module: it answers the QuecThing AT
// commands on a link and raises their events.
type Module struct {
	cfg  Config
	log  *slog.Logger
	srv  *atcmd.Server
	emit *emitter

	mu       sync.Mutex
	st       *state
	saved    []byte // the state as last written, to skip writes that change nothing
	regState int
	csq      int
	battery  int
	task     *task   // the OTA task in progress, nil if none
	notice   []event // events for the MCU's first command (a task lost in a restart)
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
	st, saved, err := loadState(cfg.StatePath)
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
	m := &Module{
		cfg:      cfg,
		log:      cfg.Logger,
		st:       st,
		saved:    saved,
		regState: stateInitialised,
		csq:      cfg.CSQ,
		battery:  cfg.Battery,
	}
	mux := m.mux()
	m.srv = atcmd.NewServer(atcmd.HandlerFunc(func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		m.flushNotice()
		return mux.ServeAT(ctx, w, r)
	}), atcmd.WithServerLogger(cfg.Logger))

	// The emitter's goroutine shares m.mu: from here on, m is shared.
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resumeTask()
	if err := m.saveLocked(); err != nil {
		return nil, err
	}
	m.emit = newEmitter(&m.mu, m.srv.Notify)
	if st.RegMode == 2 {
		if why := m.cannotRegister(); why != "" {
			m.log.Warn("automatic registration (AT+QIOTREG=2) skipped: "+why, "state", cfg.StatePath)
		} else {
			m.register()
		}
	}
	return m, nil
}

// noPlans is the PlanSource of a Config without one.
type noPlans struct{}

func (noPlans) Load() ([]*plan.Plan, []error) { return nil, nil }

// Close stops the module's event timer; events not sent yet are dropped.
// It does not close links. Close may be called more than once.
func (m *Module) Close() error {
	m.emit.close()
	return nil
}

// Server returns the AT server, to serve a single link directly.
func (m *Module) Server() *atcmd.Server { return m.srv }

// DeviceKey returns the key the platform knows this device by.
func (m *Module) DeviceKey() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.deviceKey()
}

// Serve serves the links l hands out, one after another, until ctx is
// done. A link the peer closes is logged and the next one awaited.
func (m *Module) Serve(ctx context.Context, l Listener) error {
	for {
		conn, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("module: waiting for a link: %w", err)
		}
		m.log.Info("link up")
		err = m.srv.Serve(ctx, conn)
		conn.Close()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			m.log.Warn("link failed; waiting for the next", "err", err)
		} else {
			m.log.Info("link closed by the peer; waiting for the next")
		}
	}
}

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

// events queues lines for the MCU, the first EventDelay from now, each
// further one EventDelay after the one before. m.mu is held.
func (m *Module) events(evs ...event) {
	m.emit.after(m.cfg.EventDelay, m.cfg.EventDelay, evs...)
}

// flushNotice sends the events kept for the MCU's first command.
func (m *Module) flushNotice() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.notice) > 0 {
		m.events(m.notice...)
		m.notice = nil
	}
}

func line(format string, args ...any) event { return event{line: fmt.Sprintf(format, args...)} }
