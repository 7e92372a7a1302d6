package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

type mcuFlags struct {
	port, target            string
	components, versions    []string
	battery                 int
	batteryFile, batteryCmd string
	journal                 string
	once, sha256            bool
	block, baud             int
	poll                    time.Duration
}

func (a *app) mcuCommand() *cobra.Command {
	var f mcuFlags
	cmd := &cobra.Command{
		Use:   "mcu --port PORT --target TARGET [flags]",
		Short: "Be the MCU: take an update from a module and write it to a target",
		Long: `atota mcu plays the MCU side of a QuecThing OTA against a module (a real one
or atota module): it reports its component versions, registers, asks for a
plan, refuses it (AT+QIOTUPDATE=0, exit code 3) when the battery, the signal
(AT+CSQ) or the target's free space is below the plan's minimum, reads every
piece with AT+QIOTOTARD, verifies MD5, CRC-32 and SHA-256 over what the
target holds, and reports the new version.

PORT is a serial device, pty:PATH, tcp://HOST:PORT or tcp-listen://HOST:PORT.

TARGET is flashsim:FILE[?part=NAME] (a simulated NOR flash with A/B slots,
kept in FILE; parts stm32f103c8 (default), stm32f103cb, stm32f407vg,
nrf52840) or file:PATH (the image, written atomically).

With --once it runs one update cycle and exits: 0 updated or nothing to do,
1 failed, 3 refused by policy. Without it, it checks again every --poll.`,
		Example: `  atota mcu --port /tmp/atota-u --target flashsim:flash.bin?part=stm32f407vg --once
  atota mcu --port /dev/ttyUSB0 --target file:app.bin --component STM32 --version 1_0_0 \
      --battery-file /sys/class/power_supply/BAT0/capacity --sha256 --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			comps, err := f.check()
			if err != nil {
				return err
			}
			a.begin(cmd)
			return a.runMCU(cmd, f, comps)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.port, "port", "", "serial port of the module (see PORT above)")
	fl.StringVar(&f.target, "target", "", "where the image goes (see TARGET above)")
	fl.StringArrayVar(&f.components, "component", nil, "component ID reported with AT+QIOTMCUVER (repeatable, pairs with --version; default STM32)")
	fl.StringArrayVar(&f.versions, "version", nil, "current version of the component before it (repeatable; default 1_0_0)")
	fl.IntVar(&f.battery, "battery", 100, "battery level in percent")
	fl.StringVar(&f.batteryFile, "battery-file", "", "read the battery percent from this file, e.g. /sys/class/power_supply/BAT0/capacity")
	fl.StringVar(&f.batteryCmd, "battery-cmd", "", "run this shell command for the battery percent (its output, a number)")
	fl.StringVar(&f.journal, "journal", "", "resume journal file (resume across resets is not available yet; accepted and ignored)")
	fl.BoolVar(&f.once, "once", false, "run one OTA cycle, then exit with 0, 1 or 3")
	fl.BoolVar(&f.sha256, "sha256", false, "ask for plans with AT+QIOTOTAREQ=1 so the module sends the SHA-256")
	fl.IntVar(&f.block, "block", 1024, "AT+QIOTOTARD read size in bytes")
	fl.IntVar(&f.baud, "baud", transport.DefaultBaud, "baud rate of a serial device (8N1)")
	fl.DurationVar(&f.poll, "poll", time.Minute, "without --once: how long to wait between cycles")
	return cmd
}

func (f *mcuFlags) check() ([]mcu.Component, error) {
	switch {
	case f.port == "":
		return nil, usagef("mcu: --port is required")
	case f.target == "":
		return nil, usagef("mcu: --target is required (flashsim:FILE[?part=NAME] or file:PATH)")
	case f.block <= 0 || f.block > 1024:
		return nil, usagef("mcu: --block %d: must be 1 to 1024", f.block)
	case f.battery < 0 || f.battery > 100:
		return nil, usagef("mcu: --battery %d: must be 0 to 100", f.battery)
	case f.batteryFile != "" && f.batteryCmd != "":
		return nil, usagef("mcu: give --battery-file or --battery-cmd, not both")
	case f.poll <= 0:
		return nil, usagef("mcu: --poll must be positive")
	}
	if _, err := transport.ParsePort(f.port); err != nil {
		return nil, &usageError{err.Error()}
	}
	ids, vers := f.components, f.versions
	if len(ids) == 0 {
		ids = []string{"STM32"}
	}
	if len(vers) == 0 && len(ids) == 1 {
		vers = []string{"1_0_0"}
	}
	if len(ids) != len(vers) {
		return nil, usagef("mcu: %d --component and %d --version flags: give them in pairs", len(ids), len(vers))
	}
	comps := make([]mcu.Component, len(ids))
	for i := range ids {
		if ids[i] == "" || vers[i] == "" || strings.ContainsAny(ids[i]+vers[i], "\",\r\n") {
			return nil, usagef("mcu: component %q version %q: both must be non-empty, without quotes or commas", ids[i], vers[i])
		}
		comps[i] = mcu.Component{ID: ids[i], Version: vers[i]}
	}
	return comps, nil
}

// batterySource returns the battery reader the flags ask for.
func (f *mcuFlags) batterySource() func(context.Context) (int, error) {
	parse := func(what string, b []byte) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n < 0 || n > 100 {
			return 0, fmt.Errorf("battery from %s: %q is not a percentage 0-100", what, strings.TrimSpace(string(b)))
		}
		return n, nil
	}
	switch {
	case f.batteryFile != "":
		return func(context.Context) (int, error) {
			b, err := os.ReadFile(f.batteryFile)
			if err != nil {
				return 0, fmt.Errorf("battery: %w", err)
			}
			return parse(f.batteryFile, b)
		}
	case f.batteryCmd != "":
		return func(ctx context.Context) (int, error) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "sh", "-c", f.batteryCmd).Output()
			if err != nil {
				return 0, fmt.Errorf("battery: command %q: %w", f.batteryCmd, err)
			}
			return parse("command "+strconv.Quote(f.batteryCmd), out)
		}
	}
	level := f.battery
	return func(context.Context) (int, error) { return level, nil }
}

func (a *app) runMCU(cmd *cobra.Command, f mcuFlags, comps []mcu.Component) error {
	ctx := cmd.Context()
	log := a.logger(cmd, false)
	target, err := mcu.OpenTarget(f.target)
	if err != nil {
		return err
	}
	defer target.Close()
	if f.journal != "" {
		log.Warn("--journal: resume across resets is not available yet; the transfer starts over after a reset")
	}
	port, err := transport.Dial(ctx, f.port, transport.WithBaud(f.baud), transport.WithLogger(log))
	if err != nil {
		return err
	}
	c := atcmd.NewClient(port, atcmd.WithClientLogger(log))
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	bar := newProgressBar(a.stdout)
	cfg := mcu.DefaultConfig()
	cfg.Components = comps
	cfg.Battery = f.batterySource()
	cfg.Target = target
	cfg.SHA256 = f.sha256
	cfg.Block = f.block
	cfg.Logger = log
	cfg.Progress = func(p mcu.Progress) { bar.update(p.Component, p.Done, p.Total) }
	for {
		res, err := mcu.Run(ctx, c, cfg)
		bar.finish()
		if res != nil {
			for _, u := range res.Updated {
				printUpdated(a.stdout, u)
				for i := range cfg.Components {
					if cfg.Components[i].ID == u.Component {
						cfg.Components[i].Version = u.To
					}
				}
			}
			if res.NoPlan {
				fmt.Fprintln(a.stdout, "no update offered")
			}
		}
		if f.once || ctx.Err() != nil {
			if ctx.Err() != nil && !f.once {
				return nil
			}
			return err
		}
		if err != nil {
			var pe *mcu.PolicyError
			if errors.As(err, &pe) {
				log.Warn("update refused; trying again later", "reason", err, "in", f.poll)
			} else {
				log.Error("update cycle failed; trying again later", "err", err, "in", f.poll)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(f.poll):
		case <-c.Done():
			return fmt.Errorf("mcu: link to the module closed: %w", c.Err())
		}
	}
}

func printUpdated(w interface{ Write([]byte) (int, error) }, u mcu.Updated) {
	sha := "not sent"
	if u.SHA256 {
		sha = "ok"
	}
	fmt.Fprintf(w, "updated %s %s -> %s: %d bytes in %d pieces, %d blocks, %.2f s; MD5 ok, CRC-32 ok, SHA-256 %s (read back from the target); %s\n",
		u.Component, u.From, u.To, u.Digests.Size, u.Pieces, u.Blocks, u.Duration.Seconds(), sha, u.Where)
}
