package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

type moduleFlags struct {
	port, plans, platform, state string
	product, productSecret       string
	deviceKey, deviceSecret      string
	csq, pieceSize, baud         int
	baudPace                     bool
	eventDelay, regDelay         time.Duration
	control, model, replies      string
}

func (a *app) moduleCommand() *cobra.Command {
	var f moduleFlags
	cmd := &cobra.Command{
		Use:   "module --port PORT (--plans DIR | --platform URL) [flags]",
		Short: "Emulate a Quectel module's QuecThing OTA interface on a serial port",
		Long: `atota module answers the QuecThing AT commands an MCU sends (AT+QIOTREG,
AT+QIOTMCUVER, AT+QIOTOTAREQ, AT+QIOTUPDATE, AT+QIOTOTARD, ...) and raises
+QIOTEVT events, as a Quectel module does, feeding the MCU the upgrade plans
found in a plans directory. It serves until stopped; when the MCU side closes
the port it waits for the next connection.

PORT is a serial device (/dev/ttyUSB0), pty:PATH (create a pty and link its
other end at PATH), tcp://HOST:PORT (dial a serial bridge) or
tcp-listen://HOST:PORT (accept one connection at a time).

State (configuration, component versions, the task in progress) is kept in
--state, written atomically, so a restart loses nothing. The packages of the
task in progress are copied next to it (module.cache/ beside module.json), as
a module holds its
download: a plan file changed mid-task does not change what is served.

Plans: the plans directory is read again whenever the MCU asks
(AT+QIOTOTAREQ) and every few seconds while a push is possible, so plans can
be added without a restart. A plan with push_actively is pushed by itself
inside its push period, first 30 s after the registration, then about every
10 minutes until the MCU confirms or refuses; after a refusal, again after
rejection_minutes. A manual plan waits for the app confirmation
(POST /v1/confirm).

MODELS (--model): what the module says it is, the 3GPP and Quectel start-up
commands it answers (AT+CFUN=0 takes its network down), its formats (AT+CCLK?),
its QuecThing defaults (server type 0 coap:// on NB-IoT, 1 mqtt:// on Cat-1),
piece size, AT+QIOTOTARD maximum and typical event delays:
` + modelList() + `

REPLIES (--replies FILE): canned answers that come before everything else,
YAML or JSON, a list of replies:
  - command: AT+QENG="servingcell"   # as sent; '*' matches anything
    lines: ['+QENG: "servingcell","NOCONN","LTE","FDD",460,00']
    result: OK                       # or ERROR, or "+CME ERROR: 30"
    delay: 50ms                      # the module takes this long
    urcs: ['+QIND: ready']           # lines after the result
A command that neither the model nor the file knows is answered ERROR and
logged once, with a hint.

CONTROL: with --control the module serves a JSON API:
  GET  /v1/status                   registration, task, piece, bytes served, events
  POST /v1/signal   {"csq": N}      change the signal (AT+CSQ)
  POST /v1/battery  {"battery": N}  change the battery level (AT+CBC)
  POST /v1/confirm  {"plan": NAME}  the app confirmation of a manual plan
  POST /v1/push                     push the plans that can be offered now
  POST /v1/reboot                   reboot: the link drops and comes back`,
		Example: `  # serve a plans directory on a pty, then type AT commands with picocom
  atota module --port pty:/tmp/atota-m --plans plans --product p1demo
  picocom /tmp/atota-m            # or: tio /tmp/atota-m

  # with a control endpoint: confirm a manual plan, weaken the signal
  atota module --port tcp-listen://127.0.0.1:7000 --plans plans --product p1demo --control 8321
  curl -X POST localhost:8321/v1/confirm
  curl -d '{"csq": 3}' localhost:8321/v1/signal

  # serve a real MCU on a USB serial adapter, events after realistic delays
  atota module --port /dev/ttyUSB0 --baud 115200 --plans plans --product p1demo \
      --product-secret s3cret --piece-size 16384`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd); err != nil {
				return err
			}
			a.begin(cmd)
			return a.runModule(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.port, "port", "", "serial port to serve (see PORT above)")
	fl.StringVar(&f.plans, "plans", "", "directory of upgrade plan files (*.json)")
	fl.StringVar(&f.platform, "platform", "", "platform URL to get plans from over MQTT, e.g. mqtt://127.0.0.1:1883")
	fl.StringVar(&f.state, "state", "", "state file (default: atota/module.json in the user's state directory)")
	fl.StringVar(&f.product, "product", "", "product key, as if saved with AT+QIOTCFG=\"productinfo\"")
	fl.StringVar(&f.productSecret, "product-secret", "", "product secret (default: a placeholder, when --product is given)")
	fl.StringVar(&f.deviceKey, "device-key", "", "device key, as if saved with AT+QIOTCFG=\"dk_ds\" (default: the module's IMEI)")
	fl.StringVar(&f.deviceSecret, "device-secret", "", "device secret")
	fl.IntVar(&f.csq, "csq", module.DefaultCSQ, "simulated signal: AT+CSQ rssi 0-31, or 99 for unknown")
	fl.IntVar(&f.pieceSize, "piece-size", module.DefaultPieceSize, "bytes of a package the module holds at once (one 7,10703 each); default: the model's")
	fl.IntVar(&f.baud, "baud", transport.DefaultBaud, "baud rate of a serial device (8N1)")
	fl.BoolVar(&f.baudPace, "baud-pace", false, "pace output to what the baud rate allows, so a pty or TCP link times like a UART")
	fl.DurationVar(&f.eventDelay, "event-delay", module.DefaultEventDelay, "delay from a command's OK to the events it causes (0 for speed tests); default: the model's")
	fl.DurationVar(&f.regDelay, "reg-delay", module.DefaultRegDelay, "delay from AT+QIOTREG=1 to the registration events; default: the model's")
	fl.StringVar(&f.control, "control", "", "HTTP/JSON control endpoint: PORT or :PORT (on 127.0.0.1), or HOST:PORT on purpose (see CONTROL above)")
	fl.StringVar(&f.model, "model", module.DefaultModel, "module model to play (see MODELS above): identity, start-up commands, formats, defaults")
	fl.StringVar(&f.replies, "replies", "", "YAML or JSON file of extra canned replies, before the model's (see REPLIES above)")
	return cmd
}

func (f *moduleFlags) check(cmd *cobra.Command) error {
	switch {
	case f.port == "":
		return usagef("module: --port is required")
	case f.plans == "" && f.platform == "":
		return usagef("module: give --plans DIR (a directory of plan files) or --platform URL")
	case f.plans != "" && f.platform != "":
		return usagef("module: give --plans or --platform, not both")
	case f.pieceSize <= 0:
		return usagef("module: --piece-size %d: must be at least 1", f.pieceSize)
	case f.csq < 0 || f.csq > 31 && f.csq != 99:
		return usagef("module: --csq %d: must be 0 to 31, or 99", f.csq)
	case f.eventDelay < 0 || f.regDelay < 0:
		return usagef("module: --event-delay and --reg-delay cannot be negative")
	}
	if _, err := transport.ParsePort(f.port); err != nil {
		return &usageError{err.Error()}
	}
	if _, err := module.LookupModel(f.model); err != nil {
		return usagef("--model %q: %s", f.model, strings.TrimPrefix(err.Error(), "module: "))
	}
	if f.control != "" {
		addr, err := controlAddr(f.control)
		if err != nil {
			return &usageError{err.Error()}
		}
		f.control = addr
	}
	return nil
}

// modelList is the MODELS part of the help: one line per built-in model.
func modelList() string {
	var b strings.Builder
	for _, md := range module.Models() {
		cfg := md.Config()
		fmt.Fprintf(&b, "  %-10s %s; piece %d, events %v, registration %v\n", strings.ToLower(md.Name), md.Description, cfg.PieceSize, cfg.EventDelay, cfg.RegDelay)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// controlAddr completes a --control address: a bare port, or one with no
// host, is on 127.0.0.1; a host given is taken as given, on purpose.
func controlAddr(s string) (string, error) {
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("module: --control %q: want PORT, :PORT or HOST:PORT, e.g. 127.0.0.1:8321", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("module: --control %q: port %q is not a number 0 to 65535", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// serveControl serves the control endpoint on addr until ctx is done; the
// returned function stops it and waits for it.
func serveControl(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("module: control endpoint: %w (pick another port with --control)", err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		log.Warn("the control endpoint is reachable from other hosts and has no authentication", "addr", ln.Addr().String())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control endpoint stopped", "err", err)
		}
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}
	return ln.Addr().String(), stop, nil
}

// defaultStatePath is the module's state file in the user's state
// directory ($XDG_STATE_HOME, else ~/.local/state).
func defaultStatePath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --state given and no home directory for the default: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "atota", "module.json"), nil
}

func (a *app) runModule(cmd *cobra.Command, f moduleFlags) error {
	ctx := cmd.Context()
	log := a.logger(cmd, false)
	model, err := module.LookupModel(f.model)
	if err != nil {
		return err
	}
	cfg := model.Config()
	if f.replies != "" {
		if cfg.Replies, err = module.LoadReplies(f.replies); err != nil {
			return err
		}
		log.Info("replies loaded", "file", f.replies, "replies", len(cfg.Replies))
	}
	var link platformLink
	if f.platform != "" {
		var err error
		if link, err = a.newPlatformLink(ctx, f, log); err != nil {
			return err
		}
		defer link.Close()
		cfg.Plans, cfg.Observer = link, link
	} else {
		dir, err := plan.OpenDir(f.plans, plan.WithLogger(log))
		if err != nil {
			return err
		}
		plans, errs := dir.Load()
		for _, err := range errs {
			log.Warn("plan skipped", "err", err)
		}
		log.Info("plans loaded", "dir", f.plans, "good", len(plans), "bad", len(errs))
		cfg.Plans = dir
	}
	cfg.StatePath = f.state
	if cfg.StatePath == "" {
		if cfg.StatePath, err = defaultStatePath(); err != nil {
			return err
		}
	}
	cfg.ProductKey, cfg.ProductSecret = f.product, f.productSecret
	if f.product != "" && f.productSecret == "" {
		// A plans directory checks no secret; AT+QIOTREG only needs one set.
		cfg.ProductSecret = "atota-placeholder"
	}
	cfg.DeviceKey, cfg.DeviceSecret = f.deviceKey, f.deviceSecret
	cfg.CSQ = f.csq
	// The model's piece size and delays, unless given.
	if fl := cmd.Flags(); fl.Changed("piece-size") {
		cfg.PieceSize = f.pieceSize
	}
	if fl := cmd.Flags(); fl.Changed("event-delay") {
		cfg.EventDelay = f.eventDelay
	}
	if fl := cmd.Flags(); fl.Changed("reg-delay") {
		cfg.RegDelay = f.regDelay
	}
	cfg.Logger = log
	m, err := module.New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	if link != nil {
		// A job that arrives after the MCU asked is pushed at once.
		if ps, ok := link.(interface{ SetPush(func() []string) }); ok {
			ps.SetPush(m.Push)
		}
		if err := link.Start(ctx, m.DeviceKey()); err != nil {
			return err
		}
	}

	l, err := transport.Listen(ctx, f.port, transport.WithBaud(f.baud), transport.WithLogger(log))
	if err != nil {
		return err
	}
	defer l.Close()
	var ml module.Listener = l
	if f.baudPace {
		ml = pacedListener{l, f.baud}
	}
	if f.control != "" {
		addr, stop, err := serveControl(ctx, f.control, m.ControlHandler(), log)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("control endpoint up", "url", "http://"+addr+"/v1/status")
		fmt.Fprintf(a.stderr, "atota module: control endpoint on http://%s/v1/status\n", addr)
	}
	log.Info("module serving", "port", l.Addr(), "model", model.Name, "state", cfg.StatePath, "device_key", m.DeviceKey(),
		"piece_size", cfg.PieceSize, "event_delay", cfg.EventDelay, "reg_delay", cfg.RegDelay)
	fmt.Fprintf(a.stderr, "atota module: serving on %s (Ctrl-C to stop)\n", l.Addr())
	if err := m.Serve(ctx, ml); err != nil && !errors.Is(err, ctx.Err()) {
		return err
	}
	return nil
}
