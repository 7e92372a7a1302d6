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
	DefaultPieceSize  = 65536
	DefaultCSQ        = 25
	DefaultEventDelay = 20 * time.Millisecond
	DefaultRegDelay   = 200 * time.Millisecond
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

// Module is an emulated Quectel module: it answers the QuecThing AT
// commands on a link and raises their events.
type Module struct {
	cfg  Config
	log  *slog.Logger
	srv  *atcmd.Server
	emit *emitter

	mu       sync.Mutex
	st       *state
	regState int
	task     *task // the OTA task in progress, nil if none
}

// New returns a Module with the state from cfg.StatePath. Close stops it.
func New(cfg Config) (*Module, error) {
	if cfg.PieceSize <= 0 {
		return nil, fmt.Errorf("module: piece size %d: must be at least 1 byte", cfg.PieceSize)
	}
	if cfg.CSQ < 0 || cfg.CSQ > 31 && cfg.CSQ != 99 {
		return nil, fmt.Errorf("module: csq %d: must be 0 to 31, or 99 for unknown", cfg.CSQ)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st := &state{Version: stateVersion, ServerType: 1, ServerURL: defaultServerURL}
	if cfg.StatePath != "" {
		var err error
		if st, err = loadState(cfg.StatePath); err != nil {
			return nil, err
		}
	} else if imei, err := newIMEI(); err == nil {
		st.IMEI = imei
	}
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&st.ProductKey, cfg.ProductKey}, {&st.ProductSecret, cfg.ProductSecret}, {&st.DeviceKey, cfg.DeviceKey}, {&st.DeviceSecret, cfg.DeviceSecret}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	m := &Module{cfg: cfg, log: cfg.Logger, st: st, regState: stateInitialised}
	m.srv = atcmd.NewServer(m.mux(), atcmd.WithServerLogger(cfg.Logger))
	m.emit = newEmitter(m.srv.Notify)
	if err := m.resumeTask(); err != nil {
		m.log.Warn("the saved OTA task cannot go on", "err", err)
	}
	if err := m.saveLocked(); err != nil {
		m.emit.close()
		return nil, err
	}
	if st.RegMode == 2 {
		m.register()
	}
	return m, nil
}

// Close stops the module's event timer. It does not close links.
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
			return fmt.Errorf("module: %w", err)
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

// saveLocked writes the state file; m.mu is held (or m is not shared yet).
func (m *Module) saveLocked() error {
	m.st.Task = nil
	if m.task != nil {
		ts := m.task.taskState
		m.st.Task = &ts
	}
	if m.cfg.StatePath == "" {
		return nil
	}
	return m.st.save(m.cfg.StatePath)
}

// save writes the state and logs a failure: the command already took
// effect, and the next change tries again.
func (m *Module) save() {
	if err := m.saveLocked(); err != nil {
		m.log.Error("saving state failed", "err", err)
	}
}

// events queues lines for the MCU, each EventDelay after the one before.
func (m *Module) events(evs ...event) {
	m.emit.after(m.cfg.EventDelay, m.cfg.EventDelay, evs...)
}

func line(format string, args ...any) event { return event{line: fmt.Sprintf(format, args...)} }
