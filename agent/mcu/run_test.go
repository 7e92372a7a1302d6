package mcu

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/flashsim"
)

// The tests of Run run in synctest bubbles: every timeout is exact and
// instant.

func testConfig(tg Target) Config {
	cfg := DefaultConfig()
	cfg.Components = []Component{{ID: "STM32", Version: "1_0_0"}}
	cfg.Target = tg
	return cfg
}

// flashAt opens a flashsim target in a new directory.
func flashAt(t *testing.T, part string) (Target, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flash.bin")
	tg, err := OpenTarget("flashsim:" + path + "?part=" + part)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, path
}

// seedFlash saves a flash at path whose active slot B holds img, and
// opens it as a target.
func seedFlash(t *testing.T, part string, img []byte) (Target, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flash.bin")
	p, err := flashsim.LookupPart(part)
	if err != nil {
		t.Fatal(err)
	}
	f := flashsim.New(p)
	l, _ := flashsim.DefaultLayout(p)
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Install(img); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	tg, err := OpenTarget("flashsim:" + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, path
}

// checkActive checks that the flash saved at path runs want from slot.
func checkActive(t *testing.T, path string, slot byte, want []byte) {
	t.Helper()
	d := loadDevice(t, path)
	if got := d.Active().Name; got != slot {
		t.Fatalf("the saved flash has slot %c active, want %c", got, slot)
	}
	if !bytes.Equal(slotImage(t, d, len(want)), want) {
		t.Fatalf("slot %c of the saved flash does not hold the expected image", slot)
	}
}

func digest(t *testing.T, b []byte) plan.Digests {
	t.Helper()
	d, err := plan.Digest(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// progressLog records Progress callbacks.
type progressLog struct {
	mu  sync.Mutex
	got []Progress
}

func (p *progressLog) add(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, pr)
}

// check checks that the reports of each component rise and end at its
// total.
func (p *progressLog) check(t *testing.T, totals map[string]int64) {
	t.Helper()
	last := map[string]int64{}
	for _, pr := range p.got {
		if want, ok := totals[pr.Component]; !ok || pr.Total != want {
			t.Fatalf("progress %+v: want total %d", pr, want)
		}
		if prev, ok := last[pr.Component]; ok && pr.Done <= prev || pr.Done > pr.Total {
			t.Fatalf("progress %+v after %d: not rising within the total", pr, prev)
		}
		last[pr.Component] = pr.Done
	}
	for c, total := range totals {
		if last[c] != total {
			t.Errorf("progress of %s ends at %d, want %d", c, last[c], total)
		}
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		size       int
		block      int
		pieceSize  int64
		wantBlocks int
		wantPieces int
	}{
		// 4096 + 1904 bytes: blocks of 1024 and a short last one.
		{name: "two pieces", size: 6000, block: 1024, pieceSize: 4096, wantBlocks: 4 + 2, wantPieces: 2},
		// Odd blocks leave tails shorter than the write unit between writes.
		{name: "odd blocks", size: 6001, block: 999, pieceSize: 4096, wantBlocks: 5 + 2, wantPieces: 2},
		{name: "one piece", size: 2048, block: 1024, pieceSize: 65536, wantBlocks: 2, wantPieces: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				img := image(7, tt.size)
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img, MinBattery: 30, MinSignal: -113})
				m.pieceSize = tt.pieceSize
				tg, path := flashAt(t, "stm32f103c8")
				cfg := testConfig(tg)
				cfg.Block = tt.block
				var prog progressLog
				cfg.Progress = prog.add
				res, err := Run(t.Context(), m.client(t), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Updated) != 1 || res.NoPlan {
					t.Fatalf("Result = %+v, want one update", res)
				}
				u := res.Updated[0]
				if u.Component != "STM32" || u.From != "1_0_0" || u.To != "2_0_0" || u.SHA256 {
					t.Errorf("Updated = %+v, want STM32 1_0_0 -> 2_0_0 without SHA-256", u)
				}
				if want := digest(t, img); u.Digests != want {
					t.Errorf("Digests = %v, want %v", u.Digests, want)
				}
				if u.Blocks != tt.wantBlocks || u.Pieces != tt.wantPieces {
					t.Errorf("%d blocks in %d pieces, want %d in %d", u.Blocks, u.Pieces, tt.wantBlocks, tt.wantPieces)
				}
				if !strings.Contains(u.Where, "slot B") {
					t.Errorf("Where = %q, want slot B", u.Where)
				}
				checkActive(t, path, 'B', img)
				prog.check(t, map[string]int64{"STM32": int64(tt.size)})
				checkOrder(t, m.commands(),
					`AT+QIOTMCUVER="STM32","1_0_0"`, "AT+QIOTREG=1", "AT+QIOTOTAREQ", "AT+CSQ", "AT+QIOTUPDATE=1",
					"AT+QIOTOTARD=0,"+strconv.Itoa(tt.block), "AT+QIOTUPDATE=3", `AT+QIOTMCUVER="STM32","2_0_0"`)
				if got, want := m.count("AT+QIOTUPDATE=2"), tt.wantPieces-1; got != want {
					t.Errorf("AT+QIOTUPDATE=2 sent %d times, want %d", got, want)
				}
				if got := m.count("AT+QIOTOTARD="); got != tt.wantBlocks {
					t.Errorf("AT+QIOTOTARD sent %d times, want %d", got, tt.wantBlocks)
				}
			})
		})
	}
}

// checkOrder checks that cmds holds want in this order (not necessarily
// next to each other).
func checkOrder(t *testing.T, cmds []string, want ...string) {
	t.Helper()
	i := 0
	for _, c := range cmds {
		if i < len(want) && c == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("commands sent:\n%s\nwant %q after %q", strings.Join(cmds, "\n"), want[i], want[:i])
	}
}

func TestRunSHA256(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img := image(8, 3000)
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
		tg, path := flashAt(t, "stm32f407vg")
		cfg := testConfig(tg)
		cfg.SHA256 = true
		res, err := Run(t.Context(), m.client(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !m.sent("AT+QIOTOTAREQ=1") {
			t.Errorf("AT+QIOTOTAREQ=1 not sent; commands:\n%s", strings.Join(m.commands(), "\n"))
		}
		if len(res.Updated) != 1 || !res.Updated[0].SHA256 {
			t.Fatalf("Result = %+v, want one update verified with SHA-256", res)
		}
		checkActive(t, path, 'B', img)
	})
}

func TestRunComponentsDeclared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake()
		tg, _ := flashAt(t, "stm32f103c8")
		cfg := testConfig(tg)
		cfg.Components = []Component{{ID: "STM32", Version: "1_0_0"}, {ID: "BLE", Version: "0.9"}, {ID: "UI", Version: "3"}}
		if _, err := Run(t.Context(), m.client(t), cfg); err != nil {
			t.Fatal(err)
		}
		checkOrder(t, m.commands(), "AT",
			`AT+QIOTMCUVER="STM32","1_0_0"`, `AT+QIOTMCUVER="BLE","0.9"`, `AT+QIOTMCUVER="UI","3"`,
			"AT+QIOTSTATE?", "AT+QIOTREG=1", "AT+QIOTOTAREQ")
	})
}

func TestRunAlreadyRegistered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake()
		m.state = 8
		tg, _ := flashAt(t, "stm32f103c8")
		res, err := Run(t.Context(), m.client(t), testConfig(tg))
		if err != nil || !res.NoPlan {
			t.Fatalf("Run = %+v, %v; want no plan", res, err)
		}
		if m.count("AT+QIOTREG") != 0 {
			t.Errorf("AT+QIOTREG sent to a registered module")
		}
	})
}

func TestRunRegistrationFails(t *testing.T) {
	tests := []struct {
		name    string
		events  []string
		wantErr string
	}{
		{name: "subscription", events: []string{"+QIOTEVT: 2,10200", "+QIOTEVT: 3,10300"}, wantErr: "+QIOTEVT: 3,10300 (subscription failed, code 10300)"},
		{name: "secret", events: []string{"+QIOTEVT: 1,10422"}, wantErr: "+QIOTEVT: 1,10422 (authentication failed: wrong device secret)"},
		{name: "network", events: []string{"+QIOTEVT: 2,10450"}, wantErr: "access to the platform failed: internal error or no network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFake()
				m.regEvents = tt.events
				tg, _ := flashAt(t, "stm32f103c8")
				cfg := testConfig(tg)
				start := time.Now()
				_, err := Run(t.Context(), m.client(t), cfg)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "registration failed") {
					t.Fatalf("Run = %v, want a registration error with %q", err, tt.wantErr)
				}
				if errors.Is(err, context.DeadlineExceeded) || time.Since(start) >= cfg.RegisterTimeout {
					t.Errorf("Run waited for the registration timeout: %v", err)
				}
				if m.count("AT+QIOTOTAREQ") != 0 {
					t.Error("AT+QIOTOTAREQ sent after a failed registration")
				}
			})
		})
	}
	t.Run("timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newFake()
			m.regEvents = []string{"+QIOTEVT: 2,10200"}
			tg, _ := flashAt(t, "stm32f103c8")
			_, err := Run(t.Context(), m.client(t), testConfig(tg))
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no +QIOTEVT: 3,10200 within 1m0s") {
				t.Fatalf("Run = %v, want a registration timeout", err)
			}
		})
	})
}

func TestRunNoPlan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake()
		tg, _ := flashAt(t, "stm32f103c8")
		cfg := testConfig(tg)
		cfg.PlanTimeout = 5 * time.Second
		cfg.EventTimeout = time.Hour
		start := time.Now()
		res, err := Run(t.Context(), m.client(t), cfg)
		if err != nil || res == nil || !res.NoPlan || len(res.Updated) != 0 {
			t.Fatalf("Run = %+v, %v; want NoPlan", res, err)
		}
		// In the bubble the clock moves only while everything waits: the
		// wait for the plan is exactly PlanTimeout.
		if got := time.Since(start); got != cfg.PlanTimeout {
			t.Errorf("waited %v for a plan, want PlanTimeout %v", got, cfg.PlanTimeout)
		}
	})
}

// TestRunNoPlanNoise checks that events other than a plan do not extend
// the wait for one.
func TestRunNoPlanNoise(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake()
		tg, _ := flashAt(t, "stm32f103c8")
		cfg := testConfig(tg)
		cfg.PlanTimeout = 5 * time.Second
		c := m.client(t)
		go func() {
			for _, l := range []string{"+QIOTEVT: 7,10702", "+QIOTEVT: 2,10473", "+QIOTEVT: 7,10705"} {
				time.Sleep(time.Second)
				m.srv.Notify(l)
			}
		}()
		start := time.Now()
		res, err := Run(t.Context(), c, cfg)
		if err != nil || !res.NoPlan {
			t.Fatalf("Run = %+v, %v; want NoPlan", res, err)
		}
		if got := time.Since(start); got != cfg.PlanTimeout {
			t.Errorf("waited %v for a plan, want PlanTimeout %v", got, cfg.PlanTimeout)
		}
	})
}

// TestRunPlanWhileRegistering checks that a plan pushed in the burst of
// registration events is not lost.
func TestRunPlanWhileRegistering(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img := image(9, 1500)
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
		m.noOffer = true
		m.regEvents = []string{"+QIOTEVT: 2,10200",
			Offer{Component: "STM32", Target: "2_0_0", MinSignalDBm: -113, Size: int64(len(img))}.line(),
			"+QIOTEVT: 3,10200"}
		tg, path := flashAt(t, "stm32f103c8")
		res, err := Run(t.Context(), m.client(t), testConfig(tg))
		if err != nil || len(res.Updated) != 1 {
			t.Fatalf("Run = %+v, %v; want one update", res, err)
		}
		checkActive(t, path, 'B', img)
	})
}

func TestRunConfig(t *testing.T) {
	tg, _ := flashAt(t, "stm32f103c8")
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{name: "no target", change: func(c *Config) { c.Target = nil }, wantErr: "no target"},
		{name: "no components", change: func(c *Config) { c.Components = nil }, wantErr: "no components"},
		{name: "empty version", change: func(c *Config) { c.Components = []Component{{ID: "STM32"}} }, wantErr: "both must be non-empty"},
		{name: "quote", change: func(c *Config) { c.Components = []Component{{ID: `ST"M`, Version: "1"}} }, wantErr: "without quotes"},
		{name: "twice", change: func(c *Config) { c.Components = append(c.Components, c.Components[0]) }, wantErr: `"STM32" is listed twice`},
		{name: "block", change: func(c *Config) { c.Block = -1 }, wantErr: "block size -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tg)
			tt.change(&cfg)
			// The checks come before the link is used.
			_, err := Run(context.Background(), nil, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		got, err := Config{Target: tg, Components: []Component{{"STM32", "1"}}}.check()
		if err != nil {
			t.Fatal(err)
		}
		def := DefaultConfig()
		if got.Block != def.Block || got.ReadTimeout != def.ReadTimeout || got.PlanTimeout != def.PlanTimeout ||
			got.EventTimeout != def.EventTimeout || got.RegisterTimeout != def.RegisterTimeout ||
			got.CommandTimeout != def.CommandTimeout || got.Battery == nil || got.Logger == nil {
			t.Errorf("check() = %+v, want the defaults filled in", got)
		}
	})
}

func TestRunTwoComponents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := image(10, 5000), image(11, 3001)
		m := newFake(
			fakeComp{ID: "MCU_A", Target: "2.0.0", Data: a},
			fakeComp{ID: "MCU_B", Target: "2.1.0", Data: b},
		)
		tg, path := flashAt(t, "nrf52840")
		cfg := testConfig(tg)
		cfg.Components = []Component{{ID: "MCU_A", Version: "1.0.0"}, {ID: "MCU_B", Version: "1.1.0"}}
		var prog progressLog
		cfg.Progress = prog.add
		res, err := Run(t.Context(), m.client(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.count("AT+QIOTUPDATE=1"); got != 2 {
			t.Errorf("AT+QIOTUPDATE=1 sent %d times, want once per 10700", got)
		}
		if len(res.Updated) != 2 {
			t.Fatalf("Updated = %+v, want two", res.Updated)
		}
		for i, want := range []Updated{
			{Component: "MCU_A", From: "1.0.0", To: "2.0.0", Digests: digest(t, a), Pieces: 2, Blocks: 5},
			{Component: "MCU_B", From: "1.1.0", To: "2.1.0", Digests: digest(t, b), Pieces: 1, Blocks: 3},
		} {
			got := res.Updated[i]
			if got.Component != want.Component || got.From != want.From || got.To != want.To || got.Digests != want.Digests ||
				got.Pieces != want.Pieces || got.Blocks != want.Blocks {
				t.Errorf("Updated[%d] = %+v, want %+v", i, got, want)
			}
		}
		checkOrder(t, m.commands(),
			"AT+QIOTUPDATE=1", "AT+QIOTUPDATE=1", "AT+QIOTOTARD=0,1024", "AT+QIOTUPDATE=2", "AT+QIOTUPDATE=3",
			`AT+QIOTMCUVER="MCU_A","2.0.0"`, "AT+QIOTOTARD=0,1024", "AT+QIOTUPDATE=3", `AT+QIOTMCUVER="MCU_B","2.1.0"`)
		// One target takes both: MCU_B went to slot A after MCU_A to B.
		checkActive(t, path, 'A', b)
		prog.check(t, map[string]int64{"MCU_A": 5000, "MCU_B": 3001})
	})
}
