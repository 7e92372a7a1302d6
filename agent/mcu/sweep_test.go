package mcu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/flashsim"
)

// The power-cut sweep of a whole update, after MCUboot's simulator (spec
// flash-and-targets §4.6) with torn operations (§3.5): count the flash
// operations of an update, then run it again with a cut at every one;
// after each cut the MCU restarts from its journal (a new target over the
// same flash: a reset) while the module keeps its state. What boots after
// any cut is the old image or the new one, never a mix; the update then
// completes; and no restart reads more than the one block it was writing
// again. Random cut points from seeds add several cuts per update: a few
// in the normal run, 1,000 with ATOTA_LONG=1.

// long reports whether the long sweeps were asked for.
var long = os.Getenv("ATOTA_LONG") == "1"

type sweepSetup struct {
	part  string
	block int
	piece int64
	old   []byte
	img   []byte
	// pkg, when set, is the package the module serves, which builds img
	// (from old, for a delta); reread is then what a restart may read
	// again: the header, the chunk being received and a block.
	pkg        []byte
	reread     int64
	wantResume bool // some cut must leave whole chunks to resume from
}

// served returns what the module serves.
func (s sweepSetup) served() []byte {
	if s.pkg != nil {
		return s.pkg
	}
	return s.img
}

// rereadMax returns how many bytes a restart may read again.
func (s sweepSetup) rereadMax() int64 {
	if s.pkg != nil {
		return s.reread
	}
	return int64(s.block)
}

// baseFlash returns a flash of part whose active slot B runs old.
func baseFlash(t testing.TB, part string, old []byte) *flashsim.Flash {
	p, err := flashsim.LookupPart(part)
	if err != nil {
		t.Fatal(err)
	}
	f := flashsim.New(p)
	l, _ := flashsim.DefaultLayout(p)
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Install(old); err != nil {
		t.Fatal(err)
	}
	return f
}

// runs is what one update with cuts did.
type runs struct {
	ops     int   // flash operations, cuts included
	restart int   // MCU restarts after a cut
	read    int64 // payload bytes read from the module
	old     int   // boots of the old image after a cut
	new     int   // boots of the new image after a cut
	repairs int   // sectors repaired after a torn write
	resumed int   // package applies resumed at a chunk after a restart
}

// counter is a slog handler that counts the warnings about repairs and
// the package applies that resumed at a chunk.
type counter struct {
	slog.Handler
	n       *atomic.Int64
	resumed *atomic.Int64
}

func (c counter) Enabled(context.Context, slog.Level) bool { return true }

func (c counter) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "repairing a write torn"):
		c.n.Add(1)
	case r.Message == "package apply resumes" && c.resumed != nil:
		c.resumed.Add(1)
	}
	return nil
}

// updateWithCuts runs the update over a copy of base, cutting the power
// at cuts[i] operations into the i-th run, restarting until it
// completes.
func updateWithCuts(t *testing.T, s sweepSetup, base *flashsim.Flash, cuts []int) runs {
	var r runs
	synctest.Test(t, func(t *testing.T) {
		f := base.Clone()
		start := f.Ops()
		journal := filepath.Join(t.TempDir(), "journal.json")
		var repairs, resumed atomic.Int64
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: s.served()})
		m.pieceSize = s.piece
		for i := 0; ; i++ {
			if i > len(cuts)+3 {
				t.Fatalf("cuts %v: still not done after %d runs", cuts, i)
			}
			f.PowerCutAfter(0)
			if i < len(cuts) {
				f.PowerCutAfter(cuts[i])
			}
			err := runOnce(t, m, f, journal, s.block, counter{Handler: slog.DiscardHandler, n: &repairs, resumed: &resumed})
			if err == nil {
				break
			}
			if !errors.Is(err, flashsim.ErrPowerCut) {
				t.Fatalf("cuts %v, run %d: %v", cuts, i, err)
			}
			f.PowerOn()
			r.restart++
			switch boots := bootedImage(t, f, len(s.old), len(s.img)); {
			case boots == sha256.Sum256(s.old):
				r.old++
			case boots == sha256.Sum256(s.img):
				r.new++
			default:
				t.Fatalf("cuts %v, after run %d: the slot that boots holds neither image", cuts, i)
			}
		}
		f.PowerCutAfter(0)
		d := device(t, f)
		if d.Record().Pending.Name != 0 || !bytes.Equal(slotImage(t, d, len(s.img)), s.img) {
			t.Fatalf("cuts %v: after the update the active slot %v does not hold the new image (record %+v)", cuts, d.Active(), d.Record())
		}
		if got := m.versions["STM32"]; got != "2_0_0" {
			t.Fatalf("cuts %v: the module last heard version %q, want 2_0_0", cuts, got)
		}
		r.ops = f.Ops() - start
		r.read = m.readBytes()
		r.repairs = int(repairs.Load())
		r.resumed = int(resumed.Load())
		if max := int64(len(s.served())) + int64(r.restart)*s.rereadMax(); r.read > max {
			t.Fatalf("cuts %v: %d restarts read %d bytes, more than the download and %d bytes per restart (%d)", cuts, r.restart, r.read, s.rereadMax(), max)
		}
	})
	return r
}

// runOnce is one life of the MCU: a reset (a new target over f, which
// boots), then Run with the journal.
func runOnce(t *testing.T, m *fakeModule, f *flashsim.Flash, journal string, block int, log counter) error {
	tg, err := NewFlashTarget(f)
	if err != nil {
		return err
	}
	cfg := testConfig(tg)
	cfg.Journal = journal
	cfg.Block = block
	cfg.Logger = slog.New(log)
	_, err = Run(t.Context(), m.client(t), cfg)
	return err
}

func device(t *testing.T, f *flashsim.Flash) *flashsim.Device {
	t.Helper()
	l, _ := flashsim.DefaultLayout(f.Part())
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// bootedImage boots a copy of f and returns the SHA-256 of what runs:
// the first oldLen bytes of the slot if it is the active one, else
// newLen.
func bootedImage(t *testing.T, f *flashsim.Flash, oldLen, newLen int) [32]byte {
	t.Helper()
	d := device(t, f.Clone())
	s, err := d.Boot()
	if err != nil {
		t.Fatal(err)
	}
	n := oldLen
	if r := d.Record(); r.Pending.Name == s.Name || r.ImageSize == int64(newLen) && s.Name == r.Active.Name && !r.Reverted {
		n = newLen
	}
	b := make([]byte, n)
	if _, err := d.Flash().ReadAt(b, s.Off); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if n == newLen && n != oldLen {
		// The confirmed new image, or a pending one on trial.
		return sum
	}
	return sum
}

func sweepSetups() []sweepSetup {
	return []sweepSetup{
		// Blocks the size of the F1's pages: every block starts a page.
		{part: "stm32f103c8", block: 1024, piece: 4096, old: image(30, 3000), img: image(31, 6000)},
		// Odd blocks: tails shorter than a write unit, and torn half-words
		// in pages that hold committed bytes (repaired by an erase).
		{part: "stm32f103c8", block: 999, piece: 2500, old: image(32, 2000), img: image(33, 5001)},
		// Mixed 16 KiB sectors, AND-bits programming.
		{part: "stm32f407vg", block: 1000, piece: 8192, old: image(34, 1000), img: image(35, 20003)},
	}
}

func TestPowerCutSweep(t *testing.T) { sweep(t, sweepSetups()) }

// sweep runs each setup's update with a cut at every flash operation.
func sweep(t *testing.T, setups []sweepSetup) {
	for _, s := range setups {
		t.Run(fmt.Sprintf("%s/block-%d", s.part, s.block), func(t *testing.T) {
			base := baseFlash(t, s.part, s.old)
			whole := updateWithCuts(t, s, base, nil)
			if whole.read != int64(len(s.served())) {
				t.Fatalf("an update without cuts read %d bytes, want %d", whole.read, len(s.served()))
			}
			outcomes := runs{}
			for k := 1; k <= whole.ops; k++ {
				r := updateWithCuts(t, s, base, []int{k})
				outcomes.old += r.old
				outcomes.new += r.new
				outcomes.read += r.read - int64(len(s.served()))
				outcomes.repairs += r.repairs
				outcomes.resumed += r.resumed
			}
			t.Logf("%d operations; after a cut the old image booted %d times, the new %d; %d torn sectors repaired; %d package applies resumed at a chunk; %d bytes read again in all",
				whole.ops, outcomes.old, outcomes.new, outcomes.repairs, outcomes.resumed, outcomes.read)
			if outcomes.old == 0 || outcomes.new == 0 {
				t.Errorf("want both images seen booting after some cut: %+v", outcomes)
			}
			if s.wantResume && outcomes.resumed == 0 {
				t.Error("no cut left a package apply to resume at a chunk")
			}
		})
	}
}

// TestPowerCutSeeds cuts the power at random points, up to three times
// in one update. ATOTA_LONG=1 runs 1,000 seeds per setup.
func TestPowerCutSeeds(t *testing.T) { seedCuts(t, sweepSetups()) }

func seedCuts(t *testing.T, setups []sweepSetup) {
	seeds := 8
	if long {
		seeds = 1000
	}
	for _, s := range setups {
		t.Run(fmt.Sprintf("%s/block-%d", s.part, s.block), func(t *testing.T) {
			base := baseFlash(t, s.part, s.old)
			n := updateWithCuts(t, s, base, nil).ops
			var restarts, reread, repairs int64
			for seed := range uint64(seeds) {
				r := rand.New(rand.NewPCG(seed, 77))
				cuts := make([]int, 1+r.IntN(3))
				for i := range cuts {
					cuts[i] = 1 + r.IntN(n)
				}
				got := updateWithCuts(t, s, base, cuts)
				restarts += int64(got.restart)
				reread += got.read - int64(len(s.served()))
				repairs += int64(got.repairs)
			}
			t.Logf("%d seeds: %d restarts after a cut, %d torn sectors repaired, %d bytes read again in all (at most %d per restart allowed)", seeds, restarts, repairs, reread, s.rereadMax())
		})
	}
}
