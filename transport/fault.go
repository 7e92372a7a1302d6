package transport

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"
)

// LinkFaults are the faults a FaultLink injects into the bytes going one
// way. The zero value injects nothing.
type LinkFaults struct {
	// FlipRate is the chance, 0 to 1, that a byte has one of its bits
	// flipped.
	FlipRate float64
	// DropRate is the chance, 0 to 1, that a byte is lost.
	DropRate float64
	// Delay holds every write (or read) back this long before the bytes
	// go on, plus a random extra of 0 to Jitter.
	Delay, Jitter time.Duration
	// Split passes the bytes on one at a time: one Write (or Read) each.
	Split bool
}

// Zero reports whether f injects nothing.
func (f LinkFaults) Zero() bool { return f == LinkFaults{} }

// check reports a field out of range.
func (f LinkFaults) check() error {
	switch {
	case !(f.FlipRate >= 0 && f.FlipRate <= 1):
		return fmt.Errorf("transport: fault: flip rate %v: want 0 to 1", f.FlipRate)
	case !(f.DropRate >= 0 && f.DropRate <= 1):
		return fmt.Errorf("transport: fault: drop rate %v: want 0 to 1", f.DropRate)
	case f.Delay < 0 || f.Jitter < 0:
		return fmt.Errorf("transport: fault: delay %v, jitter %v: cannot be negative", f.Delay, f.Jitter)
	}
	return nil
}

// FaultStats counts what a FaultLink did to the bytes going one way.
type FaultStats struct {
	Bytes   int64 // bytes that reached the link, counting those it lost
	Flipped int64 // bytes passed on with a bit flipped
	Dropped int64 // bytes lost to DropRate
	Lost    int64 // bytes lost while the link was down
}

// Directions of a FaultLink, as they salt its random choices.
const (
	dirOut = 1
	dirIn  = 2
)

// FaultLink wraps one end of a link and injects faults into the bytes
// that end writes (Out) and reads (In): bit flips, lost bytes, delays
// with jitter, bytes passed on one at a time, and the loss of the whole
// link for a while (Down). Wrapping one end is enough to disturb both
// directions, so it works on a real serial port as well as on a Pipe.
//
// The faults are deterministic: whether the n-th byte going one way is
// flipped or lost, and which bit, depends only on the seed, the direction
// and n, never on how the bytes were cut into writes. The same seed and
// the same byte stream give the same faults. Delays and the link loss
// are in real time.
//
// A FaultLink is safe for concurrent use: one reader and one writer at a
// time, with SetOut, SetIn, Down and Stats from anywhere.
type FaultLink struct {
	rw   io.ReadWriteCloser
	seed uint64

	wmu sync.Mutex // one Write at a time: there is one line
	rmu sync.Mutex // one Read at a time
	// pending holds bytes read and already faulted that Split hands out
	// one at a time; guarded by rmu.
	pending []byte

	mu       sync.Mutex
	out, in  LinkFaults
	downTill time.Time
	stats    [3]FaultStats // indexed by dirOut, dirIn
	count    [3]uint64     // bytes seen per direction: the index of the next
	calls    [3]uint64     // writes (reads) per direction, for jitter

	closeOnce sync.Once
	done      chan struct{}
}

// NewFaultLink returns rw with no faults yet; SetOut, SetIn and Down add
// them. Close closes rw.
func NewFaultLink(rw io.ReadWriteCloser, seed uint64) *FaultLink {
	return &FaultLink{rw: rw, seed: seed, done: make(chan struct{})}
}

// SetOut sets the faults of the bytes written, from the next Write on.
func (l *FaultLink) SetOut(f LinkFaults) error { return l.set(&l.out, f) }

// SetIn sets the faults of the bytes read, from the next Read on.
func (l *FaultLink) SetIn(f LinkFaults) error { return l.set(&l.in, f) }

func (l *FaultLink) set(dst *LinkFaults, f LinkFaults) error {
	if err := f.check(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	*dst = f
	return nil
}

// Down takes the link down for d: every byte written or read until then
// is lost, as on a cable pulled out and put back. A later Down replaces
// the deadline; d <= 0 brings the link up at once.
func (l *FaultLink) Down(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.downTill = time.Time{}
	if d > 0 {
		l.downTill = time.Now().Add(d)
	}
}

// IsDown reports whether the link is down.
func (l *FaultLink) IsDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.downLocked()
}

func (l *FaultLink) downLocked() bool {
	return !l.downTill.IsZero() && time.Now().Before(l.downTill)
}

// Stats returns what the link did so far to the bytes written (out) and
// read (in).
func (l *FaultLink) Stats() (out, in FaultStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats[dirOut], l.stats[dirIn]
}

// Write passes p on with the Out faults. Lost and dropped bytes count as
// written: the sender cannot tell.
func (l *FaultLink) Write(p []byte) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	f, b, lost, delay := l.apply(dirOut, p)
	if lost {
		return len(p), nil
	}
	if delay > 0 && !l.sleep(delay) {
		return 0, errFaultClosed
	}
	if !f.Split {
		if _, err := l.rw.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	for i := range b {
		if _, err := l.rw.Write(b[i : i+1]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Read reads from the link and applies the In faults; it waits for more
// when every byte read was lost.
func (l *FaultLink) Read(p []byte) (int, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if len(l.pending) > 0 {
		n := copy(p[:1], l.pending)
		l.pending = l.pending[n:]
		return n, nil
	}
	for {
		n, err := l.rw.Read(p)
		if n > 0 {
			f, b, lost, delay := l.apply(dirIn, p[:n])
			if !lost && len(b) > 0 {
				if delay > 0 && !l.sleep(delay) {
					return 0, errFaultClosed
				}
				n = copy(p, b)
				if f.Split && n > 1 {
					l.pending = append(l.pending[:0], p[1:n]...)
					n = 1
				}
				return n, nil
			}
		}
		if err != nil {
			return 0, err
		}
	}
}

// apply runs the faults of direction dir over p. It returns the faults in
// force, the bytes to pass on (a copy when changed), whether the whole of
// p was lost to a link down, and the delay to wait first.
func (l *FaultLink) apply(dir int, p []byte) (f LinkFaults, b []byte, lost bool, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.stats[dir]
	st.Bytes += int64(len(p))
	first := l.count[dir]
	l.count[dir] += uint64(len(p))
	if l.downLocked() {
		st.Lost += int64(len(p))
		return f, nil, true, 0
	}
	f = l.in
	if dir == dirOut {
		f = l.out
	}
	call := l.calls[dir]
	l.calls[dir]++
	delay = f.Delay
	if f.Jitter > 0 {
		delay += time.Duration(unit(mix(l.seed, dir, call, 3)) * float64(f.Jitter))
	}
	if f.FlipRate == 0 && f.DropRate == 0 {
		return f, p, false, delay
	}
	b = make([]byte, 0, len(p))
	for i, c := range p {
		n := first + uint64(i)
		if f.DropRate > 0 && unit(mix(l.seed, dir, n, 1)) < f.DropRate {
			st.Dropped++
			continue
		}
		if f.FlipRate > 0 {
			if h := mix(l.seed, dir, n, 2); unit(h) < f.FlipRate {
				c ^= 1 << (h >> 61) // the top three bits pick the bit
				st.Flipped++
			}
		}
		b = append(b, c)
	}
	return f, b, false, delay
}

// errFaultClosed is returned by a Write or Read that Close interrupted
// while it was held back; it matches os.ErrClosed.
var errFaultClosed = fmt.Errorf("transport: fault link: %w", os.ErrClosed)

// sleep waits for d and reports false if Close came first.
func (l *FaultLink) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// Close closes the wrapped link and wakes a Write or Read held back by a
// delay.
func (l *FaultLink) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.rw.Close()
}

// mix returns a 64-bit hash of (seed, dir, n, salt): splitmix64 over
// their combination, so that each byte's fate is independent of the
// others and of how they were cut into writes.
func mix(seed uint64, dir int, n uint64, salt uint64) uint64 {
	z := seed ^ uint64(dir)<<56 ^ salt<<48 ^ n*0x9E3779B97F4A7C15
	z += 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// unit maps h to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / math.Exp2(53) }
