package flashsim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
)

// The power-cut sweeps follow MCUboot's simulator (spec §4.6): run a
// sequence once to count its flash operations N, then for every k in
// 1..N run it again with a power cut at operation k, reset, and check the
// device. Unlike MCUboot's, our cuts tear the operation (spec §3.5).

// holds reports whether slot s starts with img, by SHA-256.
func holds(t *testing.T, f *Flash, s Slot, img []byte) bool {
	t.Helper()
	if s.Name == 0 || int64(len(img)) > s.Size {
		return false
	}
	return sha256.Sum256(read(t, f, s.Off, len(img))) == sha256.Sum256(img)
}

// A step is one device call of a sequence under test.
type step func(d *Device, img []byte) error

func writeStep(d *Device, img []byte) error { return d.WriteInactive(img) }

func pendingStep(d *Device, img []byte) error {
	return d.SetPending(int64(len(img)), sha256.Sum256(img))
}

func bootStep(d *Device, _ []byte) error { _, err := d.Boot(); return err }

func confirmStep(d *Device, _ []byte) error { return d.Confirm() }

// fullUpdate is the update under test: image into the inactive slot,
// SetPending, Boot, Confirm.
var fullUpdate = []step{writeStep, pendingStep, bootStep, confirmStep}

// neverConfirmed writes the image and sets it pending, then resets until
// the device reverts: the image is never confirmed.
var neverConfirmed = []step{writeStep, pendingStep, bootStep, bootStep, bootStep, bootStep}

// run runs steps in order, calling note with the record after each.
func run(d *Device, img []byte, steps []step, note func(BootRecord)) error {
	for _, s := range steps {
		if err := s(d, img); err != nil {
			return err
		}
		note(d.Record())
	}
	return nil
}

// untilSettled boots until nothing is pending: the revert's finish.
func untilSettled(d *Device, _ []byte) error {
	for d.Record().Pending.Name != 0 {
		if _, err := d.Boot(); err != nil {
			return err
		}
	}
	return nil
}

type sweepCase struct {
	part   string
	startB bool // the old image is active in slot B, so the update goes to A
	used   int  // boot records written before the update (0: a fresh record region)
}

func (c sweepCase) String() string {
	start := "A"
	if c.startB {
		start = "B"
	}
	return fmt.Sprintf("%s/from-%s/records-%d", c.part, start, c.used)
}

// long reports whether the long sweeps were asked for (ATOTA_LONG=1).
var long = os.Getenv("ATOTA_LONG") == "1"

func sweepCases(t *testing.T) []sweepCase {
	var cases []sweepCase
	for _, name := range PartNames() {
		l, err := DefaultLayout(mustPart(t, name))
		if err != nil {
			t.Fatal(err)
		}
		f := New(mustPart(t, name))
		_, _, size, _ := f.Sector(l.Record.Off)
		rps := int(size) / recordSlot(f.Part())
		// The update writes three records. Place them so that each of
		// them in turn is the one that moves into the second sector
		// (erasing it), and into the first sector again.
		// The normal run keeps three placements per part: a fresh
		// region, the update's first record moving into the second
		// sector, and the ring wrapping to the first sector again.
		// ATOTA_LONG=1 runs them all.
		for _, used := range []int{0, rps - 2, rps - 1, rps, 2*rps - 1, 2 * rps} {
			short := used == 0 || used == rps-1 || used == 2*rps
			if !long && !short {
				continue
			}
			cases = append(cases, sweepCase{part: name, used: used})
			if used >= 3 && (long || used == 2*rps) {
				cases = append(cases, sweepCase{part: name, startB: true, used: used})
			}
		}
	}
	return cases
}

// sweepBase returns a booted device holding old as its active image, with
// c.used records written.
func sweepBase(t *testing.T, c sweepCase, old []byte) *Flash {
	f := newFlash(t, c.part)
	d := newDevice(t, f)
	if c.startB {
		if err := run(d, old, fullUpdate, func(BootRecord) {}); err != nil {
			t.Fatal(err)
		}
	} else if _, err := f.WriteAt(pad(old, f.Part().WriteUnit), d.Active().Off); err != nil {
		t.Fatal(err)
	}
	for int(d.Record().Seq) < c.used {
		if err := d.append(d.Record()); err != nil {
			t.Fatal(err)
		}
	}
	if c.startB != (d.Active().Name == 'B') || !holds(t, f, d.Active(), old) {
		t.Fatalf("base: active %v does not hold the old image", d.Active())
	}
	return f
}

// restore makes f an exact copy of base without allocating.
func restore(f, base *Flash) {
	copy(f.data, base.data)
	copy(f.erases, base.erases)
	f.ops, f.cutAt, f.off = base.ops, base.cutAt, base.off
}

func pad(b []byte, unit int) []byte {
	b = slices.Clone(b)
	for len(b)%unit != 0 {
		b = append(b, 0xFF)
	}
	return b
}

// sweep runs seq once to count its operations, then cuts at each one.
// After each cut and reset, the record in force must be one the
// uninterrupted run went through, and the running and the active slot
// must hold old or new (the active one only old if !canConfirm). Then
// finish must complete from there, ending with wantNew (or old) confirmed.
// Each cut is also tried with a second cut during the recovery.
func sweep(t *testing.T, c sweepCase, seq []step, canConfirm bool, finish []step, wantNew bool) {
	old, img := image(10, 6001), image(11, 9002)
	want := old
	if wantNew {
		want = img
	}
	base := sweepBase(t, c, old)
	work := base.Clone()
	start := func() (*Flash, *Device) {
		f := work
		restore(f, base)
		d := newDevice(t, f)
		boot(t, d, d.Active().Name)
		return f, d
	}
	f, d := start()
	before := f.Ops()
	trace := []BootRecord{d.Record()}
	if err := run(d, img, seq, func(r BootRecord) { trace = append(trace, r) }); err != nil {
		t.Fatalf("uninterrupted run: %v", err)
	}
	n := f.Ops() - before
	if n < 4 {
		t.Fatalf("the sequence took %d operations; too few to sweep", n)
	}
	ignore := func(BootRecord) {}
	outcomes := map[string]int{}
	for k := 1; k <= n; k++ {
		for _, second := range []int{0, 1 + k%3} { // second > 0: cut again during recovery
			where := fmt.Sprintf("cut at %d/%d", k, n)
			if second > 0 {
				where += fmt.Sprintf(" and %d into the recovery", second)
			}
			f, d := start()
			f.PowerCutAfter(k)
			if err := run(d, img, seq, ignore); !errors.Is(err, ErrPowerCut) {
				t.Fatalf("%s: err = %v, want ErrPowerCut", where, err)
			}
			f.PowerOn()
			d = newDevice(t, f)
			if second == 0 && !slices.Contains(trace, d.Record()) {
				t.Fatalf("%s: record %+v is none of the records of the uninterrupted run %+v", where, d.Record(), trace)
			}
			if second > 0 {
				f.PowerCutAfter(second)
				if err := run(d, img, append([]step{bootStep}, finish...), ignore); err == nil {
					f.PowerOff() // the recovery was shorter than the cut
				}
				f.PowerOn()
				d = newDevice(t, f)
			}
			running, err := d.Boot()
			if err != nil {
				t.Fatalf("%s: Boot after the cut: %v", where, err)
			}
			switch {
			case holds(t, f, running, old):
				outcomes["old"]++
			case holds(t, f, running, img):
				outcomes["new"]++
			default:
				t.Fatalf("%s: running slot %v holds neither image; record %+v", where, running, d.Record())
			}
			active := d.Active()
			if !holds(t, f, active, old) && !(canConfirm && holds(t, f, active, img)) {
				t.Fatalf("%s: active slot %v lost its image; record %+v", where, active, d.Record())
			}
			if err := run(d, img, finish, ignore); err != nil {
				t.Fatalf("%s: finishing: %v", where, err)
			}
			d = newDevice(t, f)
			if s, err := d.Boot(); err != nil || !holds(t, f, s, want) || s != d.Active() || d.Record().Pending.Name != 0 {
				t.Fatalf("%s: after finishing, Boot() = %v, %v, record %+v; want the final image confirmed",
					where, s, err, d.Record())
			}
		}
	}
	t.Logf("%d operations; outcomes after a cut: %v", n, outcomes)
	if outcomes["old"] == 0 || outcomes["new"] == 0 {
		t.Errorf("outcomes %v over %d cuts; want both images seen running", outcomes, n)
	}
	// The count was exact: a cut one operation later never fires.
	f, d = start()
	f.PowerCutAfter(n + 1)
	if err := run(d, img, seq, ignore); err != nil {
		t.Errorf("cut after %d operations fired in a %d-operation run: %v", n+1, n, err)
	}
}

func TestPowerCutSweepUpdate(t *testing.T) {
	for _, c := range sweepCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			sweep(t, c, fullUpdate, true, fullUpdate, true)
		})
	}
}

func TestPowerCutSweepRevert(t *testing.T) {
	for _, c := range sweepCases(t) {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			sweep(t, c, neverConfirmed, false, []step{untilSettled}, false)
		})
	}
}
