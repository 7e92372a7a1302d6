package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/agent/platform"
)

type platformFlags struct {
	plans, broker, listen, http, publicURL string
	state, batch, secrets, deviceSecret    string
}

func (a *app) platformCommand() *cobra.Command {
	var f platformFlags
	cmd := &cobra.Command{
		Use:   "platform --plans DIR [flags]",
		Short: "Run a local platform: plans and packages over MQTT (Alink OTA) and HTTP",
		Long: `atota platform is a small IoT platform on this machine. It reads upgrade plans
from a plans directory (the format atota module --plans reads), runs an MQTT
broker (embedded; or --broker to use a running one such as mosquitto), serves
the packages over HTTP with Range, and pushes each plan as an Alink OTA job to
the devices it is for as they report their versions. It tracks every device's
progress; success is the device reporting the target version. State is kept
in --state across restarts; "atota platform status" shows it.

Batch rules beyond the plan file (phased rollout, push rate, retry interval
and count, per-device timeout, overwriting earlier tasks) come from --batch:
  {"default": {"rate_per_minute": 60},
   "plans": {"stm32-2.0.0": {"percent": 50, "max_retries": 2, "retry_interval": "10m",
                             "timeout_minutes": 60, "overwrite": true}}}

Devices sign in with the Alink HMAC of their device secret: --device-secret
for one secret shared by all, --secrets FILE for lines "PRODUCT DEVICE
SECRET"; with neither, every device is let in unchecked.`,
		Example: `  atota platform --plans plans --device-secret s3cret
  atota module --port pty:/tmp/atota-m --platform mqtt://127.0.0.1:1883 \
      --product p1demo --device-key dev1 --device-secret s3cret
  atota platform status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.plans == "" {
				return usagef("platform: --plans DIR is required")
			}
			a.begin(cmd)
			return a.runPlatform(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.plans, "plans", "", "directory of upgrade plan files (*.json) and their packages")
	fl.StringVar(&f.broker, "broker", "", "use this MQTT broker (mqtt://HOST:PORT) instead of the embedded one")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:1883", "address of the embedded MQTT broker")
	fl.StringVar(&f.http, "http", "127.0.0.1:8765", "address of the package server")
	fl.StringVar(&f.publicURL, "public-url", "", "base URL devices download packages from (default http://ADDRESS of --http)")
	fl.StringVar(&f.batch, "batch", "", "batch rules file (JSON, see above)")
	fl.StringVar(&f.secrets, "secrets", "", `device secrets file: lines "PRODUCT DEVICE SECRET"`)
	fl.StringVar(&f.deviceSecret, "device-secret", "", "device secret every device signs in with")
	fl.StringVar(&f.state, "state", "", "state file (default: atota/platform.json in the user's state directory)")
	cmd.AddCommand(a.platformStatusCommand(), a.platformConfirmCommand())
	return cmd
}

// defaultPlatformState is the platform's state file in the user's state
// directory.
func defaultPlatformState() (string, error) {
	p, err := defaultStatePath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "platform.json"), nil
}

func (a *app) runPlatform(cmd *cobra.Command, f platformFlags) error {
	ctx := cmd.Context()
	log := a.logger(cmd, false)
	dir, err := plan.OpenDir(f.plans, plan.WithLogger(log))
	if err != nil {
		return err
	}
	cfg := platform.Config{Plans: dir, Broker: f.broker, Listen: f.listen, HTTP: f.http, PublicURL: f.publicURL, StatePath: f.state, Logger: log}
	if cfg.StatePath == "" {
		if cfg.StatePath, err = defaultPlatformState(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.StatePath), 0o755); err != nil {
		return err
	}
	if f.batch != "" {
		if cfg.Batch, err = platform.LoadBatch(f.batch); err != nil {
			return err
		}
	}
	if cfg.Secrets, err = secretsFunc(f.secrets, f.deviceSecret); err != nil {
		return err
	}
	if cfg.Secrets == nil && f.broker == "" {
		log.Warn("no --device-secret or --secrets: devices are let in without checking their signature")
	}
	p, err := platform.New(cfg)
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(a.stderr, "atota platform: broker %s, packages %s, plans %s, state %s (Ctrl-C to stop)\n",
		p.BrokerURL(), p.PackageURL(), f.plans, cfg.StatePath)
	<-ctx.Done()
	return nil
}

// secretsFunc returns the device secrets of a secrets file and a shared
// secret; nil when neither is given.
func secretsFunc(file, shared string) (func(pk, dn string) string, error) {
	known := map[string]string{}
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("platform: secrets file: %w", err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fs := strings.Fields(line)
			if len(fs) != 3 {
				return nil, fmt.Errorf("platform: secrets file %s:%d: want PRODUCT DEVICE SECRET", file, n)
			}
			known[fs[0]+"/"+fs[1]] = fs[2]
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("platform: secrets file %s: %w", file, err)
		}
	}
	if file == "" && shared == "" {
		return nil, nil
	}
	return func(pk, dn string) string {
		if s, ok := known[pk+"/"+dn]; ok {
			return s
		}
		return shared
	}, nil
}

func (a *app) platformStatusCommand() *cobra.Command {
	var state string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [--state FILE] [--json]",
		Short: "Show every device the platform knows and where its upgrades stand",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.begin(cmd)
			if state == "" {
				var err error
				if state, err = defaultPlatformState(); err != nil {
					return err
				}
			}
			st, err := platform.ReadStatus(state)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			if len(st.Devices) == 0 {
				fmt.Fprintf(a.stdout, "no devices yet (state %s)\n", state)
				return nil
			}
			fmt.Fprint(a.stdout, st.Table())
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "the platform's state file (default: atota/platform.json in the user's state directory)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) platformConfirmCommand() *cobra.Command {
	var planName, device, addr string
	cmd := &cobra.Command{
		Use:   "confirm --plan NAME --device KEY",
		Short: "Give the app confirmation of a manual plan for a device, on the running platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if planName == "" || device == "" {
				return usagef("platform confirm: --plan and --device are required")
			}
			a.begin(cmd)
			resp, err := http.PostForm("http://"+addr+"/api/confirm", url.Values{"plan": {planName}, "device": {device}})
			if err != nil {
				return fmt.Errorf("platform confirm: %w; is atota platform running with --http %s?", err, addr)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				var b strings.Builder
				bufio.NewReader(resp.Body).WriteTo(&b)
				return fmt.Errorf("platform confirm: %s", strings.TrimSpace(b.String()))
			}
			fmt.Fprintf(a.stdout, "confirmed: plan %s for device %s\n", planName, device)
			return nil
		},
	}
	cmd.Flags().StringVar(&planName, "plan", "", "plan name")
	cmd.Flags().StringVar(&device, "device", "", "device key")
	cmd.Flags().StringVar(&addr, "http", "127.0.0.1:8765", "the running platform's --http address")
	return cmd
}
