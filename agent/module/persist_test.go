package module_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
)

// midTransfer starts a module with a state file on a 3000-byte package in
// 1000-byte pieces, and takes it to the middle of piece 1.
func midTransfer(t *testing.T) (h *harness, cfg module.Config, p *plans, data []byte) {
	t.Helper()
	p, data = onePlan(t, 3000, 0)
	cfg = config(p.dir())
	cfg.PieceSize = 1000
	cfg.StatePath = filepath.Join(t.TempDir(), "state", "module.json")
	h = start(t, cfg)
	h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
	h.ok(`AT+QIOTMCUVER="AUX","7"`)
	h.register()
	h.ok("AT+QIOTOTAREQ=1")
	h.expect("+QIOTEVT: 7,10700,…")
	h.ok("AT+QIOTUPDATE=1")
	h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
	h.readOK(0, 1000)
	h.ok("AT+QIOTUPDATE=2")
	h.expect("+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",3000,1000,1000`)
	if got := h.readOK(1000, 500); !bytes.Equal(got, data[1000:1500]) {
		t.Fatal("piece 1 differs from the package")
	}
	return h, cfg, p, data
}

// TestRestartMidTransfer restarts the module in the middle of a piece:
// configuration, registration mode, component versions, the task and its
// piece survive, and the transfer goes on.
func TestRestartMidTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, cfg, p, data := midTransfer(t)
		h.ok(`AT+QIOTREG=0`)
		h.expect("+QIOTEVT: 6,10200")
		h.ok(`AT+QIOTCFG="dk_ds","dev1","sec1"`)
		h.ok(`AT+QIOTCFG="lifetime",300`)
		h.ok(`AT+QIOTREG=1`)
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")

		cfg.ProductKey, cfg.ProductSecret = "", "" // from the state file now
		cfg.Plans = p.dir()                        // as in a new process
		h = h.restart(cfg)
		h.okLine("AT+QIOTREG?", "+QIOTREG: 1")
		h.okLine(`AT+QIOTCFG="productinfo"`, `+QIOTCFG: "productinfo","p1demo","s3cret","1"`)
		h.okLine(`AT+QIOTCFG="dk_ds"`, `+QIOTCFG: "dk_ds","dev1","sec1"`)
		h.okLine(`AT+QIOTCFG="lifetime"`, `+QIOTCFG: "lifetime",300`)
		want := []string{`+QIOTMCUVER: "STM32","1_0_0"`, `+QIOTMCUVER: "AUX","7"`}
		if got := h.ok("AT+QIOTMCUVER?"); !slices.Equal(got, want) {
			t.Errorf("AT+QIOTMCUVER? after the restart: got %q, want %q", got, want)
		}
		if got := h.readOK(1500, 500); !bytes.Equal(got, data[1500:2000]) {
			t.Error("piece 1 after the restart differs from the package")
		}
		if _, err := h.read(0, 10); err == nil {
			t.Error("AT+QIOTOTARD=0,10 (piece 0) after the restart: got OK, want ERROR")
		}
		h.quiet() // no 7,10706: the task goes on
		h.ok("AT+QIOTUPDATE=2")
		h.expect("+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",3000,2000,1000`)
		if got := h.readOK(2000, 1000); !bytes.Equal(got, data[2000:]) {
			t.Error("piece 2 differs from the package")
		}
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")

		h = h.restart(cfg) // while the MCU is updating
		h.ok(`AT+QIOTMCUVER="STM32","2_0_0"`)
		h.expect("+QIOTEVT: 7,10705")
	})
}

// TestRestartCache restarts the module mid-transfer after its package
// files changed: the plan's file does not matter any more (the module
// serves its own copy, taken when the task started); a copy that went
// away or was damaged is taken again from the plan's file if that still
// matches the offer, and otherwise the transfer fails with 7,10706 at
// the MCU's first command and the failure counts.
func TestRestartCache(t *testing.T) {
	tests := []struct {
		name        string
		plan, cache func(path string) error // change the plan's file, the cached copy
		fail        bool
	}{
		{name: "plan file changed", plan: rewrite(firmware(3000, 9))},
		{name: "plan file grown", plan: rewrite(append(firmware(3000, 1), 0))},
		{name: "plan file removed", plan: os.Remove},
		{name: "copy removed", cache: os.Remove},
		{name: "copy damaged", cache: rewrite(firmware(3000, 7))},
		{name: "copy truncated", cache: rewrite(firmware(2000, 1))},
		{name: "copy and plan file removed", plan: os.Remove, cache: os.Remove, fail: true},
		{name: "copy removed, plan file changed", plan: rewrite(firmware(3000, 9)), cache: os.Remove, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, cfg, p, data := midTransfer(t)
				h.stop()
				h.m.Close()
				copies, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg.StatePath), "module.cache", "*.pkg"))
				if len(copies) != 1 {
					t.Fatalf("cached copies %q, want one", copies)
				}
				for _, c := range []struct {
					change func(string) error
					path   string
				}{{tt.plan, filepath.Join(p.path, "firmware", "stm32.bin")}, {tt.cache, copies[0]}} {
					if c.change != nil {
						if err := c.change(c.path); err != nil {
							t.Fatal(err)
						}
					}
				}
				h = start(t, cfg)
				h.quiet() // nothing before the MCU speaks
				if !tt.fail {
					if got := h.readOK(1500, 500); !bytes.Equal(got, data[1500:2000]) {
						t.Error("after the restart, piece 1 differs from the package offered")
					}
					h.quiet()
					return
				}
				h.ok("AT")
				h.expect("+QIOTEVT: 7,10706")
				if _, err := h.read(1500, 10); err == nil {
					t.Error("AT+QIOTOTARD after 7,10706: got OK, want ERROR")
				}
				h.ok("AT")
				h.quiet() // told once
				h.register()
				h.ok("AT+QIOTOTAREQ")
				h.quiet() // retries 0: the plan is over for this device

				h = h.restart(cfg) // and the failure was saved
				h.register()
				h.ok("AT+QIOTOTAREQ")
				h.quiet()
			})
		})
	}
}

// rewrite returns a change that replaces a file's content with data.
func rewrite(data []byte) func(string) error {
	return func(path string) error { return os.WriteFile(path, data, 0o644) }
}

// TestNoSaveOnRead checks that reads do not write the state file, nor does
// a command that changes nothing, while a new piece does.
func TestNoSaveOnRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, cfg, _, _ := midTransfer(t)
		if err := os.Remove(cfg.StatePath); err != nil {
			t.Fatal(err)
		}
		for off := int64(1500); off < 2000; off += 100 {
			h.readOK(off, 100)
		}
		h.ok(`AT+QIOTMCUVER="AUX","7"`) // the same version again
		h.ok("AT+QIOTREG=1")            // registered already
		if _, err := os.Stat(cfg.StatePath); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("state file after reads: %v, want it not written", err)
		}
		h.ok("AT+QIOTUPDATE=2")
		h.expect("+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		if _, err := os.Stat(cfg.StatePath); err != nil {
			t.Fatalf("state file after AT+QIOTUPDATE=2: %v, want it written", err)
		}
	})
}

func TestDamagedState(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{name: "not JSON", data: "{not json", want: "is damaged"},
		{name: "truncated", data: `{"version": 1, "imei": "86`, want: "is damaged"},
		{name: "format version", data: `{"version": 99}`, want: "format version 99"},
		{name: "reg mode", data: `{"version": 1, "reg_mode": 5}`, want: "reg_mode 5"},
		{name: "component", data: `{"version": 1, "mcu": [{"id": "A", "version": "1 0"}]}`, want: "mcu[0]"},
		{name: "setting", data: `{"version": 1, "settings": {"lifetime": 0}}`, want: "settings"},
		{name: "task component", data: `{"version": 1, "task": {"plan": "p", "phase": "downloading", "current": 3,
			"components": [{"id": "A", "file": "a.bin", "digests": {"Size": 10, "SHA256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}]}}`, want: "current component 3 of 1"},
		{name: "task piece", data: `{"version": 1, "task": {"plan": "p", "phase": "downloading", "piece_start": 8, "piece_len": 5,
			"components": [{"id": "A", "file": "a.bin", "digests": {"Size": 10, "SHA256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}]}}`, want: "piece 8+5 outside the 10-byte package"},
		{name: "task digest", data: `{"version": 1, "task": {"plan": "p", "phase": "offered",
			"components": [{"id": "A", "file": "a.bin", "digests": {"Size": 10}}]}}`, want: `sha256 ""`},
		{name: "task phase", data: `{"version": 1, "task": {"plan": "p", "phase": "flying",
			"components": [{"id": "A", "file": "a.bin", "digests": {"Size": 10, "SHA256": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}]}}`, want: `phase "flying"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "module.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := config(nil)
			cfg.StatePath = path
			m, err := module.New(cfg)
			if err == nil {
				m.Close()
				t.Fatal("New: got no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "module: ") || !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
				t.Errorf("New: got %q, want a module error naming %s and %q", msg, path, tt.want)
			}
		})
	}
}

// TestStateIsDirectory checks the error for a state path that cannot be
// read.
func TestStateIsDirectory(t *testing.T) {
	cfg := config(nil)
	cfg.StatePath = t.TempDir()
	m, err := module.New(cfg)
	if err == nil {
		m.Close()
		t.Fatal("New: got no error")
	}
	if !strings.Contains(err.Error(), cfg.StatePath) {
		t.Errorf("New: got %q, want it to name %s", err, cfg.StatePath)
	}
}

// TestNoSaveOnStart checks that starting on a state file that holds the
// current state leaves the file alone.
func TestNoSaveOnStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.StatePath = filepath.Join(t.TempDir(), "module.json")
		h := start(t, cfg)
		h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
		before, err := os.Stat(cfg.StatePath)
		if err != nil {
			t.Fatal(err)
		}
		h = h.restart(cfg)
		h.okLine(`AT+QIOTMCUVER="STM32"`, `+QIOTMCUVER: "STM32","1_0_0"`)
		after, err := os.Stat(cfg.StatePath)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
			t.Error("the state file was written again at the start")
		}
	})
}
