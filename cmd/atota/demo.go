package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/pack"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

// demoConfig is what the demo builds and runs.
type demoConfig struct {
	dir        string // working directory; made and removed when empty
	size       int    // firmware image bytes
	pieceSize  int
	block      int
	part       string
	target     string // TARGET for the MCU; empty: flashsim in dir with part
	sha256     bool
	eventDelay time.Duration
	regDelay   time.Duration
	log        *slog.Logger
	progress   func(mcu.Progress)
	// wrapPort, when set, wraps the MCU's end of the link (tests record
	// the AT exchange with it).
	wrapPort func(io.ReadWriteCloser) io.ReadWriteCloser
	// platform runs the whole chain: a local platform pushes the plan
	// over MQTT to the module's platform link; broker, when set, is an
	// external broker for it instead of the embedded one.
	platform bool
	broker   string
	// delta serves the update as a delta package from the 1_0_0 image
	// the device runs.
	delta bool
}

// demoResult is what the demo did.
type demoResult struct {
	dir      string
	ptyPath  string
	target   string
	updated  mcu.Updated
	duration time.Duration
	platform *demoPlatformResult // with --platform
}

func (a *app) demoCommand() *cobra.Command {
	cfg := demoConfig{size: 64 << 10, pieceSize: 16 << 10, block: 1024, part: "stm32f407vg", sha256: true}
	keep := false
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole OTA update: a module and an MCU over a virtual serial port",
		Long: `atota demo needs no setup: it makes a plans directory with a built-in plan and
a generated firmware package, starts the module emulator on a pty, and runs the
MCU side on the pty's other end as a real serial port, which reads the package
block by block, verifies MD5, CRC-32 and SHA-256 over what it wrote to a
simulated STM32 flash, and reports its new version. It prints a summary and
exits 0 on success. With --delta the device starts out running 1_0_0 and the
plan brings 2_0_0 as a delta package: only the delta crosses the link and the
MCU rebuilds the new image from the old one.`,
		Example: `  atota demo
  atota demo --delta
  atota demo --size 262144 --piece-size 65536 --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.size <= 0 || cfg.pieceSize <= 0 || cfg.block <= 0 || cfg.block > module.MaxRead {
				return usagef("demo: --size and --piece-size must be positive, --block 1 to %d", module.MaxRead)
			}
			a.begin(cmd)
			if keep {
				dir, err := os.MkdirTemp("", "atota-demo-")
				if err != nil {
					return err
				}
				cfg.dir = dir
			}
			cfg.log = a.logger(cmd, true)
			bar := newProgressBar(a.stdout)
			cfg.progress = func(p mcu.Progress) { bar.update(p.Component, p.Done, p.Total) }
			if cfg.broker != "" && !cfg.platform {
				return usagef("demo: --broker needs --platform")
			}
			if cfg.platform {
				fmt.Fprintf(a.stdout, "atota demo: platform -> module over MQTT and HTTP (loopback), module -> MCU over a pty\n")
			}
			kind := sizeOf(int64(cfg.size)) + " package"
			if cfg.delta {
				kind = "delta package to a " + sizeOf(int64(len(demoRebuild(cfg.size)))) + " image"
			}
			fmt.Fprintf(a.stdout, "atota demo: module and MCU over a pty; plan stm32-2.0.0 takes STM32 from 1_0_0 to 2_0_0 (%s, %s pieces, %d-byte blocks)\n",
				kind, sizeOf(int64(cfg.pieceSize)), cfg.block)
			res, err := runDemo(cmd.Context(), cfg)
			bar.finish()
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			u := res.updated
			fmt.Fprintf(a.stdout, "link:     module on %s, MCU on its other end\n", res.ptyPath)
			fmt.Fprintf(a.stdout, "verified: MD5 %s, SHA-256 %s…, CRC-32 %d, read back from %s\n", u.Digests.MD5, u.Digests.SHA256[:16], u.Digests.CRC, res.target)
			fmt.Fprintf(a.stdout, "written:  %s\n", u.Where)
			if u.Package != "" {
				fmt.Fprintf(a.stdout, "summary:  STM32 %s -> %s, a %d-byte %s package in %d pieces and %d blocks built the %d-byte image (%.1f%% of it crossed the link), %.2f s\n",
					u.From, u.To, u.PackageSize, u.Package, u.Pieces, u.Blocks, u.Digests.Size, 100*float64(u.PackageSize)/float64(u.Digests.Size), u.Duration.Seconds())
			} else {
				fmt.Fprintf(a.stdout, "summary:  STM32 %s -> %s, %d bytes in %d pieces and %d blocks, %.2f s, %s/s\n",
					u.From, u.To, u.Digests.Size, u.Pieces, u.Blocks, u.Duration.Seconds(), sizeOf(int64(float64(u.Digests.Size)/u.Duration.Seconds())))
			}
			if pr := res.platform; pr != nil {
				fmt.Fprintf(a.stdout, "platform: broker %s, packages %s; device %s: %s, step %d (%s)\n", pr.broker, pr.packages, pr.device, pr.task.Status, pr.task.Step, pr.task.Desc)
			}
			if keep {
				fmt.Fprintf(a.stdout, "kept:     %s\n", res.dir)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.size, "size", cfg.size, "size of the generated firmware image in bytes")
	fl.IntVar(&cfg.pieceSize, "piece-size", cfg.pieceSize, "bytes the module holds at once (one 7,10703 each)")
	fl.IntVar(&cfg.block, "block", cfg.block, "AT+QIOTOTARD read size")
	fl.StringVar(&cfg.part, "part", cfg.part, "simulated flash part")
	fl.DurationVar(&cfg.eventDelay, "event-delay", module.DefaultEventDelay, "module event delay")
	fl.DurationVar(&cfg.regDelay, "reg-delay", module.DefaultRegDelay, "module registration delay")
	fl.BoolVar(&keep, "keep", false, "keep the working directory (plans, state, flash file) and print its path")
	fl.BoolVar(&cfg.platform, "platform", false, "the whole chain: a local platform pushes the plan over MQTT and HTTP to the module")
	fl.StringVar(&cfg.broker, "broker", "", "with --platform: use this MQTT broker (mqtt://HOST:PORT) instead of the embedded one")
	fl.BoolVar(&cfg.delta, "delta", false, "serve the update as a delta package (atota pack delta) from the 1_0_0 image the device runs")
	return cmd
}

// runDemo builds the plan and package, serves the module on a pty and runs
// the MCU on the pty's other end.
func runDemo(ctx context.Context, cfg demoConfig) (*demoResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "atota-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	targetSpec := cfg.target
	if targetSpec == "" {
		targetSpec = fmt.Sprintf("flashsim:%s?part=%s", filepath.Join(dir, "flash.bin"), cfg.part)
	}
	if cfg.delta {
		old, err := writeDemoDeltaPlan(dir, cfg.size)
		if err != nil {
			return nil, err
		}
		if cfg.target == "" {
			// The device runs 1_0_0, which the delta applies to.
			if err := installDemoImage(filepath.Join(dir, "flash.bin"), cfg.part, old); err != nil {
				return nil, err
			}
		}
	} else if err := writeDemoPlan(dir, cfg.size); err != nil {
		return nil, err
	}
	plans, err := plan.OpenDir(filepath.Join(dir, "plans"), plan.WithLogger(cfg.log))
	if err != nil {
		return nil, err
	}

	mcfg := module.DefaultConfig()
	mcfg.Plans = plans
	var dp *demoPlatform
	if cfg.platform {
		if dp, err = startDemoPlatform(ctx, dir, plans, cfg); err != nil {
			return nil, err
		}
		defer dp.close()
		mcfg.Plans, mcfg.Observer = dp.link, dp.link
		mcfg.DeviceKey, mcfg.DeviceSecret = demoDevice, demoSecret
	}
	mcfg.StatePath = filepath.Join(dir, "module-state.json")
	mcfg.ProductKey, mcfg.ProductSecret = "p1demo", "demo-secret"
	mcfg.PieceSize = cfg.pieceSize
	mcfg.EventDelay, mcfg.RegDelay = cfg.eventDelay, cfg.regDelay
	mcfg.Logger = cfg.log.With("side", "module")
	m, err := module.New(mcfg)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if dp != nil {
		if err := dp.link.Start(ctx, m.DeviceKey()); err != nil {
			return nil, err
		}
		// As a module that knows its MCU from an earlier boot, the link
		// reports the MCU's version at once; the platform pushes on it.
		dp.link.VersionsReported(map[string]string{"STM32": "1_0_0"})
		// The MCU starts once the job is pushed, downloaded and
		// verified: the module offers it at the MCU's first request.
		if err := dp.waitReady(ctx); err != nil {
			return nil, err
		}
	}

	ptyPath := filepath.Join(dir, "module")
	l, err := transport.Listen(ctx, "pty:"+ptyPath, transport.WithLogger(cfg.log))
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Serve(ctx, l); err != nil {
			cfg.log.Error("module stopped", "err", err)
		}
	}()

	// The MCU opens the pty's other end as a serial device.
	port, err := transport.Dial(ctx, ptyPath, transport.WithLogger(cfg.log))
	if err != nil {
		return nil, err
	}
	if cfg.wrapPort != nil {
		port = cfg.wrapPort(port)
	}
	c := atcmd.NewClient(port, atcmd.WithClientLogger(cfg.log.With("side", "mcu")))
	defer c.Close()
	target, err := mcu.OpenTarget(targetSpec)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	before := target.String()

	ucfg := mcu.DefaultConfig()
	ucfg.Components = []mcu.Component{{ID: "STM32", Version: "1_0_0"}}
	ucfg.Target = target
	ucfg.SHA256 = cfg.sha256
	ucfg.Block = cfg.block
	ucfg.Progress = cfg.progress
	ucfg.Logger = cfg.log.With("side", "mcu")
	start := time.Now()
	res, err := mcu.Run(ctx, c, ucfg)
	if err != nil {
		return nil, err
	}
	if len(res.Updated) != 1 {
		return nil, errors.New("the module offered no update")
	}
	out := &demoResult{dir: dir, ptyPath: l.Addr(), target: before, updated: res.Updated[0], duration: time.Since(start)}
	if dp != nil {
		if out.platform, err = dp.waitSuccess(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeDemoPlan writes the built-in plan and its firmware package.
func writeDemoPlan(dir string, size int) error {
	if err := writeDemoFile(dir, "stm32-2_0_0.bin", demoFirmware(size, "2_0_0")); err != nil {
		return err
	}
	return writeDemoPlanFile(dir, map[string]string{
		"type": "mcu", "id": "STM32", "package": "full", "target_version": "2_0_0", "file": "firmware/stm32-2_0_0.bin",
	})
}

// writeDemoDeltaPlan writes the built-in plan as a delta: a package that
// rebuilds version 2_0_0 from 1_0_0, which it returns, the image the
// device must run.
func writeDemoDeltaPlan(dir string, size int) (old []byte, err error) {
	old = demoFirmware(size, "1_0_0")
	var pkg bytes.Buffer
	if _, err := pack.WriteDelta(&pkg, old, demoRebuild(size)); err != nil {
		return nil, err
	}
	if err := writeDemoFile(dir, "stm32-1_0_0-2_0_0.pkg", pkg.Bytes()); err != nil {
		return nil, err
	}
	return old, writeDemoPlanFile(dir, map[string]string{
		"type": "mcu", "id": "STM32", "package": "delta", "source_version": "1_0_0", "target_version": "2_0_0",
		"file": "firmware/stm32-1_0_0-2_0_0.pkg",
	})
}

// writeDemoFile writes a package file into the plans directory.
func writeDemoFile(dir, name string, data []byte) error {
	fw := filepath.Join(dir, "plans", "firmware")
	if err := os.MkdirAll(fw, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(fw, name), data, 0o644)
}

// writeDemoPlanFile writes the built-in plan with its one component.
func writeDemoPlanFile(dir string, component map[string]string) error {
	now := time.Now().UTC()
	p := map[string]any{
		"name":     "stm32-2.0.0",
		"product":  "p1demo",
		"timezone": "+00:00",
		"window": map[string]string{
			"start": now.AddDate(0, 0, -1).Format("2006-01-02 15:04"),
			"end":   now.AddDate(1, 0, 0).Format("2006-01-02 15:04"),
		},
		"mode":       "silent",
		"strategy":   map[string]int{"retries": 2, "min_signal_dbm": -113, "min_battery": 30},
		"components": []map[string]string{component},
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "plans", "stm32-2.0.0.json"), data, 0o644)
}

// demoRebuild returns version 2_0_0 as a rebuild of 1_0_0 with a new
// function: the code after it moves, and the version string changes.
func demoRebuild(size int) []byte {
	b := demoFirmware(size, "2_0_0")
	at := size / 3
	return append(append(b[:at:at], demoFirmware(700, "function")...), b[at:]...)
}

// installDemoImage makes a flash file of part whose running image is img.
func installDemoImage(path, part string, img []byte) error {
	p, err := flashsim.LookupPart(part)
	if err != nil {
		return err
	}
	f := flashsim.New(p)
	if _, err := installImage(f, img); err != nil {
		return err
	}
	return f.Save(path)
}

// demoFirmware returns a deterministic image that looks like Cortex-M
// firmware: a vector table (initial stack pointer, reset handler), code-like
// bytes and a version string.
func demoFirmware(size int, version string) []byte {
	img := make([]byte, size)
	r := rand.New(rand.NewPCG(0x61746f7461, uint64(len(version))))
	for i := range img {
		img[i] = byte(r.Uint32())
	}
	if size >= 64 {
		binary.LittleEndian.PutUint32(img[0:], 0x20005000) // initial SP
		for i := 4; i < 64; i += 4 {
			binary.LittleEndian.PutUint32(img[i:], 0x08000101+uint32(i)*8) // handlers, Thumb bit set
		}
	}
	tag := []byte("atota demo firmware " + version + "\x00")
	if size >= 64+len(tag) {
		copy(img[size/2:], tag)
	}
	return img
}
