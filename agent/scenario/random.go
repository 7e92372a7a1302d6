package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// draw returns the faults of a run: those written, with each random
// fault replaced by the faults it draws from the seed.
func (r *runner) draw() []*armed {
	var out []*armed
	size := int64(DefaultSize)
	for _, p := range r.sc.Module.Plans {
		for _, c := range p.Components {
			size = max(size, int64(c.Size))
		}
	}
	for i := range r.sc.Faults {
		f := &r.sc.Faults[i]
		if f.Type != FaultRandom {
			out = append(out, &armed{f: f, desc: describe(f)})
			continue
		}
		rng := rand.New(rand.NewPCG(r.seed, uint64(i)))
		pool := f.Pool
		if len(pool) == 0 {
			pool = randomPool
		}
		// Only what the ends of this scenario can do: no module faults
		// with a real module, no flash faults with an external MCU.
		pool = slices.DeleteFunc(slices.Clone(pool), func(t string) bool {
			needs := faultKinds[t].needs
			return needs == "module" && r.sc.Module.Port != "" || needs == "mcu" && r.sc.MCU.Port != "" ||
				t == FaultPowerCut && r.sc.MCU.Port != "" && r.sc.MCU.PowerOffCommand == ""
		})
		if len(pool) == 0 {
			continue
		}
		for range f.Count {
			g := drawFault(rng, pool[rng.IntN(len(pool))], size, r.sc.MCU.Port != "")
			out = append(out, &armed{f: g, desc: describe(g) + " (drawn)"})
		}
	}
	return out
}

// drawFault returns a fault of type typ with its parameters drawn from
// rng, for packages of up to size bytes: faults that an update can
// recover from, at a random point of the transfer.
func drawFault(rng *rand.Rand, typ string, size int64, externalMCU bool) *Fault {
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	logRate := func(lo, hi float64) float64 {
		r := math.Pow(10, lo+rng.Float64()*(hi-lo))
		return math.Round(r*1e7) / 1e7
	}
	directions := []string{ToMCU, ToModule, Both}
	f := &Fault{Type: typ, At: Trigger{Bytes: Size(1 + rng.Int64N(size))}, Direction: Both}
	switch typ {
	case FaultFlips:
		f.Rate, f.Direction, f.For = logRate(-4.5, -3), directions[rng.IntN(3)], between(100*time.Millisecond, 600*time.Millisecond)
	case FaultDrops:
		f.Rate, f.Direction, f.For = logRate(-4, -3), directions[rng.IntN(3)], between(100*time.Millisecond, 600*time.Millisecond)
	case FaultDelay:
		f.Delay, f.Jitter = between(0, 20*time.Millisecond), between(time.Millisecond, 20*time.Millisecond)
		f.Direction, f.For = directions[rng.IntN(3)], between(200*time.Millisecond, time.Second)
	case FaultSplit:
		f.Direction, f.For = directions[rng.IntN(3)], between(200*time.Millisecond, time.Second)
	case FaultLinkLoss:
		f.For = between(100*time.Millisecond, 1500*time.Millisecond)
	case FaultURCStorm:
		f.Count, f.Interval = 10+rng.IntN(91), between(0, 2*time.Millisecond)
	case FaultModuleReboot:
		f.Down = between(50*time.Millisecond, 800*time.Millisecond)
	case FaultMCUReset:
	case FaultPowerCut:
		f.At, f.Op = Trigger{}, 1+rng.IntN(80)
		if externalMCU {
			f.At, f.Op = Trigger{Bytes: f.At.Bytes}, 0
		}
	case FaultCorruptBlock:
		f.At, f.Block = Trigger{}, 1+rng.IntN(int(max(size/1024, 1)))
	}
	return f
}

// describe returns a fault in words.
func describe(f *Fault) string {
	var b strings.Builder
	b.WriteString(f.Type)
	switch f.Type {
	case FaultFlips, FaultDrops:
		fmt.Fprintf(&b, " at %g a byte, %s", f.Rate, f.Direction)
	case FaultDelay:
		fmt.Fprintf(&b, " of %v + up to %v a write, %s", f.Delay, f.Jitter, f.Direction)
	case FaultSplit:
		fmt.Fprintf(&b, ", %s", f.Direction)
	case FaultURCStorm:
		fmt.Fprintf(&b, " of %d lines", f.Count)
		if f.Interval > 0 {
			fmt.Fprintf(&b, " %v apart", f.Interval)
		}
	case FaultModuleReboot:
		fmt.Fprintf(&b, ", off for %v", f.Down)
	case FaultPowerCut:
		switch {
		case f.Op > 0:
			fmt.Fprintf(&b, " at flash operation %d", f.Op)
		case f.Every > 0:
			fmt.Fprintf(&b, " at operation %d of cycle 1, %d of cycle 2, ...", f.Every, 2*f.Every)
		case f.Down > 0:
			fmt.Fprintf(&b, ", off for %v", f.Down)
		}
	case FaultCorruptBlock:
		switch {
		case f.Offset != nil:
			fmt.Fprintf(&b, " carrying byte %d", *f.Offset)
		default:
			fmt.Fprintf(&b, " in AT+QIOTOTARD answer %d", f.Block)
		}
		if f.Component != "" {
			fmt.Fprintf(&b, " of %s", f.Component)
		}
		if f.Repeat {
			b.WriteString(", every time")
		}
	case FaultClock:
		fmt.Fprintf(&b, " jumps %v", f.Advance)
	case FaultBattery:
		fmt.Fprintf(&b, " drops to %d%%", *f.Percent)
	case FaultSignal:
		fmt.Fprintf(&b, " to AT+CSQ %d", *f.CSQ)
	case FaultDownloadCut:
		if f.After > 0 {
			fmt.Fprintf(&b, " after %d bytes", f.After)
		} else {
			b.WriteString(" at a byte drawn from the seed")
		}
		if f.Count > 1 {
			fmt.Fprintf(&b, ", %d responses", f.Count)
		}
	case FaultDownloadRate:
		fmt.Fprintf(&b, " of %d B/s", f.BytesPerSecond)
	case FaultBrokerRestart:
		fmt.Fprintf(&b, ", down for %v", f.Down)
	}
	if w := describeTrigger(f.At); w != "" {
		b.WriteString(", " + w)
	}
	if f.For > 0 {
		fmt.Fprintf(&b, " for %v", f.For)
	}
	return b.String()
}

// describeTrigger returns when a trigger fires, in words; "" for at once.
func describeTrigger(t Trigger) string {
	var parts []string
	if t.Time > 0 {
		parts = append(parts, fmt.Sprintf("%v after the start", t.Time))
	}
	if t.Bytes > 0 {
		parts = append(parts, fmt.Sprintf("at byte %d of the package", t.Bytes))
	}
	if t.Event != "" {
		n := max(t.Count, 1)
		parts = append(parts, fmt.Sprintf("at event %s #%d", t.Event, n))
	}
	if t.Cycle > 0 {
		parts = append(parts, fmt.Sprintf("at update cycle %d", t.Cycle))
	}
	return strings.Join(parts, " or ")
}
