package mcu

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/atcmd/atcmdtest"
)

// fakeModule is a scripted QuecThing module built from atcmd.Mux
// handlers: just enough of the OTA flow for Run, with hooks for faults.
// The real emulator (agent/module) is tested end to end elsewhere.
type fakeModule struct {
	// Set up before the client is made.
	state     int      // AT+QIOTSTATE? before registering; 8 = registered
	regEvents []string // events after AT+QIOTREG=1
	rssi      int      // AT+CSQ
	comps     []fakeComp
	pieceSize int64
	maxRead   int64
	// otard, when set, may change the answer to the i-th AT+QIOTOTARD
	// (i counts from 0 over the whole cycle).
	otard func(i int, a *otardAnswer)
	// pieceEvents, when set, may change the events announcing a piece
	// after AT+QIOTUPDATE=2 (k counts the pieces of a component from 0).
	pieceEvents func(k int, evs []string) []string
	// failReport makes the version report fail the update (7,10706).
	failReport bool
	// noOffer makes AT+QIOTOTAREQ announce nothing, for plans pushed
	// with regEvents.
	noOffer bool

	srv *atcmd.Server

	mu       sync.Mutex
	versions map[string]string // reported with AT+QIOTMCUVER
	cmds     []string          // command lines received, in order
	sha      bool
	started  bool
	updating bool
	cur      int // index into comps
	piece    int // index of the current piece of comps[cur]
	pStart   int64
	pLen     int64
	reads    int
	bytes    int64 // payload bytes sent in answer to AT+QIOTOTARD
}

// fakeComp is one component of the fake's plan.
type fakeComp struct {
	ID, Source, Target string
	Data               []byte
	MinBattery         int
	MinSignal          int    // 0: -113, no limit
	Space              int64  // 0: len(Data)
	Start              *Start // the 7,10701 to send; nil: the digests of Data
}

// otardAnswer is what the fake answers to one AT+QIOTOTARD.
type otardAnswer struct {
	Start, Len int64         // the header
	Data       []byte        // the bytes that follow it
	Delay      time.Duration // before answering
	Error      bool          // answer ERROR instead
}

// image returns n deterministic pseudo-random bytes.
func image(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newFake(comps ...fakeComp) *fakeModule {
	return &fakeModule{
		state:     1,
		regEvents: []string{"+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200"},
		rssi:      25,
		comps:     comps,
		pieceSize: 4096,
		maxRead:   1024,
	}
}

// client starts the fake on one end of an in-memory link and returns the
// client on the other end; both stop when the test ends.
func (m *fakeModule) client(t testing.TB) *atcmd.Client {
	mux := atcmd.NewMux()
	for name, h := range map[string]atcmd.HandlerFunc{
		"":            func(context.Context, atcmd.ResponseWriter, *atcmd.Request) error { return nil },
		"+QIOTMCUVER": m.mcuver,
		"+QIOTSTATE":  m.qiotstate,
		"+QIOTREG":    m.reg,
		"+QIOTOTAREQ": m.otareq,
		"+CSQ":        m.csq,
		"+QIOTUPDATE": m.update,
		"+QIOTOTARD":  m.read,
	} {
		mux.HandleFunc(name, m.logged(h))
	}
	c, srv := atcmdtest.Pair(t, mux)
	m.srv = srv
	return c
}

func (m *fakeModule) logged(h atcmd.HandlerFunc) atcmd.HandlerFunc {
	return func(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
		m.mu.Lock()
		m.cmds = append(m.cmds, r.Command.String())
		m.mu.Unlock()
		return h(ctx, w, r)
	}
}

// commands returns the command lines received so far.
func (m *fakeModule) commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.cmds)
}

// sent reports whether the command line was received.
func (m *fakeModule) sent(line string) bool { return slices.Contains(m.commands(), line) }

func (m *fakeModule) notify(lines ...string) {
	for _, l := range lines {
		m.srv.Notify(l)
	}
}

func (m *fakeModule) mcuver(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	id, err1 := r.Str(0)
	v, err2 := r.Str(1)
	if err1 != nil || err2 != nil {
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versions == nil {
		m.versions = map[string]string{}
	}
	m.versions[id] = v
	if !m.updating || m.comps[m.cur].ID != id {
		return nil
	}
	m.updating = false
	if v != m.comps[m.cur].Target || m.failReport {
		m.notify("+QIOTEVT: 7,10706")
		return nil
	}
	m.notify("+QIOTEVT: 7,10705")
	for i := m.cur + 1; i < len(m.comps); i++ {
		if m.versions[m.comps[i].ID] != m.comps[i].Target {
			m.startComponent(i)
			break
		}
	}
	return nil
}

func (m *fakeModule) qiotstate(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.WriteLine(fmt.Sprintf("+QIOTSTATE: %d", m.state))
}

func (m *fakeModule) reg(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notify(m.regEvents...)
	if slices.Contains(m.regEvents, "+QIOTEVT: 3,10200") {
		m.state = 8
	}
	return nil
}

func (m *fakeModule) otareq(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sha = r.Kind == atcmd.Set && len(r.Args) == 1 && r.Args[0].Value == "1"
	if m.noOffer {
		return nil
	}
	// As the real module: a request during a transfer starts over from
	// the offer (an MCU that was reset), and components already at their
	// target version are not offered.
	m.started, m.updating = false, false
	first := true
	for i, c := range m.comps {
		if m.versions[c.ID] == c.Target {
			continue
		}
		if first {
			m.cur, first = i, false
		}
		space := c.Space
		if space == 0 {
			space = int64(len(c.Data))
		}
		signal := c.MinSignal
		if signal == 0 {
			signal = -113
		}
		m.notify(Offer{Component: c.ID, Source: c.Source, Target: c.Target, MinBattery: c.MinBattery, MinSignalDBm: signal, Size: space}.line())
	}
	return nil
}

func (m *fakeModule) csq(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.WriteLine(fmt.Sprintf("+CSQ: %d,99", m.rssi))
}

func (m *fakeModule) update(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	a, err := r.Int(0)
	if err != nil {
		return atcmd.ErrError
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch a {
	case 1:
		if !m.started {
			m.started = true
			m.startComponent(m.cur)
		}
	case 2:
		c := m.comps[m.cur]
		m.piece++
		m.pStart += m.pLen
		m.pLen = min(m.pieceSize, int64(len(c.Data))-m.pStart)
		evs := []string{"+QIOTEVT: 7,10702", m.pieceLine()}
		if m.pieceEvents != nil {
			evs = m.pieceEvents(m.piece, evs)
		}
		m.notify(evs...)
	case 3:
		m.updating = true
		m.notify("+QIOTEVT: 7,10704")
	}
	return nil
}

// startComponent announces component i: 10701, 10702 and its first piece.
// m.mu is held.
func (m *fakeModule) startComponent(i int) {
	m.cur, m.piece, m.pStart = i, 0, 0
	c := m.comps[i]
	m.pLen = min(m.pieceSize, int64(len(c.Data)))
	st := c.Start
	if st == nil {
		d, err := plan.Digest(bytes.NewReader(c.Data))
		if err != nil {
			panic(err)
		}
		st = &Start{Component: c.ID, Size: d.Size, MD5: d.MD5, CRC: d.CRC}
		if m.sha {
			st.SHA256 = d.SHA256
		}
	}
	m.notify(st.line(), "+QIOTEVT: 7,10702", m.pieceLine())
}

func (m *fakeModule) pieceLine() string {
	c := m.comps[m.cur]
	return Piece{Component: c.ID, Size: int64(len(c.Data)), Start: m.pStart, Len: m.pLen}.line()
}

func (m *fakeModule) read(ctx context.Context, w atcmd.ResponseWriter, r *atcmd.Request) error {
	start, err1 := r.Int(0)
	n, err2 := r.Int(1)
	if err1 != nil || err2 != nil {
		return atcmd.ErrError
	}
	m.mu.Lock()
	end := m.pStart + m.pLen
	if start < m.pStart || start >= end || n <= 0 {
		m.mu.Unlock()
		return atcmd.ErrError
	}
	n = min(n, m.maxRead, end-start)
	data := m.comps[m.cur].Data
	a := otardAnswer{Start: start, Len: n, Data: slices.Clone(data[start : start+n])}
	if m.otard != nil {
		m.otard(m.reads, &a)
	}
	m.reads++
	m.mu.Unlock()
	if a.Delay > 0 {
		time.Sleep(a.Delay)
	}
	if a.Error {
		return atcmd.ErrError
	}
	w.WriteLine(fmt.Sprintf("+QIOTOTARD: %d,%d", a.Start, a.Len))
	w.Write(a.Data)
	_, err := w.Write([]byte("\r\n"))
	if err == nil && ctx.Err() == nil {
		m.mu.Lock()
		m.bytes += int64(len(a.Data))
		m.mu.Unlock()
	}
	return err
}

// count returns how many received command lines start with prefix.
func (m *fakeModule) count(prefix string) int {
	n := 0
	for _, c := range m.commands() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// readBytes returns how many payload bytes AT+QIOTOTARD answers carried.
func (m *fakeModule) readBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes
}
