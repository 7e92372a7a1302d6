package mcu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
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

// Config configures an OTA cycle. Start from DefaultConfig.
type Config struct {
	Components []Component // reported with AT+QIOTMCUVER, in this order
	// Battery returns the battery level in percent.
	Battery func(ctx context.Context) (int, error)
	Target  Target
	SHA256  bool // ask for plans with AT+QIOTOTAREQ=1
	Block   int  // AT+QIOTOTARD read size

	CommandTimeout  time.Duration // a plain command (spec §1: 1 s)
	ReadTimeout     time.Duration // an AT+QIOTOTARD with its payload (3 s + 10 s)
	RegisterTimeout time.Duration // AT+QIOTREG=1 to 3,10200
	PlanTimeout     time.Duration // AT+QIOTOTAREQ to 7,10700
	EventTimeout    time.Duration // between the events of a transfer

	Progress func(Progress)
	Logger   *slog.Logger
}

// DefaultConfig returns the defaults of DESIGN.md and spec §1.
func DefaultConfig() Config {
	return Config{
		Battery:         func(context.Context) (int, error) { return 100, nil },
		Block:           1024,
		CommandTimeout:  time.Second,
		ReadTimeout:     13 * time.Second,
		RegisterTimeout: 60 * time.Second,
		PlanTimeout:     10 * time.Second,
		EventTimeout:    60 * time.Second,
	}
}

// Updated describes one component brought to its target version.
type Updated struct {
	Component string
	From, To  string
	Digests   plan.Digests // of the image read back from the target
	SHA256    bool         // the module sent a SHA-256 and it matched
	Blocks    int          // AT+QIOTOTARD reads
	Pieces    int
	Where     string // where the image now runs
	Duration  time.Duration
}

// Result is the outcome of an OTA cycle.
type Result struct {
	Updated []Updated
	NoPlan  bool // the module offered no plan
}

// ErrVerify is wrapped by errors of an image that does not match its
// digests; nothing was reported and the old image stays the one that runs.
var ErrVerify = errors.New("image verification failed")

// session is one OTA cycle on a link.
type session struct {
	cfg Config
	c   *atcmd.Client
	log *slog.Logger
	evt *atcmd.Subscription

	offers []Offer
	res    Result
}

// Run performs one OTA cycle over the AT client c: declare the component
// versions, register, ask for a plan, check its minimums, read, verify and
// write every component, report the new versions. A refusal by policy is a
// *PolicyError after AT+QIOTUPDATE=0.
func Run(ctx context.Context, c *atcmd.Client, cfg Config) (*Result, error) {
	if cfg.Target == nil {
		return nil, errors.New("mcu: no target")
	}
	if cfg.Block <= 0 || cfg.Block > 1<<20 {
		return nil, fmt.Errorf("mcu: block size %d: want 1 to %d", cfg.Block, 1<<20)
	}
	if cfg.Battery == nil {
		cfg.Battery = DefaultConfig().Battery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &session{cfg: cfg, c: c, log: cfg.Logger, evt: c.Subscribe("+QIOTEVT:")}
	defer s.evt.Close()
	if err := s.prepare(ctx); err != nil {
		return nil, err
	}
	if err := s.transfer(ctx); err != nil {
		return &s.res, err
	}
	return &s.res, nil
}

// do runs one command with the command timeout.
func (s *session) do(ctx context.Context, cmd atcmd.Command) (*atcmd.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	resp, err := s.c.Do(ctx, cmd)
	if err != nil {
		return resp, fmt.Errorf("mcu: %s: %w", cmd, err)
	}
	return resp, nil
}

func set(name string, args ...atcmd.Arg) atcmd.Command {
	return atcmd.Command{Name: name, Kind: atcmd.Set, Args: args}
}

// prepare syncs with the module, declares the components, registers and
// asks for a plan.
func (s *session) prepare(ctx context.Context) error {
	var err error
	for range 3 {
		if _, err = s.do(ctx, atcmd.Command{}); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("mcu: the module does not answer AT: %w", err)
	}
	if _, err := s.do(ctx, set("E", atcmd.Int(0))); err != nil {
		return err
	}
	for _, comp := range s.cfg.Components {
		if _, err := s.do(ctx, set("+QIOTMCUVER", atcmd.Str(comp.ID), atcmd.Str(comp.Version))); err != nil {
			return err
		}
	}
	resp, err := s.do(ctx, atcmd.Command{Name: "+QIOTSTATE", Kind: atcmd.Read})
	if err != nil {
		return err
	}
	if v, _ := resp.Value("+QIOTSTATE"); v != "8" {
		if _, err := s.do(ctx, set("+QIOTREG", atcmd.Int(1))); err != nil {
			return fmt.Errorf("%w (does the module have a product key and secret?)", err)
		}
		if _, err := s.waitEvent(ctx, s.cfg.RegisterTimeout, 3, evtOK); err != nil {
			return fmt.Errorf("mcu: registration: %w", err)
		}
		s.log.Info("registered")
	}
	req := atcmd.Command{Name: "+QIOTOTAREQ"}
	if s.cfg.SHA256 {
		req = set("+QIOTOTAREQ", atcmd.Int(1))
	}
	_, err = s.do(ctx, req)
	return err
}

// waitEvent waits up to d for an event of type typ. With a code it must be
// that code; a type-7 failure (10706) ends the wait with an error.
func (s *session) waitEvent(ctx context.Context, d time.Duration, typ, code int) (Event, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		line, err := s.evt.Next(ctx)
		if err != nil {
			return Event{}, fmt.Errorf("waiting for +QIOTEVT: %d,%d: %w", typ, code, err)
		}
		e, err := ParseEvent(line)
		if err != nil {
			s.log.Warn("bad event ignored", "err", err)
			continue
		}
		if e.Type == typ && (code == 0 || e.Code == code) {
			return e, nil
		}
		if e.Type == typ && e.Code/100 == code/100 && e.Code != evtOK && typ != 7 {
			return e, fmt.Errorf("module reported %s", line)
		}
		s.log.Debug("event", "line", line)
	}
}

// transfer handles the OTA events until every offered component is done.
func (s *session) transfer(ctx context.Context) error {
	first, err := s.waitEvent(ctx, s.cfg.PlanTimeout, 7, EvtPlan)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		s.log.Info("no plan offered")
		s.res.NoPlan = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("mcu: %w", err)
	}
	var cur *download
	e := first
	for {
		switch e.Code {
		case EvtPlan:
			if err := s.offer(ctx, e); err != nil {
				return err
			}
		case EvtDownload:
			if cur, err = s.startDownload(ctx, e); err != nil {
				return err
			}
		case EvtPiece:
			if cur == nil {
				return fmt.Errorf("mcu: %s before 7,10701", e.Line)
			}
			done, err := cur.piece(ctx, e)
			if err != nil {
				cur.img.Abort()
				return err
			}
			if done {
				if err := s.finish(ctx, cur); err != nil {
					return err
				}
				if len(s.res.Updated) == len(s.offers) {
					return nil
				}
				cur = nil
			}
		case EvtFailed:
			if cur != nil {
				cur.img.Abort()
			}
			return fmt.Errorf("mcu: the module reported the update failed (7,10706)")
		}
		if e, err = s.waitEvent(ctx, s.cfg.EventTimeout, 7, 0); err != nil {
			if cur != nil {
				cur.img.Abort()
			}
			return fmt.Errorf("mcu: %w", err)
		}
	}
}

// offer checks a 7,10700 plan against the policy and confirms or refuses it.
func (s *session) offer(ctx context.Context, e Event) error {
	o, err := e.Offer()
	if err != nil {
		return err
	}
	s.log.Info("plan offered", "component", o.Component, "from", o.Source, "to", o.Target, "size", o.Size)
	if perr := s.checkPolicy(ctx, o); perr != nil {
		var pe *PolicyError
		if errors.As(perr, &pe) {
			s.log.Warn("plan refused", "component", o.Component, "reason", pe.Error())
			if _, err := s.do(ctx, set("+QIOTUPDATE", atcmd.Int(0))); err != nil {
				return errors.Join(perr, err)
			}
		}
		return perr
	}
	s.offers = append(s.offers, o)
	_, err = s.do(ctx, set("+QIOTUPDATE", atcmd.Int(1)))
	return err
}

// startDownload takes a 7,10701 event and opens the target for the image.
func (s *session) startDownload(ctx context.Context, e Event) (*download, error) {
	st, err := e.Start()
	if err != nil {
		return nil, err
	}
	var offer *Offer
	for i := range s.offers {
		if s.offers[i].Component == st.Component {
			offer = &s.offers[i]
		}
	}
	if offer == nil {
		return nil, fmt.Errorf("mcu: download of %s, which was not offered", st.Component)
	}
	img, err := s.cfg.Target.Open(ctx, st.Component, st.Size)
	if err != nil {
		return nil, err
	}
	from := ""
	for _, c := range s.cfg.Components {
		if c.ID == st.Component {
			from = c.Version
		}
	}
	s.log.Info("download starts", "component", st.Component, "size", st.Size, "md5", st.MD5, "sha256", st.SHA256 != "")
	return &download{s: s, start: st, offer: *offer, from: from, img: img, began: time.Now()}, nil
}

// finish verifies a complete image against the digests of 7,10701, read
// back from the target, then commits it and reports the new version.
func (s *session) finish(ctx context.Context, d *download) error {
	if err := d.img.Sync(); err != nil {
		d.img.Abort()
		return err
	}
	got, err := plan.Digest(io.NewSectionReader(d.img, 0, d.start.Size))
	if err != nil {
		d.img.Abort()
		return fmt.Errorf("mcu: reading back %s: %w", d.start.Component, err)
	}
	if err := d.verify(got); err != nil {
		d.img.Abort()
		return err
	}
	if _, err := s.do(ctx, set("+QIOTUPDATE", atcmd.Int(3))); err != nil {
		d.img.Abort()
		return err
	}
	if _, err := s.waitEvent(ctx, s.cfg.EventTimeout, 7, EvtUpdating); err != nil {
		d.img.Abort()
		return fmt.Errorf("mcu: %w", err)
	}
	where, err := d.img.Commit(ctx)
	if err != nil {
		return err
	}
	s.log.Info("image written", "component", d.start.Component, "where", where)
	if _, err := s.do(ctx, set("+QIOTMCUVER", atcmd.Str(d.start.Component), atcmd.Str(d.offer.Target))); err != nil {
		return err
	}
	if _, err := s.waitEvent(ctx, s.cfg.EventTimeout, 7, EvtSuccess); err != nil {
		return fmt.Errorf("mcu: %w", err)
	}
	s.res.Updated = append(s.res.Updated, Updated{
		Component: d.start.Component, From: d.from, To: d.offer.Target, Digests: got,
		SHA256: d.start.SHA256 != "", Blocks: d.blocks, Pieces: d.pieces, Where: where,
		Duration: time.Since(d.began),
	})
	return nil
}
