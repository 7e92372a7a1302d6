package mcu

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/flashsim"
)

// Component is one firmware component of the MCU and its current version.
type Component struct {
	ID      string
	Version string
}

// Progress reports how much of a component has been read.
type Progress struct {
	Component string
	Done      int64
	Total     int64
}

// Config configures an OTA cycle. Start from DefaultConfig; a zero
// timeout, Block, Battery or PolicyPoll takes the default.
type Config struct {
	Components []Component // reported with AT+QIOTMCUVER, in this order
	// Battery returns the battery level in percent.
	Battery func(ctx context.Context) (int, error)
	Target  Target
	SHA256  bool // ask for plans with AT+QIOTOTAREQ=1
	Block   int  // AT+QIOTOTARD read size
	// Journal is the file the MCU keeps its progress in, to resume after
	// a reset; "" keeps none (an Agent still resumes after a lost link).
	Journal string
	// CRC is the CRC-32 variant of the module's <CRC> (spec §5: uncertain;
	// plan.DefaultCRC, MPEG-2, unless set).
	CRC plan.CRCVariant
	// VerifyKey, when set, is the ed25519 public key every update must
	// be signed with: only atota packages (agent/pack) whose header it
	// verifies are applied; raw images and unsigned or otherwise signed
	// packages are refused before anything is written.
	VerifyKey ed25519.PublicKey

	CommandTimeout  time.Duration // a plain command (spec §1: 1 s)
	ReadTimeout     time.Duration // AT+QIOTOTARD to its header (spec §1: 3 s)
	PayloadTimeout  time.Duration // the header to the end of its payload (spec §1: 10 s)
	RegisterTimeout time.Duration // AT+QIOTREG=1 to 3,10200
	PlanTimeout     time.Duration // AT+QIOTOTAREQ to 7,10700
	EventTimeout    time.Duration // between the events of a transfer
	// ModuleTimeout is how long an Agent waits for a module that stopped
	// answering or whose link went away before it gives up.
	ModuleTimeout time.Duration
	// PolicyPoll is how often an Agent measures again a minimum that made
	// it refuse a plan.
	PolicyPoll time.Duration

	Progress func(Progress)
	Logger   *slog.Logger
}

// DefaultConfig returns the defaults of DESIGN.md and spec §1.
func DefaultConfig() Config {
	return Config{
		Battery:         func(context.Context) (int, error) { return 100, nil },
		Block:           1024,
		CRC:             plan.DefaultCRC,
		CommandTimeout:  time.Second,
		ReadTimeout:     3 * time.Second,
		PayloadTimeout:  10 * time.Second,
		RegisterTimeout: 60 * time.Second,
		PlanTimeout:     10 * time.Second,
		EventTimeout:    60 * time.Second,
		ModuleTimeout:   5 * time.Minute,
		PolicyPoll:      30 * time.Second,
	}
}

// readTries is how often one block is asked for before the transfer fails.
const readTries = 3

// Updated describes one component brought to its target version.
type Updated struct {
	Component string
	From, To  string
	Digests   plan.Digests // of the image read back from the target
	SHA256    bool         // the module sent a SHA-256 and it matched
	Blocks    int          // AT+QIOTOTARD reads in this run
	Pieces    int
	Resumed   int64 // bytes of the download not read again in this run (a resume)
	// Package is "full" or "delta" for an atota package, which the MCU
	// applied as it read it; "" for a raw image. Digests are those of
	// the image it built; PackageSize is the package's size, what was
	// read over the link, and Signed says its signature was verified
	// with Config.VerifyKey.
	Package     string
	PackageSize int64
	Signed      bool
	Where       string // where the image now runs
	Duration    time.Duration
}

// Result is the outcome of an OTA cycle.
type Result struct {
	// Updated lists the components written to the target and reported
	// with their new version, in order. With an error from Run, the last
	// one may lack the module's confirmation (7,10705).
	Updated []Updated
	NoPlan  bool // the module offered no plan
}

// ErrVerify is wrapped by errors of an image that does not match its
// digests; nothing was reported and the old image stays the one that runs.
var ErrVerify = errors.New("image verification failed")

// ErrLink is wrapped by errors of a link that failed: the port closed, or
// the module stopped answering. An Agent waits for the module and goes
// on from the journal.
var ErrLink = errors.New("link to the module failed")

// session is one OTA cycle on a link.
type session struct {
	cfg  Config
	c    *atcmd.Client
	log  *slog.Logger
	evt  *atcmd.Subscription
	held []Event // OTA events that came while registering
	j    *journal
	// keep: an Agent runs again after a failed link, so an image the
	// link failure interrupted is kept for it rather than aborted (with a
	// journal file images are always kept).
	keep bool

	transfer
	res Result
}

// Run performs one OTA cycle over the AT client c: declare the component
// versions, register, ask for a plan, check its minimums, read, verify and
// write every component, report the new versions. With Config.Journal it
// first finishes what a previous run left (an image verified or committed
// before a reset) and resumes a transfer where the journal says. A refusal
// by policy is a *PolicyError after AT+QIOTUPDATE=0; an image that does
// not match its digests is an error wrapping ErrVerify; a failed link
// wraps ErrLink. Without a journal, an image not committed when Run fails
// is aborted and the running one stays.
func Run(ctx context.Context, c *atcmd.Client, cfg Config) (*Result, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	j, err := loadJournal(cfg.Journal, targetID(cfg.Target))
	if err != nil {
		return nil, err
	}
	return run(ctx, c, cfg, j, cfg.Journal != "")
}

// run is Run with a journal already loaded.
func run(ctx context.Context, c *atcmd.Client, cfg Config, j *journal, keep bool) (*Result, error) {
	s := &session{cfg: cfg, c: c, log: cfg.Logger, evt: c.Subscribe("+QIOTEVT:"), j: j, keep: keep}
	defer s.evt.Close()
	if err := s.prepare(ctx); err != nil {
		return &s.res, err
	}
	err := s.run(ctx)
	return &s.res, err
}

// check validates cfg and fills in defaults.
func (cfg Config) check() (Config, error) {
	if cfg.Target == nil {
		return cfg, errors.New("mcu: no target: set Config.Target (see OpenTarget)")
	}
	if len(cfg.Components) == 0 {
		return cfg, errors.New("mcu: no components: set Config.Components to the MCU's component IDs and versions; without them the platform sends no plan")
	}
	seen := make(map[string]bool)
	for _, c := range cfg.Components {
		if c.ID == "" || c.Version == "" || strings.ContainsAny(c.ID+c.Version, "\"\r\n") {
			return cfg, fmt.Errorf("mcu: component %q version %q: both must be non-empty, without quotes or line ends", c.ID, c.Version)
		}
		if seen[c.ID] {
			return cfg, fmt.Errorf("mcu: component %q is listed twice", c.ID)
		}
		seen[c.ID] = true
	}
	def := DefaultConfig()
	if cfg.Block == 0 {
		cfg.Block = def.Block
	}
	if cfg.Block < 0 || cfg.Block > maxBlock {
		return cfg, fmt.Errorf("mcu: block size %d: want 1 to %d", cfg.Block, maxBlock)
	}
	if cfg.CRC != plan.MPEG2 && cfg.CRC != plan.IEEE {
		return cfg, fmt.Errorf("mcu: CRC variant %v: want plan.MPEG2 or plan.IEEE", cfg.CRC)
	}
	if cfg.Battery == nil {
		cfg.Battery = def.Battery
	}
	for _, d := range []struct{ p, def *time.Duration }{
		{&cfg.CommandTimeout, &def.CommandTimeout},
		{&cfg.ReadTimeout, &def.ReadTimeout},
		{&cfg.PayloadTimeout, &def.PayloadTimeout},
		{&cfg.RegisterTimeout, &def.RegisterTimeout},
		{&cfg.PlanTimeout, &def.PlanTimeout},
		{&cfg.EventTimeout, &def.EventTimeout},
		{&cfg.ModuleTimeout, &def.ModuleTimeout},
		{&cfg.PolicyPoll, &def.PolicyPoll},
	} {
		if *d.p <= 0 {
			*d.p = *d.def
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg, nil
}

// linkErr marks err, from the link to the module, as ErrLink unless the
// caller's context ended or the module answered (ERROR).
func linkErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, atcmd.ErrError) || errors.As(err, new(atcmd.CMEError)) || errors.Is(err, ErrLink) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, atcmd.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrLink, err)
	}
	return err
}

// powerLost reports whether err means the simulated MCU lost power: it
// stops at once, as a real one would, and its journal says the rest.
func powerLost(err error) bool { return errors.Is(err, flashsim.ErrPowerCut) }

// do runs one command with the command timeout.
func (s *session) do(ctx context.Context, cmd atcmd.Command) (*atcmd.Response, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	resp, err := s.c.Do(cctx, cmd)
	if err != nil {
		return resp, fmt.Errorf("mcu: %s: %w", cmd, linkErr(ctx, err))
	}
	return resp, nil
}

func set(name string, args ...atcmd.Arg) atcmd.Command {
	return atcmd.Command{Name: name, Kind: atcmd.Set, Args: args}
}

// version returns the version to report for a component: the one this
// MCU installed, by the journal, else the configured one.
func (s *session) version(c Component) string {
	if v, ok := s.j.installedVersion(c.ID); ok {
		return v
	}
	return c.Version
}

// prepare syncs with the module, finishes what a previous run left,
// declares the components, registers and asks for a plan.
func (s *session) prepare(ctx context.Context) error {
	var err error
	for range 3 {
		if _, err = s.do(ctx, atcmd.Command{}); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("mcu: the module does not answer AT; check the port and its baud rate: %w", linkErr(ctx, err))
	}
	if _, err := s.do(ctx, set("E", atcmd.Int(0))); err != nil {
		return err
	}
	confirm, err := s.recover(ctx)
	if err != nil {
		return err
	}
	for _, comp := range s.cfg.Components {
		v := s.version(comp)
		if confirm != nil && confirm.rec.Component == comp.ID {
			v = confirm.rec.To
		}
		if _, err := s.do(ctx, set("+QIOTMCUVER", atcmd.Str(comp.ID), atcmd.Str(v))); err != nil {
			return err
		}
	}
	if confirm != nil {
		if err := confirm.done(ctx); err != nil {
			return err
		}
	}
	if err := s.register(ctx); err != nil {
		return err
	}
	req := atcmd.Command{Name: "+QIOTOTAREQ"}
	if s.cfg.SHA256 {
		req = set("+QIOTOTAREQ", atcmd.Int(1))
	}
	_, err = s.do(ctx, req)
	return err
}

// stateReady is the AT+QIOTSTATE of a module connected to the platform.
const stateReady = "8"

// register connects the module to the platform unless it already is:
// AT+QIOTREG=1, then +QIOTEVT: 3,10200. A failure event of
// authentication (1), access (2) or subscription (3) ends the wait.
func (s *session) register(ctx context.Context) error {
	resp, err := s.do(ctx, atcmd.Command{Name: "+QIOTSTATE", Kind: atcmd.Read})
	if err != nil {
		return err
	}
	if v, _ := resp.Value("+QIOTSTATE"); v == stateReady {
		return nil
	}
	if _, err := s.do(ctx, set("+QIOTREG", atcmd.Int(1))); err != nil {
		return fmt.Errorf("%w (is the product key and secret set with AT+QIOTCFG=\"productinfo\"?)", err)
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.RegisterTimeout)
	defer cancel()
	for {
		e, err := s.readEvent(wctx)
		if err != nil {
			return fmt.Errorf("mcu: registration: no +QIOTEVT: 3,10200 within %v after AT+QIOTREG=1: %w", s.cfg.RegisterTimeout, linkErr(ctx, err))
		}
		switch {
		case e.Type == 3 && e.Code == evtOK:
			s.log.Info("registered")
			return nil
		case e.Type >= 1 && e.Type <= 3 && e.Code == evtOK:
			s.log.Debug("registration step", "event", e.Line)
		case e.Type >= 1 && e.Type <= 3:
			return fmt.Errorf("mcu: registration failed: the module reported %s (%s); check the module's product key and secret (AT+QIOTCFG), its SIM and network, then try again", e.Line, regFailure(e))
		case e.Type == evtOTA:
			s.held = append(s.held, e)
		default:
			s.log.Debug("event", "line", e.Line)
		}
	}
}

// regFailure describes a failed registration event (spec §2, §5).
func regFailure(e Event) string {
	step := map[int]string{1: "authentication failed", 2: "access to the platform failed", 3: "subscription failed"}[e.Type]
	switch e.Code {
	case 10422:
		return step + ": wrong device secret"
	case 10450:
		return step + ": internal error or no network"
	case 10473:
		return step + ": heartbeat error"
	case 10474:
		return step + ": network error"
	}
	return fmt.Sprintf("%s, code %d", step, e.Code)
}

// nextEvent returns the next well-formed +QIOTEVT, the OTA events held
// while registering first.
func (s *session) nextEvent(ctx context.Context) (Event, error) {
	if len(s.held) > 0 {
		e := s.held[0]
		s.held = s.held[1:]
		return e, nil
	}
	return s.readEvent(ctx)
}

// readEvent reads the next well-formed +QIOTEVT from the link.
func (s *session) readEvent(ctx context.Context) (Event, error) {
	for {
		line, err := s.evt.Next(ctx)
		if err != nil {
			return Event{}, err
		}
		e, err := ParseEvent(line)
		if err != nil {
			s.log.Warn("malformed event ignored", "err", err)
			continue
		}
		return e, nil
	}
}
