package module_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestCFUN checks that AT+CFUN=0 takes the network down: AT+CEREG? shows
// not registered, AT+CSQ no signal and AT+QIOTREG=1 fails until
// AT+CFUN=1 brings it back.
func TestCFUN(t *testing.T) {
	for _, fun := range []string{"0", "4"} {
		t.Run("AT+CFUN="+fun, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := config(nil)
				cfg.Model = mustLookup(t, "bc660k")
				h := start(t, cfg)
				h.ok("ATE0")
				h.okLine("AT+CFUN?", "+CFUN: 1")
				h.ok("AT+CFUN=" + fun)
				h.okLine("AT+CFUN?", "+CFUN: "+fun)
				h.okLine("AT+CEREG?", "+CEREG: 0,0")
				h.okLine("AT+CGATT?", "+CGATT: 0")
				h.okLine("AT+COPS?", "+COPS: 0")
				h.okLine("AT+CSQ", "+CSQ: 99,99")
				h.fail("AT+QIOTREG=1")
				h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
				h.ok("AT+CFUN=1")
				h.okLine("AT+CEREG?", "+CEREG: 0,1")
				h.okLine("AT+CSQ", "+CSQ: 25,99")
				h.register()
			})
		})
	}
}

// TestNetworkLoss takes the network away from a registered module: the
// platform connection goes with it and comes back with the network.
func TestNetworkLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, config(nil))
		h.ok("ATE0")
		h.ok("AT+CEREG=1")
		h.register()
		evs := h.c.Subscribe("+CEREG:")
		h.ok("AT+CFUN=0")
		if l, _ := evs.Next(t.Context()); l != "+CEREG: 0" {
			t.Errorf("URC after AT+CFUN=0: %q, want +CEREG: 0", l)
		}
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
		h.fail("AT+QIOTOTAREQ")
		h.ok("AT+CFUN=1")
		if l, _ := evs.Next(t.Context()); l != "+CEREG: 1" {
			t.Errorf("URC after AT+CFUN=1: %q, want +CEREG: 1", l)
		}
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")

		h.ok("AT+QIOTREG=0") // deregistered on purpose: no coming back
		h.expect("+QIOTEVT: 6,10200")
		h.ok("AT+CFUN=0")
		h.ok("AT+CFUN=1")
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 11")
	})
}

// TestAttachDelay uses a model that takes 3 s to attach: a registration
// asked for meanwhile waits for the network.
func TestAttachDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.Model = testModel(t, "bc660k", func(doc map[string]any) { doc["attach_delay"] = "3s" })
		cfg.RegDelay = 200 * time.Millisecond
		h := start(t, cfg)
		h.ok("ATE0")
		h.ok("AT+CEREG=2")
		urcs := h.c.Subscribe("+CEREG:")
		h.ok("AT+CFUN=0")
		if l, _ := urcs.Next(t.Context()); l != "+CEREG: 0" {
			t.Errorf("URC after AT+CFUN=0: %q, want +CEREG: 0", l)
		}
		h.ok("AT+CFUN=1")
		if l, _ := urcs.Next(t.Context()); l != "+CEREG: 2" {
			t.Errorf("URC after AT+CFUN=1: %q, want +CEREG: 2 (searching)", l)
		}
		h.okLine("AT+CEREG?", "+CEREG: 2,2")
		h.okLine("AT+CGATT?", "+CGATT: 0")
		t0 := time.Now()
		h.ok("AT+QIOTREG=1")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 5")
		h.expect("+QIOTEVT: 2,10200")
		at(t, "2,10200", t0, 3*time.Second+cfg.RegDelay)
		if l, _ := urcs.Next(t.Context()); l != `+CEREG: 1,"5A3C","8C2E01",9` {
			t.Errorf("URC when attached: %q", l)
		}
		h.okLine("AT+CEREG?", `+CEREG: 2,1,"5A3C","8C2E01",9`)
		h.okLine("AT+CGATT?", "+CGATT: 1")
	})
}

// TestNetworkCommands checks AT+CGATT, AT+COPS, AT+CGDCONT, AT+CCLK, the
// registration URC settings and AT+CFUN=1,1.
func TestNetworkCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.RebootDelay, cfg.Now = time.Second, clock()
		h := start(t, cfg)
		h.ok("ATE0")
		for _, c := range []struct{ cmd, want string }{
			{"AT+CREG?", "+CREG: 0,1"},
			{"AT+CGREG?", "+CGREG: 0,1"},
			{"AT+CEREG=?", "+CEREG: (0-2)"},
			{"AT+CFUN=?", "+CFUN: (0,1,4),(0,1)"},
			{"AT+CGATT?", "+CGATT: 1"},
			{"AT+CGDCONT?", `+CGDCONT: 1,"IP","cmnet","10.28.115.77",0,0,0,0`},
		} {
			h.okLine(c.cmd, c.want)
		}
		h.c.Subscribe("+CREG:") // the URCs AT+CREG=2 asks for
		h.ok("AT+CREG=2")
		h.okLine("AT+CREG?", `+CREG: 2,1,"2F1B","1A2B3C4",7`)
		h.ok(`AT+CGDCONT=2,"IPV6","ims"`)
		h.ok(`AT+CGDCONT=1,"IP","iot.example"`)
		if got := h.ok("AT+CGDCONT?"); !slices.Equal(got, []string{`+CGDCONT: 1,"IP","iot.example","10.28.115.77",0,0,0,0`, `+CGDCONT: 2,"IPV6","ims","0.0.0.0",0,0,0,0`}) {
			t.Errorf("AT+CGDCONT? %q", got)
		}
		h.ok("AT+CGDCONT=2")
		h.ok("AT+CGATT=0")
		h.okLine("AT+CGATT?", "+CGATT: 0")
		h.fail("AT+QIOTREG=1")
		h.ok("AT+CGATT=1")
		h.okLine("AT+CGATT?", "+CGATT: 1")
		h.ok("AT+COPS=2")
		h.okLine("AT+COPS?", "+COPS: 0")
		h.ok("AT+COPS=0")
		h.okLine("AT+COPS?", `+COPS: 0,0,"CHINA MOBILE",7`)
		h.ok(`AT+CCLK="24/02/29,23:59:50+32"`)
		time.Sleep(15 * time.Second)
		h.okLine("AT+CCLK?", `+CCLK: "24/03/01,00:00:05+32"`)
		for _, bad := range []string{"AT+CFUN=2", "AT+CFUN=0,1", "AT+CEREG=3", "AT+CGATT=2", `AT+CGDCONT=16,"IP"`, `AT+CGDCONT=1,"X25"`, `AT+CCLK="yesterday"`, "AT+COPS=9", "AT+CPIN=1234"} {
			h.fail(bad)
		}

		h.ok("AT+CFUN=1,1") // reboots, after the OK
		time.Sleep(time.Millisecond)
		h.fail("AT")
		time.Sleep(2 * time.Second)
		h.ok("ATE0")
		h.okLine("AT+CREG?", "+CREG: 0,1") // settings back to their power-up values
		h.okLine("AT+CGDCONT?", `+CGDCONT: 1,"IP","cmnet","10.28.115.77",0,0,0,0`)
	})
}

// TestSettings checks a model's settings: stored by a set, shown by a
// read, keyed for AT+QCFG, their range by the test form, gone after a
// reboot.
func TestSettings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.Model = mustLookup(t, "bc660k")
		cfg.RebootDelay = time.Second
		h := start(t, cfg)
		h.ok("ATE0")
		h.okLine("AT+QSCLK?", "+QSCLK: 1")
		h.okLine("AT+QSCLK=?", "+QSCLK: (0-2)")
		h.ok("AT+QSCLK=0")
		h.okLine("AT+QSCLK?", "+QSCLK: 0")
		h.okLine("AT+QPSMS?", "+QPSMS: 0")
		h.ok("AT+QPSMS=10,36000")
		h.okLine("AT+QPSMS?", "+QPSMS: 10,36000")
		h.okLine(`AT+QCFG="MacRAI"`, `+QCFG: "MacRAI",0`)
		h.okLine(`AT+QCFG="macrai"`, `+QCFG: "MacRAI",0`)
		h.ok(`AT+QCFG="MacRAI",1`)
		h.okLine(`AT+QCFG="MacRAI"`, `+QCFG: "MacRAI",1`)
		h.fail(`AT+QCFG="nosuchkey"`)
		h.fail(`AT+QCFG=`)
		h.ok("AT+QR14FEATURE")
		h.ok("AT+CNMPSD")
		h.okLine("AT+QCGDEFCONT?", `+QCGDEFCONT: "IP","cmnbiot"`)
		h.m.Reboot()
		time.Sleep(2 * time.Second)
		h.ok("ATE0")
		h.okLine("AT+QSCLK?", "+QSCLK: 1")
		h.okLine(`AT+QCFG="MacRAI"`, `+QCFG: "MacRAI",0`)
	})
}

// TestUnsupported checks a model's unsupported commands.
func TestUnsupported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.Model = testModel(t, "bc660k", func(doc map[string]any) { doc["unsupported"] = []string{"+CREG"} })
		h := start(t, cfg)
		h.ok("ATE0")
		h.fail("AT+CREG?")
		h.okLine("AT+CEREG?", "+CEREG: 0,1")
	})
}
