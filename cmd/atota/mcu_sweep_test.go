package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

// The power-cut sweep with the real module (agent/mcu has the same sweep
// against a scripted one): the flash operations of a whole update are
// counted, then the update is run again with a cut at every operation;
// after each cut the MCU restarts from its journal and the module from
// its state file. What boots after a cut is the old image or the new one,
// never a mix, and the update then completes. Random cut points from
// seeds add several cuts per update: a few in the normal run, 1,000 with
// ATOTA_LONG=1.

// sweepModule is the module in this process, restartable from its state.
type sweepModule struct {
	t   *testing.T
	cfg module.Config
	m   *module.Module
}

func newSweepModule(t *testing.T, dir string) *sweepModule {
	plans, err := plan.OpenDir(filepath.Join(dir, "plans"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := module.DefaultConfig()
	cfg.Plans = plans
	cfg.StatePath = filepath.Join(dir, "module.json")
	cfg.ProductKey, cfg.ProductSecret = "p1demo", "secret"
	cfg.PieceSize = 4096
	cfg.EventDelay, cfg.RegDelay = 0, 0
	cfg.Logger = slog.New(slog.DiscardHandler)
	s := &sweepModule{t: t, cfg: cfg}
	s.restart()
	t.Cleanup(func() { s.m.Close() })
	return s
}

// restart stops the module and starts it again from its state file.
func (s *sweepModule) restart() {
	if s.m != nil {
		s.m.Close()
	}
	m, err := module.New(s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	s.m = m
}

// client serves the module on one end of an in-memory link and returns
// a client on the other; closing the client ends the link.
func (s *sweepModule) client() *atcmd.Client {
	a, b := transport.Pipe()
	srv := s.m.Server()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(context.Background(), b)
	}()
	s.t.Cleanup(func() { b.Close(); <-done })
	return atcmd.NewClient(a)
}

type sweepRuns struct{ ops, restarts, oldBoots, newBoots int }

// sweepUpdate runs the update over a copy of base with the given cuts.
func sweepUpdate(t *testing.T, base *flashsim.Flash, old, img []byte, cuts []int) sweepRuns {
	dir := t.TempDir()
	if err := writeDemoPlan(dir, len(img)); err != nil {
		t.Fatal(err)
	}
	mod := newSweepModule(t, dir)
	journal := filepath.Join(dir, "mcu.journal")
	f := base.Clone()
	start := f.Ops()
	var r sweepRuns
	updated := 0
	for i := 0; ; i++ {
		if i > len(cuts)+3 {
			t.Fatalf("cuts %v: not done after %d runs", cuts, i)
		}
		f.PowerCutAfter(0)
		if i < len(cuts) {
			f.PowerCutAfter(cuts[i])
		}
		res, err := sweepLife(t, mod, f, journal)
		if res != nil {
			updated += len(res.Updated)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, flashsim.ErrPowerCut) {
			t.Fatalf("cuts %v, run %d: %v", cuts, i, err)
		}
		f.PowerOn()
		mod.restart()
		r.restarts++
		switch booted(t, f, old, img) {
		case "old":
			r.oldBoots++
		case "new":
			r.newBoots++
		default:
			t.Fatalf("cuts %v, after run %d: what boots is neither image", cuts, i)
		}
	}
	f.PowerCutAfter(0)
	if booted(t, f, old, img) != "new" || updated != 1 {
		t.Fatalf("cuts %v: after the update %s boots and %d runs reported it; want the new image, reported once", cuts, booted(t, f, old, img), updated)
	}
	r.ops = f.Ops() - start
	return r
}

// sweepLife is one life of the MCU: a reset (a new target over f, which
// boots), a new link, Run with the journal.
func sweepLife(t *testing.T, mod *sweepModule, f *flashsim.Flash, journal string) (*mcu.Result, error) {
	tg, err := mcu.NewFlashTarget(f)
	if err != nil {
		return nil, err
	}
	c := mod.client()
	defer c.Close()
	cfg := mcu.DefaultConfig()
	cfg.Components = []mcu.Component{{ID: "STM32", Version: "1_0_0"}}
	cfg.Target = tg
	cfg.Journal = journal
	cfg.PlanTimeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return mcu.Run(ctx, c, cfg)
}

// booted boots a copy of f and says which image runs.
func booted(t *testing.T, f *flashsim.Flash, old, img []byte) string {
	g := f.Clone()
	l, _ := flashsim.DefaultLayout(g.Part())
	d, err := flashsim.NewDevice(g, l)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Boot()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"old": old, "new": img} {
		got := make([]byte, len(want))
		g.ReadAt(got, s.Off)
		if bytes.Equal(got, want) {
			return name
		}
	}
	return "mixed"
}

func sweepBase(t *testing.T, old []byte) *flashsim.Flash {
	p, _ := flashsim.LookupPart("stm32f103c8")
	f := flashsim.New(p)
	l, _ := flashsim.DefaultLayout(p)
	d, _ := flashsim.NewDevice(f, l)
	if _, err := d.Install(old); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMCUPowerCutSweep(t *testing.T) {
	t.Parallel()
	old, img := demoFirmware(3000, "1_0_0"), demoFirmware(9000, "2_0_0")
	base := sweepBase(t, old)
	n := sweepUpdate(t, base, old, img, nil).ops
	var total sweepRuns
	for k := 1; k <= n; k++ {
		r := sweepUpdate(t, base, old, img, []int{k})
		total.oldBoots += r.oldBoots
		total.newBoots += r.newBoots
	}
	t.Logf("%d flash operations; after a cut the old image booted %d times, the new one %d times", n, total.oldBoots, total.newBoots)
	if total.oldBoots == 0 || total.newBoots == 0 {
		t.Errorf("want both images seen booting after some cut: %+v", total)
	}
}

func TestMCUPowerCutSeeds(t *testing.T) {
	t.Parallel()
	seeds := 4
	if os.Getenv("ATOTA_LONG") == "1" {
		seeds = 1000
	}
	old, img := demoFirmware(3000, "1_0_0"), demoFirmware(9000, "2_0_0")
	base := sweepBase(t, old)
	n := sweepUpdate(t, base, old, img, nil).ops
	var total sweepRuns
	start := time.Now()
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		cuts := make([]int, 1+r.IntN(3))
		for i := range cuts {
			cuts[i] = 1 + r.IntN(n)
		}
		got := sweepUpdate(t, base, old, img, cuts)
		total.restarts += got.restarts
		total.oldBoots += got.oldBoots
		total.newBoots += got.newBoots
	}
	t.Logf("%d seeds, up to 3 cuts each in a %d-operation update: %d restarts, old image booted %d times, new %d, never a mix; every update completed (%v)",
		seeds, n, total.restarts, total.oldBoots, total.newBoots, time.Since(start).Round(time.Millisecond))
}
