package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

// benchModule serves a plan with a package of size bytes on a pty, in
// this process, with no event delays, and returns the pty's path.
func benchModule(b *testing.B, size int) string {
	dir := b.TempDir()
	if err := writeDemoPlan(dir, size); err != nil {
		b.Fatal(err)
	}
	plans, err := plan.OpenDir(filepath.Join(dir, "plans"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := module.DefaultConfig()
	cfg.Plans = plans
	cfg.StatePath = filepath.Join(dir, "module.json")
	cfg.ProductKey, cfg.ProductSecret = "p1demo", "secret"
	cfg.EventDelay, cfg.RegDelay = 0, 0
	cfg.Logger = slog.New(slog.DiscardHandler)
	m, err := module.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(dir, "module")
	l, err := transport.Listen(ctx, "pty:"+path)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { m.Serve(ctx, l) })
	b.Cleanup(func() { cancel(); l.Close(); wg.Wait(); m.Close() })
	return path
}

// BenchmarkMCUPty1MiB is the MCU end to end over a pty, unpaced: a 1 MiB
// package in 1024-byte blocks, written to a simulated flash (w25q32, the
// only part with a slot of 1 MiB) and read back to verify, from
// AT+QIOTMCUVER to 7,10705. The goal is 10 MB/s.
func BenchmarkMCUPty1MiB(b *testing.B) {
	const size = 1 << 20
	for _, tt := range []struct {
		name    string
		journal bool
	}{
		{name: "flash-in-memory"},
		{name: "flash-file+journal", journal: true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			port := benchModule(b, size)
			dir := b.TempDir()
			var target mcu.Target
			if tt.journal {
				t, err := mcu.OpenTarget("flashsim:" + filepath.Join(dir, "flash.bin") + "?part=w25q32")
				if err != nil {
					b.Fatal(err)
				}
				target = t
			} else {
				p, _ := flashsim.LookupPart("w25q32")
				t, err := mcu.NewFlashTarget(flashsim.New(p))
				if err != nil {
					b.Fatal(err)
				}
				target = t
			}
			defer target.Close()
			rw, err := transport.Dial(context.Background(), port)
			if err != nil {
				b.Fatal(err)
			}
			c := atcmd.NewClient(rw)
			defer c.Close()
			cfg := mcu.DefaultConfig()
			cfg.Target = target
			cfg.Block = 1024
			if tt.journal {
				cfg.Journal = filepath.Join(dir, "mcu.journal")
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				cfg.Components = []mcu.Component{{ID: "STM32", Version: "1_0_0"}}
				if tt.journal {
					os.Remove(cfg.Journal) // each round starts at 1_0_0
				}
				res, err := mcu.Run(context.Background(), c, cfg)
				if err != nil || len(res.Updated) != 1 {
					b.Fatalf("round %d: %+v, %v", i, res, err)
				}
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

// BenchmarkMCURSS100MB runs atota mcu as a process of its own (built
// without the race detector) against atota module, with a 100 MB package
// into a file target, and reports the MCU's peak resident memory. The
// goal is 32 MB: no whole-image buffers.
func BenchmarkMCURSS100MB(b *testing.B) {
	const size = 100 << 20
	dir := b.TempDir()
	bin := filepath.Join(dir, "atota")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
	if err := writeDemoPlan(dir, size); err != nil {
		b.Fatal(err)
	}
	port := filepath.Join(dir, "module")
	mod := exec.Command(bin, "module", "--port", "pty:"+port, "--plans", filepath.Join(dir, "plans"), "--product", "p1demo",
		"--state", filepath.Join(dir, "state.json"), "--event-delay", "0s", "--reg-delay", "0s", "--log-level", "warn")
	mod.Stderr = os.Stderr
	if err := mod.Start(); err != nil {
		b.Fatal(err)
	}
	modPeak := watchPeak(mod.Process.Pid)
	defer func() {
		b.ReportMetric(float64(modPeak())/1024, "module_peak_rss_MB")
		mod.Process.Signal(syscall.SIGTERM)
		mod.Wait()
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(port); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no module pty")
		}
	}
	var maxRSS int64 // KiB
	b.ResetTimer()
	for b.Loop() {
		out := filepath.Join(dir, "app.bin")
		os.Remove(out)
		cmd := exec.Command(bin, "mcu", "--port", port, "--target", "file:"+out, "--once", "--log-level", "warn")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		peak := watchPeak(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		maxRSS = max(maxRSS, peak())
		if fi, err := os.Stat(out); err != nil || fi.Size() != size {
			b.Fatalf("the image: %v, %v", fi, err)
		}
	}
	b.ReportMetric(float64(maxRSS)/1024, "mcu_peak_rss_MB")
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// watchPeak samples the peak resident set (VmHWM, KiB) of process pid
// until it exits, and returns a func giving the last sample. The child's
// own rusage would not do: it counts the pages of this process, which
// it shared until its exec.
func watchPeak(pid int) func() int64 {
	var mu sync.Mutex
	var peak int64
	go func() {
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				return
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() int64 { mu.Lock(); defer mu.Unlock(); return peak }
}
