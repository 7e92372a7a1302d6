package module_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

const (
	product = "p1demo"
	secret  = "s3cret"
)

// now is inside the window of every plan the tests write.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// comp is a component of a test plan.
type comp struct {
	id, target, file string
	source           string // a delta from this version; "" for a full package
	module           bool   // the module's own firmware (FOTA)
}

// plans is a plans directory in a temporary directory.
type plans struct {
	t    testing.TB
	path string
}

func newPlans(t testing.TB) *plans {
	t.Helper()
	p := &plans{t: t, path: filepath.Join(t.TempDir(), "plans")}
	if err := os.MkdirAll(filepath.Join(p.path, "firmware"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// pkg writes a package file under firmware/ and returns its path relative
// to the plans directory.
func (p *plans) pkg(name string, data []byte) string {
	p.t.Helper()
	rel := "firmware/" + name
	if err := os.WriteFile(filepath.Join(p.path, filepath.FromSlash(rel)), data, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return rel
}

// plan writes a silent plan with min_battery 30 and the given retries;
// it is not pushed (push_actively false), so the tests decide when the
// MCU asks for it.
func (p *plans) plan(name string, retries int, comps ...comp) {
	p.t.Helper()
	p.planWith(name, func(doc map[string]any) {
		doc["strategy"] = map[string]int{"retries": retries, "min_battery": 30}
	}, comps...)
}

// planWith writes a plan as plan does, with edit applied to its document
// (a field set to nil is removed).
func (p *plans) planWith(name string, edit func(doc map[string]any), comps ...comp) {
	p.t.Helper()
	var cs []map[string]string
	for _, c := range comps {
		m := map[string]string{"type": "mcu", "id": c.id, "package": "full", "target_version": c.target, "file": c.file}
		if c.source != "" {
			m["package"], m["source_version"] = "delta", c.source
		}
		if c.module {
			m["type"] = "module"
		}
		cs = append(cs, m)
	}
	doc := map[string]any{
		"name":          name,
		"product":       product,
		"timezone":      "+00:00",
		"window":        map[string]string{"start": "2026-01-01 00:00", "end": "2027-01-01 00:00"},
		"mode":          "silent",
		"push_actively": false,
		"strategy":      map[string]int{"min_battery": 30},
		"components":    cs,
	}
	if edit != nil {
		edit(doc)
	}
	for k, v := range doc {
		if v == nil {
			delete(doc, k)
		}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		p.t.Fatal(err)
	}
	p.write(name+".json", data)
}

// write writes a file into the plans directory.
func (p *plans) write(name string, data []byte) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.path, name), data, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// dir opens the plans directory.
func (p *plans) dir() *plan.Dir {
	p.t.Helper()
	d, err := plan.OpenDir(p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	return d
}

// clock returns a plan clock that starts at now and advances with the
// time package's clock: synctest's, inside a bubble.
func clock() func() time.Time {
	t0 := time.Now()
	return func() time.Time { return now.Add(time.Since(t0)) }
}

// firmware returns size bytes of deterministic test data.
func firmware(size int, seed byte) []byte {
	b := make([]byte, size)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// config returns a module configuration for tests: the test product,
// fixed plan time, no delays unless the test sets them, and a plan poll
// of a minute, to load the plans less often in the tests' long sleeps.
func config(src module.PlanSource) module.Config {
	cfg := module.DefaultConfig()
	cfg.Plans = src
	cfg.ProductKey, cfg.ProductSecret = product, secret
	cfg.Now = func() time.Time { return now }
	cfg.EventDelay, cfg.RegDelay = 0, 0
	cfg.PlanPoll = time.Minute
	return cfg
}

// harness is a Module with a client on an in-memory link.
type harness struct {
	t    testing.TB
	m    *module.Module
	c    *atcmd.Client
	evs  *atcmd.Subscription
	link *recorder // the module's end of the link
	stop func()
}

// start creates a Module for cfg and connects a client to it.
func start(t testing.TB, cfg module.Config) *harness {
	t.Helper()
	m, err := module.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return attach(t, m)
}

// attach connects a new client to m's server.
func attach(t testing.TB, m *module.Module) *harness {
	t.Helper()
	a, b := transport.Pipe()
	rec := &recorder{ReadWriteCloser: a}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Server().Serve(ctx, rec) }()
	c := atcmd.NewClient(b)
	h := &harness{t: t, m: m, c: c, evs: c.Subscribe("+QIOTEVT:"), link: rec}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			c.Close()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			cancel()
		})
	}
	t.Cleanup(h.stop)
	return h
}

// restart closes the link and the module, and starts a new Module for cfg.
func (h *harness) restart(cfg module.Config) *harness {
	h.t.Helper()
	h.stop()
	h.m.Close()
	return start(h.t, cfg)
}

// do sends one command line.
func (h *harness) do(line string) (*atcmd.Response, error) {
	h.t.Helper()
	cmd, err := atcmd.ParseCommand(line)
	if err != nil {
		h.t.Fatalf("bad test command %q: %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.c.Do(ctx, cmd)
}

// ok sends a command that must answer OK and returns its lines.
func (h *harness) ok(line string) []string {
	h.t.Helper()
	resp, err := h.do(line)
	if err != nil {
		h.t.Fatalf("%s: %v, want OK", line, err)
	}
	return resp.Lines
}

// okLine sends a command that must answer one line and OK.
func (h *harness) okLine(line, want string) {
	h.t.Helper()
	got := h.ok(line)
	if len(got) != 1 || got[0] != want {
		h.t.Errorf("%s: got %q, want [%q]", line, got, want)
	}
}

// fail sends a command that must answer ERROR.
func (h *harness) fail(line string) {
	h.t.Helper()
	resp, err := h.do(line)
	if !errors.Is(err, atcmd.ErrError) {
		var lines []string
		if resp != nil {
			lines = resp.Lines
		}
		h.t.Fatalf("%s: got %v %q, want ERROR", line, err, lines)
	}
}

// read sends AT+QIOTOTARD=start,n and returns the response.
func (h *harness) read(start, n int64) (*atcmd.Response, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := atcmd.Command{Name: "+QIOTOTARD", Kind: atcmd.Set, Args: []atcmd.Arg{atcmd.Int(start), atcmd.Int(n)}}
	return h.c.DoPayload(ctx, cmd, otardLen)
}

// readOK reads and checks the header echoes start and the data length.
func (h *harness) readOK(start, n int64) []byte {
	h.t.Helper()
	resp, err := h.read(start, n)
	if err != nil {
		h.t.Fatalf("AT+QIOTOTARD=%d,%d: %v", start, n, err)
	}
	want := "+QIOTOTARD: " + strconv.FormatInt(start, 10) + "," + strconv.Itoa(len(resp.Payload))
	if len(resp.Lines) != 1 || resp.Lines[0] != want {
		h.t.Fatalf("AT+QIOTOTARD=%d,%d: lines %q, want [%q]", start, n, resp.Lines, want)
	}
	return resp.Payload
}

// otardLen recognises the +QIOTOTARD header and returns the payload length.
func otardLen(line string) (int, bool) {
	v, ok := strings.CutPrefix(line, "+QIOTOTARD: ")
	if !ok {
		return 0, false
	}
	_, n, ok := strings.Cut(v, ",")
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(n)
	return k, err == nil && k >= 0
}

// event waits for the next +QIOTEVT line, for up to a day: inside a
// synctest bubble that passes at once when nothing else can happen.
func (h *harness) event() string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Hour)
	defer cancel()
	l, err := h.evs.Next(ctx)
	if err != nil {
		h.t.Fatalf("waiting for +QIOTEVT: %v", err)
	}
	return l
}

// expect waits for events and checks them, each against a want line, or
// a want prefix when it ends in "…".
func (h *harness) expect(want ...string) []string {
	h.t.Helper()
	var got []string
	for _, w := range want {
		l := h.event()
		got = append(got, l)
		if p, ok := strings.CutSuffix(w, "…"); ok {
			if !strings.HasPrefix(l, p) {
				h.t.Fatalf("event %q, want %q…", l, p)
			}
		} else if l != w {
			h.t.Fatalf("event %q, want %q", l, w)
		}
	}
	return got
}

// quiet checks that no event comes within an hour. Inside a synctest
// bubble the hour passes at once.
func (h *harness) quiet() {
	h.t.Helper()
	time.Sleep(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l, err := h.evs.Next(ctx); err == nil {
		h.t.Fatalf("unexpected event %q", l)
	}
}

// register registers the module and waits for the registration events.
func (h *harness) register() {
	h.t.Helper()
	h.ok("AT+QIOTREG=1")
	h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
}

// recorder records the writes of the module's end of a link.
type recorder struct {
	io.ReadWriteCloser
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.mu.Unlock()
	return r.ReadWriteCloser.Write(p)
}

// mark returns the number of writes so far.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

// since returns the writes after mark.
func (r *recorder) since(mark int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.writes[mark:]...)
}
