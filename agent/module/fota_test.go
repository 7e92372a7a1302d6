package module_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// served is a Module run by Serve on a fakeListener: each dial hands it a
// new in-memory link, as an MCU reconnecting does.
type served struct {
	t *testing.T
	m *module.Module
	l *fakeListener
}

// serve starts Serve on m until the test ends.
func serve(t *testing.T, m *module.Module) *served {
	t.Helper()
	l := &fakeListener{conns: make(chan io.ReadWriteCloser)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &served{t: t, m: m, l: l}
}

// dial hands the module a new link once it accepts one, and returns a
// harness on the MCU's end.
func (s *served) dial() *harness {
	s.t.Helper()
	a, b := transport.Pipe()
	c := atcmd.NewClient(b)
	h := &harness{t: s.t, m: s.m, c: c, evs: c.Subscribe("+QIOTEVT:", "RDY")}
	s.l.conns <- a // after subscribing: RDY may come at once
	var once sync.Once
	h.stop = func() { once.Do(func() { c.Close() }) }
	s.t.Cleanup(h.stop)
	return h
}

// fotaPlan writes a plan with the module firmware component "module" (to
// version NEW) and, unless onlyModule, the MCU component STM32 after it.
func fotaPlan(t *testing.T, onlyModule bool) *plans {
	t.Helper()
	p := newPlans(t)
	comps := []comp{{id: "module", target: "EC800MCNLAR06A03M04", file: p.pkg("fota.bin", firmware(7000, 'f')), module: true}}
	if !onlyModule {
		comps = append(comps, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
	}
	p.plan("fota", 0, comps...)
	return p
}

// TestFOTA updates the module's own firmware: a 7,10700 with the module
// versions, bare 7,10701 to 7,10705 with no reads, a reboot that drops the
// link, RDY on the next one, the new version in ATI and AT+QIOTINFO?, a
// registration only with AT+QIOTREG=2; the MCU component of the plan
// comes with the next request.
func TestFOTA(t *testing.T) {
	for _, regMode := range []string{"1", "2"} {
		t.Run("AT+QIOTREG="+regMode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := fotaPlan(t, false)
				cfg := config(p.dir())
				cfg.EventDelay, cfg.RebootDelay = 10*time.Millisecond, 3*time.Second
				cfg.StatePath = t.TempDir() + "/module.json"
				m, err := module.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				s := serve(t, m)
				h := s.dial()
				h.ok("ATE0")
				h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
				h.ok("AT+QIOTREG=" + regMode)
				h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
				h.ok("AT+QIOTOTAREQ")
				h.expect(`+QIOTEVT: 7,10700,"module","EC800MCNLAR06A01M04","EC800MCNLAR06A03M04",30,-113,7000`)
				h.quiet() // one component at a time when the module reboots in between
				h.ok("AT+QIOTUPDATE=1")
				h.expect("+QIOTEVT: 7,10701", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703")
				if _, err := h.read(0, 10); err == nil {
					t.Error("AT+QIOTOTARD during a FOTA: got OK, want ERROR")
				}
				h.fail("AT+QIOTUPDATE=2")
				h.fail("AT+QIOTUPDATE=3")
				h.expect("+QIOTEVT: 7,10704", "+QIOTEVT: 7,10705")
				<-h.c.Done() // the reboot drops the link
				t0 := time.Now()

				h = s.dial()
				if l := h.event(); l != "RDY" {
					t.Errorf("first line after the reboot %q, want RDY", l)
				}
				at(t, "RDY", t0, cfg.RebootDelay+cfg.EventDelay)
				h.okLine("AT+QIOTREG?", "+QIOTREG: "+regMode)
				if regMode == "2" {
					h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
				} else {
					h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
					h.register()
				}
				if got := h.ok("ATI"); !slices.Equal(got, []string{"Quectel", "EC800M", "Revision: EC800MCNLAR06A03M04"}) {
					t.Errorf("ATI after the update: %q", got)
				}
				if got := h.ok("AT+QIOTINFO?"); !slices.Contains(got, `+QIOTINFO: "version","EC800MCNLAR06A03M04"`) {
					t.Errorf("AT+QIOTINFO? after the update: %q, want the new version", got)
				}
				h.ok("AT+QIOTOTAREQ")
				h.expect(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,100`)
				if got := m.Status().ModuleVersion; got != "EC800MCNLAR06A03M04" {
					t.Errorf("Status().ModuleVersion %q", got)
				}
			})
		})
	}
}

// TestFOTARestart checks that a module killed while installing its own
// firmware comes back with the old version and tells the MCU 7,10706.
func TestFOTARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := fotaPlan(t, true)
		cfg := config(p.dir())
		cfg.EventDelay = time.Second
		cfg.StatePath = t.TempDir() + "/module.json"
		h := otaModule(t, p, func(c *module.Config) { *c = cfg })
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703")
		h = h.restart(cfg)
		h.ok("AT")
		h.expect("+QIOTEVT: 7,10706")
		if got := h.ok("ATI"); got[2] != "Revision: EC800MCNLAR06A01M04" {
			t.Errorf("ATI after the interrupted update: %q", got)
		}
	})
}

// TestReboot reboots the module through Reboot (the control endpoint):
// the link drops, echo and AT+CMEE are back to their defaults, the
// registration is gone, and a transfer in progress goes on.
func TestReboot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, data := onePlan(t, 3000, 0)
		cfg := config(p.dir())
		cfg.PieceSize, cfg.RebootDelay = 1000, 2*time.Second
		m, err := module.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		s := serve(t, m)
		h := s.dial()
		h.ok("ATE0")
		h.ok("AT+CMEE=2")
		h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
		h.register()
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.readOK(0, 500)

		m.Reboot()
		<-h.c.Done()
		if st := m.Status(); !st.Booting || st.Registered {
			t.Errorf("status while rebooting: booting %v, registered %v; want true, false", st.Booting, st.Registered)
		}
		h = s.dial()
		if l := h.event(); l != "RDY" {
			t.Errorf("first line after the reboot %q, want RDY", l)
		}
		if !m.Server().Echo() {
			t.Error("echo off after the reboot, want on (ATE1 is the default)")
		}
		h.ok("ATE0")
		h.okLine("AT+CMEE?", "+CMEE: 0")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
		if got := h.readOK(500, 500); string(got) != string(data[500:1000]) {
			t.Error("the piece after the reboot differs from the package")
		}
	})
}

// TestRebootDirect reboots a module whose Server is served directly: the
// link stays, commands get ERROR until the module is up, then RDY.
func TestRebootDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.RebootDelay = time.Second
		h := start(t, cfg)
		h.ok("ATE0")
		h.m.Reboot()
		h.fail("AT")
		time.Sleep(2 * time.Second)
		h.ok("ATE0")
		h.ok("AT")
	})
}
