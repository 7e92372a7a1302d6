package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

// Options configure Run.
type Options struct {
	// WorkDir keeps the run's plans, packages and module state; empty: a
	// temporary directory, removed afterwards.
	WorkDir string
	// Logger takes the module's and the MCU's logs; nil discards them.
	Logger *slog.Logger
	// OnEvent, when set, is called with each event as it happens, one at
	// a time.
	OnEvent func(Event)
}

// Run runs the scenario with the faults drawn from seed and returns what
// happened and whether each expectation held. An error means the run
// could not be made at all: a fault this build does not support yet
// (wrapping ErrUnsupported), a port that does not open, a work directory
// that cannot be written.
func Run(ctx context.Context, sc *Scenario, seed uint64, opts Options) (*Result, error) {
	if err := sc.unsupported(); err != nil {
		return nil, err
	}
	r := &runner{
		sc:       sc,
		seed:     seed,
		opts:     opts,
		log:      opts.Logger,
		stop:     make(chan struct{}),
		declared: map[string]string{},
		seen:     map[string]int{},
		updated:  map[string]mcu.Updated{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	dir := opts.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "atota-run-")
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	r.dir = dir
	return r.run(ctx)
}

// runner is one run of a scenario.
type runner struct {
	sc    *Scenario
	seed  uint64
	opts  Options
	log   *slog.Logger
	dir   string
	start time.Time
	ended time.Time // when the MCU side ended, before the link drained
	base  time.Time // the module's clock at the start
	skew  atomic.Int64
	csq   atomic.Int64 // the module's signal, as signal faults set it

	faults []*armed // the faults, random ones drawn

	// The link: a FaultLink on the emulated MCU's end (mcuSide), or on
	// the emulated module's end when the MCU is external.
	link    *transport.FaultLink
	mcuSide bool
	tap     *tap
	modSock *socket // nil with a real module
	mcuSock *socket // nil with an external MCU
	uart    transport.UART

	// What the plans written for the run bring: the files the module
	// serves and the images they build.
	builds builds

	// The emulated module, rebooted by module_reboot faults, and its
	// platform (module.platform).
	plans    *plan.Dir
	plat     *platformRun
	modMu    sync.Mutex
	mod      *module.Module
	modStop  context.CancelFunc
	modDone  chan struct{}
	refusals int // AT+QIOTUPDATE=0 the MCU sent, guarded by modMu
	offers   int // 7,10700 events sent, guarded by modMu

	// The emulated MCU, and the last update it reported of each
	// component (only the runner's goroutine touches updated).
	sim         *simFlash
	updated     map[string]mcu.Updated
	declared    map[string]string // versions the MCU reported last, guarded by evMu
	battery     atomic.Int64
	cycMu       sync.Mutex
	cyc         *cycleRun // the cycle running, nil between cycles
	disruptions atomic.Int64

	evMu    sync.Mutex
	events  []Event
	seen    map[string]int
	cycleN  int
	corrupt []string

	schedMu sync.Mutex
	timers  []*time.Timer
	active  []*armed // lasting link faults in force

	wg   sync.WaitGroup // fault actions and timers
	stop chan struct{}  // closed when the run ends
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	sc := r.sc
	r.start = time.Now()
	r.base = r.start.UTC().Truncate(time.Minute)
	r.uart = transport.UART{Baud: sc.Link.Baud, Parity: sc.Link.Parity}
	r.faults = r.draw()
	batt := 100
	if sc.MCU.Battery != nil {
		batt = *sc.MCU.Battery
	}
	r.battery.Store(int64(batt))
	csq := module.DefaultCSQ
	if sc.Module.CSQ != nil {
		csq = *sc.Module.CSQ
	}
	r.csq.Store(int64(csq))

	ctx, cancel := context.WithTimeout(ctx, sc.Timeout)
	defer cancel()
	if err := r.setup(ctx); err != nil {
		r.shutdown()
		return nil, err
	}
	r.emit(Event{Kind: "run", Name: "run:start", Text: fmt.Sprintf("scenario %s, seed %d", sc.Name, r.seed)})
	if r.plat != nil {
		r.emit(Event{Kind: "platform", Name: "platform:up", Text: r.plat.describe()})
	}
	r.emitPackages()
	for _, a := range r.faults {
		r.emit(Event{Kind: "fault", Name: "plan:" + a.f.Type, Text: a.desc})
	}
	r.armTriggers()

	var out outcome
	if r.mcuSock != nil {
		out = r.runMCU(ctx)
		r.saveFlash()
	} else {
		out = r.waitExternal(ctx)
	}
	r.ended = time.Now()
	if r.plat != nil {
		r.settlePlatform(ctx)
	}
	r.drain(ctx)
	r.shutdown()
	res := r.result(out)
	r.emit(Event{Kind: "end", Name: "run:" + string(res.Outcome), Text: res.Reason})
	r.check(res)
	r.evMu.Lock()
	res.Events = slices.Clone(r.events)
	r.evMu.Unlock()
	return res, nil
}

// setup builds the link, the module and the MCU.
func (r *runner) setup(ctx context.Context) error {
	sc := r.sc
	bs, err := buildAll(sc)
	if err != nil {
		return err
	}
	r.builds = bs
	r.tap = newTap(r.seed)
	r.tap.onURC = r.onURC
	r.tap.onRead = r.onRead
	r.tap.onFlip = func(comp string, at int64) {
		r.emit(Event{Kind: "link", Name: "link:block_corrupted", Text: fmt.Sprintf("a bit of byte %d of %s flipped on its way to the MCU", at, comp)})
	}
	for _, a := range r.faults {
		if a.f.Type == FaultCorruptBlock {
			r.tap.corrupt = append(r.tap.corrupt, &corruptor{f: a.f})
		}
	}
	pace := func(rw io.ReadWriteCloser) io.ReadWriteCloser {
		if sc.Link.Pace {
			return r.uart.Pace(rw)
		}
		return rw
	}
	switch {
	case sc.MCU.Port != "": // an external MCU: the emulated module serves its port
		l, err := transport.Listen(ctx, sc.MCU.Port, transport.WithBaud(portBaud(sc.MCU.Baud)), transport.WithLogger(r.log))
		if err != nil {
			return fmt.Errorf("scenario: mcu.port: %w", err)
		}
		r.link = transport.NewFaultLink(&relisten{l: l, log: r.log}, r.seed)
		cmds := &cmdTap{rw: r.link, onLine: r.onCommand, readSide: true}
		r.modSock = newSocket(pace(&tapConn{rw: cmds, t: r.tap}))
	case sc.Module.Port != "": // a real module: the emulated MCU dials its port
		conn, err := transport.Dial(ctx, sc.Module.Port, transport.WithBaud(portBaud(sc.Module.Baud)), transport.WithLogger(r.log))
		if err != nil {
			return fmt.Errorf("scenario: module.port: %w", err)
		}
		r.link, r.mcuSide = transport.NewFaultLink(&tapConn{rw: conn, t: r.tap, readSide: true}, r.seed), true
		r.mcuSock = newSocket(&cmdTap{rw: pace(r.link), onLine: r.onCommand})
	default:
		mcuEnd, modEnd := transport.Pipe()
		r.link, r.mcuSide = transport.NewFaultLink(&tapConn{rw: mcuEnd, t: r.tap, readSide: true}, r.seed), true
		r.mcuSock = newSocket(&cmdTap{rw: pace(r.link), onLine: r.onCommand})
		r.modSock = newSocket(pace(modEnd))
	}
	if r.modSock != nil {
		if err := r.setupModule(); err != nil {
			return err
		}
		if sc.Module.Platform {
			if err := r.startPlatform(ctx); err != nil {
				return err
			}
		}
		if err := r.bootModule(); err != nil {
			return err
		}
	}
	if r.mcuSock != nil {
		if err := r.setupMCU(); err != nil {
			return err
		}
	}
	return nil
}

// FlashFile is the file in Options.WorkDir where a run with the
// emulated MCU leaves its flash at the end, in the format of flashsim
// (atota flash inspect reads it).
const FlashFile = "mcu-flash.bin"

// saveFlash writes the emulated MCU's flash into the work directory when
// the caller keeps it (Options.WorkDir).
func (r *runner) saveFlash() {
	if r.opts.WorkDir == "" || r.sim == nil {
		return
	}
	path := filepath.Join(r.dir, FlashFile)
	if err := r.sim.f.Save(path); err != nil {
		r.log.Warn("the emulated MCU's flash was not saved", "path", path, "err", err)
	}
}

// portBaud returns the baud of a port, the default for 0.
func portBaud(b int) int {
	if b <= 0 {
		return transport.DefaultBaud
	}
	return b
}

// setupModule writes the plans and packages.
func (r *runner) setupModule() error {
	sc := r.sc
	dir := filepath.Join(r.dir, "plans")
	if sc.Module.PlansDir != "" {
		dir = filepath.Join(sc.Dir, sc.Module.PlansDir)
	} else if err := writePlans(sc, r.builds, r.dir, r.base); err != nil {
		return err
	}
	plans, err := plan.OpenDir(dir, plan.WithLogger(r.log))
	if err != nil {
		return fmt.Errorf("scenario: module plans: %w", err)
	}
	r.plans = plans
	return nil
}

// moduleConfig returns the emulated module's configuration.
func (r *runner) moduleConfig() module.Config {
	m := r.sc.Module
	cfg := module.DefaultConfig()
	cfg.Plans = r.plans
	if r.plat != nil {
		cfg.Plans, cfg.Observer = r.plat.dev, linkObserver{r.plat.dev}
		cfg.DeviceKey, cfg.DeviceSecret = platformDevice, platformSecret
	}
	cfg.StatePath = filepath.Join(r.dir, "module-state.json")
	cfg.ProductKey, cfg.ProductSecret = m.Product, "scenario-secret"
	if m.PieceSize > 0 {
		cfg.PieceSize = int(m.PieceSize)
	}
	cfg.CSQ = int(r.csq.Load())
	if m.Battery != nil {
		cfg.Battery = *m.Battery
	}
	if m.EventDelay != nil {
		cfg.EventDelay = *m.EventDelay
	}
	if m.RegDelay != nil {
		cfg.RegDelay = *m.RegDelay
	}
	cfg.Now = r.clock
	for _, a := range r.faults {
		if a.f.Type == FaultClock {
			// The module's planner sleeps until a plan's window ends by
			// the time package's clock; clock jumps need it to look often.
			cfg.PlanPoll = 10 * time.Millisecond
		}
	}
	cfg.Logger = r.log.With("side", "module")
	return cfg
}

// clock is the module's clock: the run's start rounded down to the
// minute, moving on in real time, plus every clock fault's jump.
func (r *runner) clock() time.Time {
	return r.base.Add(time.Since(r.start) + time.Duration(r.skew.Load()))
}

// bootModule starts the emulated module on its end of the link, from its
// state file as a rebooted module does.
func (r *runner) bootModule() error {
	m, err := module.New(r.moduleConfig())
	if err != nil {
		return fmt.Errorf("scenario: module: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p := r.modSock.attach()
	r.modMu.Lock()
	r.mod, r.modStop, r.modDone = m, cancel, done
	r.modMu.Unlock()
	go func() {
		defer close(done)
		if err := m.Server().Serve(ctx, p); err != nil && ctx.Err() == nil {
			r.log.Warn("module stopped serving", "err", err)
		}
	}()
	return nil
}

// stopModule stops the emulated module, as a power loss does: queued
// events are lost, the state file stays.
func (r *runner) stopModule() {
	r.modMu.Lock()
	m, stop, done := r.mod, r.modStop, r.modDone
	r.mod, r.modStop, r.modDone = nil, nil, nil
	r.modMu.Unlock()
	if m == nil {
		return
	}
	stop()
	<-done
	m.Close()
}

// emit records an event and passes it on.
func (r *runner) emit(e Event) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	e.T = time.Since(r.start)
	if e.Cycle == 0 && e.Kind != "run" && e.Kind != "end" {
		e.Cycle = r.cycleN
	}
	r.events = append(r.events, e)
	r.seen[e.Name]++
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(e)
	}
}

// onURC takes an event line the module sent.
func (r *runner) onURC(line string) {
	name := line
	if e, err := mcu.ParseEvent(line); err == nil {
		name = e.String()
	}
	if name == "7,10700" {
		r.modMu.Lock()
		r.offers++
		r.modMu.Unlock()
	}
	r.emit(Event{Kind: "urc", Name: name, Text: line})
	r.fireOn(func(t Trigger, a *armed) bool {
		if t.Event != name {
			return false
		}
		a.events++
		return a.events >= max(t.Count, 1)
	})
}

// onRead takes an AT+QIOTOTARD answer the module sent.
func (r *runner) onRead(comp string, start, n int64) {
	r.fireOn(func(t Trigger, a *armed) bool { return t.Bytes > 0 && start+n >= int64(t.Bytes) })
}

// shutdown stops the fault actions, the module and the link.
func (r *runner) shutdown() {
	r.schedMu.Lock()
	select {
	case <-r.stop:
		r.schedMu.Unlock()
		return
	default:
		close(r.stop) // under schedMu: no spawn or timer is added after
	}
	for _, t := range r.timers {
		if t.Stop() {
			r.wg.Done()
		}
	}
	r.timers = nil
	r.schedMu.Unlock()
	r.resetMCU()
	r.wg.Wait()
	if r.modSock != nil {
		r.stopModule()
		r.modSock.close()
	}
	if r.plat != nil {
		r.plat.close()
	}
	if r.mcuSock != nil {
		r.mcuSock.close()
	}
	if r.link != nil {
		r.link.Close()
	}
}

// drain lets the events the module still has queued come out before the
// run ends: it waits until the link has been quiet for three event
// delays (at least 20 ms), for at most a second.
func (r *runner) drain(ctx context.Context) {
	if r.modSock == nil {
		return
	}
	quiet := 20 * time.Millisecond
	if d := r.sc.Module.EventDelay; d != nil {
		quiet = max(quiet, 3**d)
	} else {
		quiet = max(quiet, 3*module.DefaultEventDelay)
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		q := r.tap.quietFor()
		if q >= quiet {
			return
		}
		time.Sleep(quiet - q)
	}
}

// sleep waits for d, or less when the run ends.
func (r *runner) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.stop:
	case <-ctx.Done():
	}
	return false
}
