package mcu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/atota/atota/atcmd"
)

// Dialer opens a link to the module and returns an AT client on it.
type Dialer func(ctx context.Context) (*atcmd.Client, error)

// redialDelay is how long an Agent waits between attempts to reach a
// module that went away.
const redialDelay = time.Second

// Agent runs OTA cycles over links it opens itself. When the link is lost
// or the module stops answering (a reset, a cable pulled), it waits for
// the module, dialing again until it answers, for up to
// Config.ModuleTimeout since the last progress, and goes on from the
// journal (kept in memory when Config.Journal is ""). It owns the client
// it dials; Close closes it.
type Agent struct {
	cfg  Config
	dial Dialer
	j    *journal
	c    *atcmd.Client
	log  *slog.Logger
}

// NewAgent returns an Agent for cfg that reaches the module with dial.
func NewAgent(dial Dialer, cfg Config) (*Agent, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	j, err := loadJournal(cfg.Journal, targetID(cfg.Target))
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, dial: dial, j: j, log: cfg.Logger}, nil
}

// Close closes the link.
func (a *Agent) Close() error {
	if a.c == nil {
		return nil
	}
	err := a.c.Close()
	a.c = nil
	return err
}

// Cycle runs one OTA cycle like Run, going on from the journal after a
// lost link or a module reset. The result gathers what every attempt
// updated.
func (a *Agent) Cycle(ctx context.Context) (*Result, error) {
	var total Result
	deadline := time.Now().Add(a.cfg.ModuleTimeout)
	for {
		c, err := a.client(ctx, deadline)
		if err != nil {
			return &total, err
		}
		before := a.mark()
		res, err := run(ctx, c, a.cfg, a.j, true)
		total.Updated = append(total.Updated, res.Updated...)
		total.NoPlan = res.NoPlan
		if err == nil || !errors.Is(err, ErrLink) || ctx.Err() != nil {
			return &total, err
		}
		if a.mark() != before {
			deadline = time.Now().Add(a.cfg.ModuleTimeout)
		}
		a.Close()
		if !time.Now().Before(deadline) {
			return &total, fmt.Errorf("mcu: the module did not come back within %v of the last progress: %w", a.cfg.ModuleTimeout, err)
		}
		a.log.Warn("link to the module failed; waiting for the module, then going on from the journal", "err", err, "until", deadline.Format(time.TimeOnly))
		if err := sleep(ctx, redialDelay); err != nil {
			return &total, err
		}
	}
}

// mark summarises the journal, to tell whether a run made progress.
func (a *Agent) mark() string {
	r := a.j.transfer()
	if r == nil {
		return fmt.Sprint(len(a.j.st.Installed))
	}
	return fmt.Sprint(len(a.j.st.Installed), r.Component, r.Committed, r.Phase)
}

// client returns the open client, or dials until the module answers the
// dial or the deadline passes.
func (a *Agent) client(ctx context.Context, deadline time.Time) (*atcmd.Client, error) {
	if a.c != nil {
		select {
		case <-a.c.Done():
			a.Close()
		default:
			return a.c, nil
		}
	}
	for {
		c, err := a.dial(ctx)
		if err == nil {
			a.c = c
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrPermission) {
			// The port is someone else's, or not ours to open:
			// waiting will not change that.
			return nil, fmt.Errorf("mcu: cannot open the link to the module: %w", err)
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("mcu: cannot reach the module (waited %v): %w: %w", a.cfg.ModuleTimeout, ErrLink, err)
		}
		a.log.Warn("cannot open the link to the module; trying again", "err", err)
		if err := sleep(ctx, redialDelay); err != nil {
			return nil, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitPolicy waits until the minimum that made the plan of pe be refused
// is met, measuring it every Config.PolicyPoll: the battery
// (Config.Battery), the signal (AT+CSQ) or the target's free space. It
// returns nil once the minimum is met, which is when to ask for the plan
// again, or ctx's error. Asking again at every change would only collect
// refusals while the minimum is not met.
func (a *Agent) WaitPolicy(ctx context.Context, pe *PolicyError) error {
	last, lastOK := pe.Have, pe.Detail == "" || pe.What != "signal"
	for {
		if err := sleep(ctx, a.cfg.PolicyPoll); err != nil {
			return err
		}
		have, ok, err := a.measure(ctx, pe.What)
		if err != nil {
			a.log.Warn("cannot measure the refused minimum; trying again", "what", pe.What, "err", err)
			continue
		}
		if ok && have >= pe.Need {
			a.log.Info("the refused minimum is met now; asking for the plan again", "what", pe.What, "have", have, "need", pe.Need)
			return nil
		}
		if have != last || ok != lastOK {
			a.log.Info("still below the plan's minimum", "what", pe.What, "have", have, "known", ok, "need", pe.Need)
		}
		last, lastOK = have, ok
	}
}

// measure returns the battery percent, the signal in dBm (ok false when
// unknown) or the target's capacity.
func (a *Agent) measure(ctx context.Context, what string) (int64, bool, error) {
	switch what {
	case "battery":
		n, err := a.cfg.Battery(ctx)
		return int64(n), err == nil, err
	case "signal":
		c, err := a.client(ctx, time.Now().Add(a.cfg.ModuleTimeout))
		if err != nil {
			return 0, false, err
		}
		cctx, cancel := context.WithTimeout(ctx, a.cfg.CommandTimeout)
		resp, err := c.Do(cctx, atcmd.Command{Name: "+CSQ"})
		cancel()
		if err != nil {
			if errors.Is(err, atcmd.ErrClosed) {
				a.Close()
			}
			return 0, false, fmt.Errorf("mcu: AT+CSQ: %w", err)
		}
		rssi, err := parseCSQ(resp)
		if err != nil {
			return 0, false, err
		}
		dbm, ok := SignalDBm(rssi)
		return int64(dbm), ok, nil
	case "space":
		n, err := a.cfg.Target.Capacity(ctx)
		return n, err == nil, err
	}
	return 0, false, fmt.Errorf("mcu: unknown minimum %q", what)
}
