// Command atota updates a microcontroller's firmware over a cellular
// module's QuecThing AT interface, and plays either end of that link: the
// module (atota module) or the MCU (atota mcu). Run "atota demo" to see a
// whole update over a virtual serial port, and "atota help" for the rest.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // plan time zones on gateways without a zoneinfo database

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/mcu"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes of the command-line contract (DESIGN.md).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPolicy  = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &app{stdout: stdout, stderr: stderr}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var pe *mcu.PolicyError
	switch {
	case errors.As(err, &pe):
		code = exitPolicy
	case errors.As(err, new(*usageError)) || !app.started:
		code = exitUsage
	}
	msg := err.Error()
	if code == exitUsage && !strings.Contains(msg, "--help") {
		msg += " (see " + app.commandPath(root) + " --help)"
	}
	fmt.Fprintln(stderr, "atota: "+msg)
	return code
}

// usageError is a command line that cannot be run as written.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// app holds what every subcommand shares.
type app struct {
	stdout, stderr io.Writer
	logFormat      string
	logLevel       string
	started        bool // a subcommand's RunE began: later errors are not usage errors
	current        *cobra.Command
}

// commandPath names the command the error is about: "atota pack delta".
func (a *app) commandPath(root *cobra.Command) string {
	if a.current == nil {
		return root.CommandPath()
	}
	return a.current.CommandPath()
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "atota",
		Short: "Firmware updates for an MCU behind a cellular module's QuecThing AT interface",
		Long: `atota plays both ends of the QuecThing OTA link between a Quectel cellular
module and a microcontroller: the module (atota module), fed by upgrade plans,
and the MCU (atota mcu), which reads, verifies and flashes the image. Either
end can be a real device on a serial port.`,
		Example: `  atota demo                                  # a whole update over a virtual serial pair
  atota vport --link /tmp/ttyM --link /tmp/ttyU
  atota module --port /tmp/ttyM --plans plans --product p1demo
  atota mcu --port /tmp/ttyU --target flashsim:flash.bin?part=stm32f407vg --once`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.current = cmd
			switch a.logFormat {
			case "text", "json":
			default:
				return usagef("--log-format %q: want text or json", a.logFormat)
			}
			if _, err := parseLevel(a.logLevel); err != nil {
				return err
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		a.current = cmd
		return &usageError{err.Error()}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	pf.StringVar(&a.logLevel, "log-level", "info", "least important log level shown: debug, info, warn or error")
	root.AddCommand(a.demoCommand(), a.moduleCommand(), a.mcuCommand(), a.vportCommand(),
		a.packCommand(), a.platformCommand(), a.flashCommand(), a.runCommand())
	return root
}

// begin marks the start of a subcommand's work: errors after it are
// failures, not usage errors.
func (a *app) begin(cmd *cobra.Command) {
	a.current = cmd
	a.started = true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// logger returns the logger the flags ask for. A command that prints its
// own progress passes a quieter default, used unless --log-level was given.
func (a *app) logger(cmd *cobra.Command, quietDefault bool) *slog.Logger {
	level, _ := parseLevel(a.logLevel)
	if quietDefault && !cmd.Flags().Changed("log-level") {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	if a.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}
