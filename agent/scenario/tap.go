package scenario

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tap follows what the module sends the MCU, as it leaves the module and
// before any link fault: it reports the +QIOTEVT events and every
// AT+QIOTOTARD answer (which component, where, how long), counts the
// package bytes served, and flips a payload byte for corrupt_block
// faults. It parses the stream as an MCU does: lines, and after a
// "+QIOTOTARD: <start>,<len>" header exactly <len> raw bytes.
type tap struct {
	seed uint64
	last atomic.Int64 // when bytes last went by, in Unix nanoseconds

	mu      sync.Mutex
	line    []byte
	payload int64 // raw bytes still to come of the current answer
	flipAt  int64 // index in the current payload of the byte to flip; -1 none
	flipBit byte

	comp    string           // the component being downloaded, from 7,10701
	answers map[string]int   // AT+QIOTOTARD answers of the current download per component
	served  map[string]int64 // payload bytes served per component
	reach   map[string]int64 // furthest byte served per component
	sizes   map[string]int64 // component sizes from 7,10701
	order   []string

	corrupt []*corruptor

	// Callbacks, called in order after process has let go of the lock.
	onURC  func(line string)
	onRead func(comp string, start, n int64)
	onFlip func(comp string, at int64)
	notes  []func()
}

// corruptor is a corrupt_block fault as the tap applies it.
type corruptor struct {
	f      *Fault
	active bool
	fired  bool
}

func newTap(seed uint64) *tap {
	return &tap{
		seed: seed, flipAt: -1,
		answers: map[string]int{}, served: map[string]int64{}, reach: map[string]int64{}, sizes: map[string]int64{},
	}
}

// process follows p and returns it, with a byte flipped where a
// corrupt_block fault says so (in a copy).
func (t *tap) process(p []byte) []byte {
	t.last.Store(time.Now().UnixNano())
	t.mu.Lock()
	out := t.follow(p)
	notes := t.notes
	t.notes = nil
	t.mu.Unlock()
	for _, f := range notes {
		f()
	}
	if out != nil {
		return out
	}
	return p
}

// follow parses p and returns a changed copy, or nil. t.mu is held.
func (t *tap) follow(p []byte) []byte {
	var out []byte
	for i := 0; i < len(p); {
		if t.payload > 0 {
			n := min(int64(len(p)-i), t.payload)
			if t.flipAt >= 0 && t.flipAt < n {
				if out == nil {
					out = bytes.Clone(p)
				}
				out[i+int(t.flipAt)] ^= 1 << t.flipBit
				t.flipAt = -1
			} else if t.flipAt >= 0 {
				t.flipAt -= n
			}
			t.payload -= n
			i += int(n)
			continue
		}
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			t.addLine(p[i:])
			break
		}
		t.addLine(p[i : i+j])
		i += j + 1
		t.endLine()
	}
	return out
}

// maxTapLine bounds a line the tap keeps; longer lines are cut.
const maxTapLine = 4096

func (t *tap) addLine(b []byte) {
	if room := maxTapLine - len(t.line); room > 0 {
		t.line = append(t.line, b[:min(len(b), room)]...)
	}
}

func (t *tap) endLine() {
	line := strings.TrimRight(string(t.line), "\r")
	t.line = t.line[:0]
	switch {
	case strings.HasPrefix(line, "+QIOTEVT:"):
		t.event(line)
		if t.onURC != nil {
			t.notes = append(t.notes, func() { t.onURC(line) })
		}
	case strings.HasPrefix(line, "+QIOTOTARD: "):
		start, n, ok := otardHeader(line)
		if ok {
			t.answer(start, n)
		}
	}
}

// event notes the component a 7,10701 starts.
func (t *tap) event(line string) {
	rest, ok := strings.CutPrefix(line, "+QIOTEVT: 7,10701,")
	if !ok {
		return
	}
	fields := strings.Split(rest, ",")
	if len(fields) < 2 {
		return
	}
	t.comp = strings.Trim(fields[0], `"`)
	t.answers[t.comp] = 0 // blocks count from each download's start
	if size, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
		if _, seen := t.sizes[t.comp]; !seen {
			t.order = append(t.order, t.comp)
		}
		t.sizes[t.comp] = size
	}
}

// answer takes the header of an AT+QIOTOTARD answer: n payload bytes at
// start follow.
func (t *tap) answer(start, n int64) {
	t.payload = n
	t.flipAt = -1
	c := t.comp
	t.answers[c]++
	t.served[c] += n
	t.reach[c] = max(t.reach[c], start+n)
	for _, k := range t.corrupt {
		f := k.f
		switch {
		case !k.active || k.fired && !f.Repeat || f.Component != "" && f.Component != c || n == 0:
			continue
		case f.Offset != nil && int64(*f.Offset) >= start && int64(*f.Offset) < start+n:
			t.flipAt = int64(*f.Offset) - start
		case f.Offset == nil && f.Block == t.answers[c]:
			t.flipAt = int64(mix64(t.seed, uint64(t.answers[c])) % uint64(n))
		default:
			continue
		}
		k.fired = true
		t.flipBit = byte(mix64(t.seed^0xF11B, uint64(start)) % 8)
		if t.onFlip != nil {
			at := start + t.flipAt
			t.notes = append(t.notes, func() { t.onFlip(c, at) })
		}
		break
	}
	if t.onRead != nil {
		t.notes = append(t.notes, func() { t.onRead(c, start, n) })
	}
}

// otardHeader parses "+QIOTOTARD: <start>,<len>".
func otardHeader(line string) (start, n int64, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(line, "+QIOTOTARD: "), ",")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	l, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	if err1 != nil || err2 != nil || s < 0 || l < 0 || l > 1<<20 {
		return 0, 0, false
	}
	return s, l, true
}

// activate turns on the corrupt_block fault f.
func (t *tap) activate(f *Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.corrupt {
		if k.f == f {
			k.active = true
		}
	}
}

// stats returns the bytes served per component, the furthest byte
// served and the sizes, in the order the components started.
func (t *tap) stats() (order []string, served, reach, sizes map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	served, reach, sizes = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for k, v := range t.served {
		served[k] = v
	}
	for k, v := range t.reach {
		reach[k] = v
	}
	for k, v := range t.sizes {
		sizes[k] = v
	}
	return append([]string(nil), t.order...), served, reach, sizes
}

// tapConn puts a tap on one side of a link end: on what it reads (the
// MCU's end) or on what it writes (the module's end).
type tapConn struct {
	rw       io.ReadWriteCloser
	t        *tap
	readSide bool
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.rw.Read(b)
	if c.readSide && n > 0 {
		copy(b, c.t.process(b[:n]))
	}
	return n, err
}

func (c *tapConn) Write(b []byte) (int, error) {
	if c.readSide {
		return c.rw.Write(b)
	}
	if _, err := c.rw.Write(c.t.process(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *tapConn) Close() error { return c.rw.Close() }

// mix64 is splitmix64 over (seed, n).
func mix64(seed, n uint64) uint64 {
	z := seed + n*0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// cmdTap follows the command lines the MCU sends: on what it writes
// (the emulated MCU's end, before any link fault), or on what it reads
// (the module's end, as the module hears them). It reports each line to
// onLine.
type cmdTap struct {
	rw       io.ReadWriteCloser
	readSide bool
	mu       sync.Mutex
	line     []byte
	onLine   func(line string)
}

func (c *cmdTap) Read(b []byte) (int, error) {
	n, err := c.rw.Read(b)
	if c.readSide && n > 0 {
		c.follow(b[:n])
	}
	return n, err
}

func (c *cmdTap) Write(b []byte) (int, error) {
	if !c.readSide {
		c.follow(b)
	}
	return c.rw.Write(b)
}

// follow cuts b into lines for onLine.
func (c *cmdTap) follow(b []byte) {
	c.mu.Lock()
	var lines []string
	for _, ch := range b {
		switch {
		case ch == '\r' || ch == '\n':
			if len(c.line) > 0 {
				lines = append(lines, string(c.line))
				c.line = c.line[:0]
			}
		case len(c.line) < maxTapLine:
			c.line = append(c.line, ch)
		}
	}
	c.mu.Unlock()
	for _, l := range lines {
		c.onLine(l)
	}
}

func (c *cmdTap) Close() error { return c.rw.Close() }

// quietFor returns how long no bytes went by.
func (t *tap) quietFor() time.Duration {
	return time.Since(time.Unix(0, t.last.Load()))
}
