package module_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestRegister follows AT+QIOTREG=1 to state 8, with the registration and
// event delays exact on synctest's clock.
func TestRegister(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.RegDelay, cfg.EventDelay = 300*time.Millisecond, 20*time.Millisecond
		h := start(t, cfg)
		h.okLine("AT+QIOTREG=?", "+QIOTREG: (0-2)")
		h.okLine("AT+QIOTREG?", "+QIOTREG: 0")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")

		t0 := time.Now()
		h.ok("AT+QIOTREG=1")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 5")
		h.expect("+QIOTEVT: 2,10200")
		if got, want := time.Since(t0), cfg.RegDelay; got != want {
			t.Errorf("2,10200 came %v after the OK, want %v", got, want)
		}
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 6")
		h.expect("+QIOTEVT: 3,10200")
		if got, want := time.Since(t0), cfg.RegDelay+cfg.EventDelay; got != want {
			t.Errorf("3,10200 came %v after the OK, want %v", got, want)
		}
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")
		h.okLine("AT+QIOTREG?", "+QIOTREG: 1")

		h.ok("AT+QIOTREG=1") // already online: nothing more
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")

		t0 = time.Now()
		h.ok("AT+QIOTREG=0")
		h.expect("+QIOTEVT: 6,10200")
		if got, want := time.Since(t0), cfg.EventDelay; got != want {
			t.Errorf("6,10200 came %v after the OK, want %v", got, want)
		}
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 11")
		h.okLine("AT+QIOTREG?", "+QIOTREG: 0")
		h.ok("AT+QIOTREG=0") // offline already: no event
		h.quiet()
	})
}

func TestRegisterRefused(t *testing.T) {
	tests := []struct {
		name     string
		pk, ps   string
		setup    string
		line     string
		wantMode string
	}{
		{name: "no product key", ps: secret, line: "AT+QIOTREG=1"},
		{name: "no product secret", pk: product, line: "AT+QIOTREG=1"},
		{name: "no server", pk: product, ps: secret, setup: `AT+QIOTCFG="server",1,""`, line: "AT+QIOTREG=2"},
		{name: "mode 3", pk: product, ps: secret, line: "AT+QIOTREG=3"},
		{name: "mode quoted", pk: product, ps: secret, line: `AT+QIOTREG="1"`},
		{name: "exec form", pk: product, ps: secret, line: "AT+QIOTREG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := config(nil)
				cfg.ProductKey, cfg.ProductSecret = tt.pk, tt.ps
				h := start(t, cfg)
				if tt.setup != "" {
					h.ok(tt.setup)
				}
				h.fail(tt.line)
				h.quiet()
				h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
				h.okLine("AT+QIOTREG?", "+QIOTREG: 0")
			})
		})
	}
}

// TestRegisterWithConfiguredProduct registers after AT+QIOTCFG set the
// product, as an MCU does with a module that came without one.
func TestRegisterWithConfiguredProduct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.ProductKey, cfg.ProductSecret = "", ""
		h := start(t, cfg)
		h.fail("AT+QIOTREG=1")
		h.ok(`AT+QIOTCFG="productinfo","pk","ps"`)
		h.register()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")
	})
}

// TestDeregisterWhileRegistering checks that AT+QIOTREG=0 before the
// registration events drops them.
func TestDeregisterWhileRegistering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.RegDelay, cfg.EventDelay = 500*time.Millisecond, 10*time.Millisecond
		h := start(t, cfg)
		h.ok("AT+QIOTREG=1")
		h.ok("AT+QIOTREG=1") // registering already: no second pair of events
		time.Sleep(cfg.RegDelay)
		h.expect("+QIOTEVT: 2,10200") // came, 3,10200 not yet
		h.ok("AT+QIOTREG=0")
		h.expect("+QIOTEVT: 6,10200")
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 11")

		h.ok("AT+QIOTREG=1")
		h.ok("AT+QIOTREG=0")
		h.expect("+QIOTEVT: 6,10200")
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 11")

		h.register() // and again
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")

		h.ok("AT+QIOTREG=0")
		h.ok("AT+QIOTREG=1") // before 6,10200
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 5")
		h.expect("+QIOTEVT: 6,10200")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 5")
		h.ok("AT+QIOTREG=1") // still registering: no second pair
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")
	})
}

// TestAutoRegister checks AT+QIOTREG=2: saved, and the module registers by
// itself when it starts again.
func TestAutoRegister(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.StatePath = filepath.Join(t.TempDir(), "state.json")
		cfg.RegDelay = time.Second
		h := start(t, cfg)
		h.ok("AT+QIOTREG=2")
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")

		h = h.restart(cfg)
		h.okLine("AT+QIOTREG?", "+QIOTREG: 2")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 5")
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 8")
	})
}

// TestAutoRegisterWithoutProduct checks that a saved AT+QIOTREG=2 without
// a product key does not register.
func TestAutoRegisterWithoutProduct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.StatePath = filepath.Join(t.TempDir(), "state.json")
		h := start(t, cfg)
		h.ok("AT+QIOTREG=2")
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
		h.stop()
		h.m.Close()

		editState(t, cfg.StatePath, func(st map[string]any) { delete(st, "product_key") })
		cfg.ProductKey = ""
		h = start(t, cfg)
		h.quiet()
		h.okLine("AT+QIOTSTATE?", "+QIOTSTATE: 1")
		h.okLine("AT+QIOTREG?", "+QIOTREG: 2")
	})
}

// editState changes the state file at path as JSON.
func editState(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	edit(st)
	if data, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEventAfterOK checks that an event never goes out in the same write
// as the OK of the command that caused it: with an event delay it comes
// that delay later, and with none it still comes after the OK.
func TestEventAfterOK(t *testing.T) {
	for _, delay := range []time.Duration{0, 15 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := config(nil)
				cfg.EventDelay, cfg.RegDelay = delay, delay
				h := start(t, cfg)
				h.ok("ATE0")
				for _, c := range []struct{ cmd, event string }{
					{"AT+QIOTREG=1", "+QIOTEVT: 2,10200"},
					{"", "+QIOTEVT: 3,10200"},
					{"AT+QIOTREG=0", "+QIOTEVT: 6,10200"},
				} {
					if c.cmd == "" {
						h.expect(c.event)
						continue
					}
					mark := h.link.mark()
					t0 := time.Now()
					h.ok(c.cmd)
					h.expect(c.event)
					if got := time.Since(t0); got < delay {
						t.Errorf("%s: %s came %v after the OK, want at least %v", c.cmd, c.event, got, delay)
					}
					checkWrites(t, c.cmd, h.link.since(mark), c.event)
				}
			})
		})
	}
}

// checkWrites checks that the OK and the event are in different writes,
// the OK first.
func checkWrites(t *testing.T, cmd string, writes [][]byte, event string) {
	t.Helper()
	ok, ev := -1, -1
	for i, w := range writes {
		if ok < 0 && bytes.Contains(w, []byte("\r\nOK\r\n")) {
			ok = i
		}
		if ev < 0 && bytes.Contains(w, []byte(event)) {
			ev = i
		}
	}
	switch {
	case ok < 0 || ev < 0:
		t.Errorf("%s: writes %q: want an OK and %s", cmd, writes, event)
	case ok == ev:
		t.Errorf("%s: OK and %s in the same write %q", cmd, event, writes[ok])
	case ev < ok:
		t.Errorf("%s: %s written before the OK: %q", cmd, event, writes)
	}
}

// TestClose checks that Close drops the events not sent yet, may be
// called twice, and leaves the link to its owner.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.RegDelay = time.Second
		h := start(t, cfg)
		h.ok("AT+QIOTREG=1")
		if err := h.m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := h.m.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		h.quiet()
		h.ok("AT")
	})
}
