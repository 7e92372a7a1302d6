package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/pack"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

type mcuFlags struct {
	port, target            string
	components, versions    []string
	battery                 int
	batteryFile, batteryCmd string
	journal, workDir, crc   string
	verifyKey               string
	once, sha256            bool
	block, baud             int
	poll                    time.Duration
	timeouts                mcu.Config // the timeouts only
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
target holds (read back), and reports the new version. Several components
(--component/--version pairs) are updated in the plan's order.

PORT is a serial device, pty:PATH, tcp://HOST:PORT or tcp-listen://HOST:PORT.

TARGET is one of
  flashsim:FILE[?part=NAME]  a simulated NOR flash with A/B slots kept in FILE;
                             parts stm32f103c8 (default), stm32f103cb,
                             stm32f407vg, nrf52840, w25q32. The image goes to
                             the inactive slot, boots on trial and is
                             confirmed after its version is reported.
  file:PATH                  the image, written to PATH atomically
  exec:COMMAND               the verified image handed to a shell command; {}
                             is its path (else it is appended); the
                             environment has ATOTA_COMPONENT and ATOTA_IMAGE
  stm32:PORT[?OPTIONS]       an STM32 through its ROM UART bootloader (AN3155),
                             8E1; options baud=57600, addr=0x08000000, go=true,
                             part=NAME, parity=even|none (a pty drops parity silently)

With --journal the MCU keeps its progress in FILE: killed or reset at any
moment, it goes on where it stopped when started again with the same file
(at most one block is read twice) and never accepts a mixed image. A lost
link or a module that stops answering is waited for (--module-timeout).

A download that is an atota package (atota pack full|delta) is applied as it
is read: a delta rebuilds the new image from the one the target runs
(flashsim:, file: and stm32: targets can read it; stm32: reads it through the
bootloader), so only the delta crosses the module's link. A delta for another image than the running one is refused before
anything is written, naming both SHA-256s. With --verify-key only packages
signed with that key are accepted: raw images, unsigned packages and
packages signed with another key are refused (exit 1, nothing written).

With --once it runs one update cycle and exits: 0 updated or nothing to do,
1 failed, 3 refused by policy. Without it, it checks again every --poll, and
after a refusal as soon as the refused minimum is met.`,
		Example: `  atota mcu --port /tmp/atota-u --target flashsim:flash.bin?part=stm32f407vg --once
  atota mcu --port /dev/ttyUSB0 --target file:app.bin --component STM32 --version 1_0_0 \
      --battery-file /sys/class/power_supply/BAT0/capacity --sha256 --journal mcu.journal --once
  atota mcu --port /tmp/atota-u --target 'exec:st-flash write {} 0x08000000' --journal mcu.journal
  atota mcu --port /tmp/atota-u --target stm32:/dev/ttyUSB1?baud=115200 --once
  atota mcu --port /tmp/atota-u --target flashsim:flash.bin --verify-key release.pub --journal mcu.journal --once`,
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
	def := mcu.DefaultConfig()
	fl := cmd.Flags()
	fl.StringVar(&f.port, "port", "", "serial port of the module (see PORT above)")
	fl.StringVar(&f.target, "target", "", "where the image goes (see TARGET above)")
	fl.StringArrayVar(&f.components, "component", nil, "component ID reported with AT+QIOTMCUVER (repeatable, pairs with --version; default STM32)")
	fl.StringArrayVar(&f.versions, "version", nil, "current version of the component before it (repeatable; default 1_0_0)")
	fl.IntVar(&f.battery, "battery", 100, "battery level in percent")
	fl.StringVar(&f.batteryFile, "battery-file", "", "read the battery percent from this file, e.g. /sys/class/power_supply/BAT0/capacity")
	fl.StringVar(&f.batteryCmd, "battery-cmd", "", "run this shell command for the battery percent (its output, a number)")
	fl.StringVar(&f.journal, "journal", "", "keep the progress in this file, to resume after a kill or reset (one file per target)")
	fl.StringVar(&f.workDir, "work-dir", "", "where exec: and stm32: targets stage the image (default: the journal's directory, else the temporary directory)")
	fl.StringVar(&f.crc, "crc", "mpeg2", "CRC-32 variant of the module's <CRC>: mpeg2 or ieee")
	fl.StringVar(&f.verifyKey, "verify-key", "", "accept only atota packages signed with this ed25519 public key (PEM, from atota pack keygen)")
	fl.BoolVar(&f.once, "once", false, "run one OTA cycle, then exit with 0, 1 or 3")
	fl.BoolVar(&f.sha256, "sha256", false, "ask for plans with AT+QIOTOTAREQ=1 so the module sends the SHA-256")
	fl.IntVar(&f.block, "block", 1024, "AT+QIOTOTARD read size in bytes")
	fl.IntVar(&f.baud, "baud", transport.DefaultBaud, "baud rate of a serial device (8N1)")
	fl.DurationVar(&f.poll, "poll", time.Minute, "without --once: how long to wait between cycles")
	t := &f.timeouts
	fl.DurationVar(&t.CommandTimeout, "command-timeout", def.CommandTimeout, "wait for a command's final result")
	fl.DurationVar(&t.ReadTimeout, "read-timeout", def.ReadTimeout, "wait for the header of an AT+QIOTOTARD answer")
	fl.DurationVar(&t.PayloadTimeout, "payload-timeout", def.PayloadTimeout, "wait for the bytes after an AT+QIOTOTARD header")
	fl.DurationVar(&t.RegisterTimeout, "register-timeout", def.RegisterTimeout, "wait for +QIOTEVT: 3,10200 after AT+QIOTREG=1")
	fl.DurationVar(&t.PlanTimeout, "plan-timeout", def.PlanTimeout, "wait for a plan after AT+QIOTOTAREQ")
	fl.DurationVar(&t.EventTimeout, "event-timeout", def.EventTimeout, "wait for the next event of a transfer")
	fl.DurationVar(&t.ModuleTimeout, "module-timeout", def.ModuleTimeout, "wait for a lost or silent module before giving up")
	fl.DurationVar(&t.PolicyPoll, "policy-poll", def.PolicyPoll, "without --once: how often a refused minimum is measured again")
	return cmd
}

func (f *mcuFlags) check() ([]mcu.Component, error) {
	switch {
	case f.port == "":
		return nil, usagef("mcu: --port is required")
	case f.target == "":
		return nil, usagef("mcu: --target is required (flashsim:FILE[?part=NAME], file:PATH, exec:COMMAND or stm32:PORT)")
	case f.block <= 0 || f.block > 1024:
		return nil, usagef("mcu: --block %d: must be 1 to 1024", f.block)
	case f.battery < 0 || f.battery > 100:
		return nil, usagef("mcu: --battery %d: must be 0 to 100", f.battery)
	case f.batteryFile != "" && f.batteryCmd != "":
		return nil, usagef("mcu: give --battery-file or --battery-cmd, not both")
	case f.poll <= 0:
		return nil, usagef("mcu: --poll must be positive")
	case f.crc != "mpeg2" && f.crc != "ieee":
		return nil, usagef("mcu: --crc %q: want mpeg2 or ieee", f.crc)
	}
	t := f.timeouts
	for name, d := range map[string]time.Duration{"command": t.CommandTimeout, "read": t.ReadTimeout, "payload": t.PayloadTimeout,
		"register": t.RegisterTimeout, "plan": t.PlanTimeout, "event": t.EventTimeout, "module": t.ModuleTimeout} {
		if d <= 0 {
			return nil, usagef("mcu: --%s-timeout must be positive", name)
		}
	}
	if t.PolicyPoll <= 0 {
		return nil, usagef("mcu: --policy-poll must be positive")
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
	workDir := f.workDir
	if workDir == "" && f.journal != "" {
		workDir = filepath.Dir(f.journal)
	}
	target, err := mcu.OpenTarget(f.target, mcu.WithWorkDir(workDir))
	if err != nil {
		return err
	}
	defer target.Close()

	bar := newProgressBar(a.stdout)
	cfg := f.timeouts
	cfg.Components = comps
	cfg.Battery = f.batterySource()
	cfg.Target = target
	cfg.SHA256 = f.sha256
	cfg.Block = f.block
	cfg.Journal = f.journal
	cfg.CRC = plan.MPEG2
	if f.crc == "ieee" {
		cfg.CRC = plan.IEEE
	}
	if f.verifyKey != "" {
		key, err := pack.ReadPublicKeyFile(f.verifyKey)
		if err != nil {
			return &usageError{fmt.Sprintf("mcu: --verify-key: %v", err)}
		}
		cfg.VerifyKey = key
	}
	cfg.Logger = log
	cfg.Progress = func(p mcu.Progress) { bar.update(p.Component, p.Done, p.Total) }
	dial := func(ctx context.Context) (*atcmd.Client, error) {
		port, err := transport.Dial(ctx, f.port, transport.WithBaud(f.baud), transport.WithLogger(log))
		if err != nil {
			return nil, err
		}
		return atcmd.NewClient(port, atcmd.WithClientLogger(log)), nil
	}
	agent, err := mcu.NewAgent(dial, cfg)
	if err != nil {
		return err
	}
	defer agent.Close()
	for {
		res, err := agent.Cycle(ctx)
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
			if res.NoPlan && len(res.Updated) == 0 {
				fmt.Fprintln(a.stdout, "no update offered")
			}
		}
		if ctx.Err() != nil {
			if f.once {
				return err
			}
			return nil
		}
		if f.once {
			return err
		}
		wait := f.poll
		var pe *mcu.PolicyError
		switch {
		case errors.As(err, &pe):
			log.Warn("update refused; asking again once the refused minimum is met", "reason", err, "measuring every", cfg.PolicyPoll)
			if err := agent.WaitPolicy(ctx, pe); err != nil {
				return nil
			}
			continue
		case err != nil:
			log.Error("update cycle failed; trying again later", "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func printUpdated(w interface{ Write([]byte) (int, error) }, u mcu.Updated) {
	sha := "not sent"
	if u.SHA256 {
		sha = "ok"
	}
	size := u.Digests.Size // what was read over the link
	if u.Package != "" {
		size = u.PackageSize
	}
	how := fmt.Sprintf("%d bytes in %d pieces, %d blocks, %.2f s", size, u.Pieces, u.Blocks, u.Duration.Seconds())
	switch {
	case u.Resumed == size:
		how = fmt.Sprintf("%d bytes, finished from the journal after a restart", size)
	case u.Resumed > 0:
		how += fmt.Sprintf(", resumed at byte %d", u.Resumed)
	}
	if u.Package != "" {
		sig := "unsigned"
		if u.Signed {
			sig = "signature ok"
		}
		fmt.Fprintf(w, "updated %s %s -> %s: %s package, %s; built a %d-byte image, SHA-256 ok (read back from the target); %s; %s\n",
			u.Component, u.From, u.To, u.Package, how, u.Digests.Size, sig, u.Where)
		return
	}
	fmt.Fprintf(w, "updated %s %s -> %s: %s; MD5 ok, CRC-32 ok, SHA-256 %s (read back from the target); %s\n",
		u.Component, u.From, u.To, how, sha, u.Where)
}
