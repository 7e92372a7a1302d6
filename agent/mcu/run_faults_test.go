package mcu

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Run against a module that misbehaves or refuses, and a target that
// fails.

func TestRunPolicy(t *testing.T) {
	tests := []struct {
		name    string
		battery int
		rssi    int
		comp    fakeComp
		want    PolicyError
		wantMsg string
	}{
		{name: "battery", battery: 20, rssi: 25, comp: fakeComp{MinBattery: 30, MinSignal: -113},
			want:    PolicyError{Component: "STM32", What: "battery", Have: 20, Need: 30, Unit: "%"},
			wantMsg: "battery 20% is below the plan's minimum 30% (short by 10%); charge the battery"},
		{name: "signal", battery: 100, rssi: 2, comp: fakeComp{MinSignal: -100},
			want:    PolicyError{Component: "STM32", What: "signal", Have: -109, Need: -100, Unit: " dBm"},
			wantMsg: "signal -109 dBm is below the plan's minimum -100 dBm (short by 9 dBm)"},
		{name: "signal unknown", battery: 100, rssi: 99, comp: fakeComp{MinSignal: -113},
			want:    PolicyError{Component: "STM32", What: "signal", Need: -113, Unit: " dBm", Detail: "signal unknown (AT+CSQ rssi 99); the plan needs at least -113 dBm"},
			wantMsg: "signal unknown (AT+CSQ rssi 99)"},
		{name: "space", battery: 100, rssi: 25, comp: fakeComp{MinSignal: -113, Space: 40000},
			want:    PolicyError{Component: "STM32", What: "space", Have: 31 << 10, Need: 40000, Unit: " bytes"},
			wantMsg: "is 31744 bytes, below the plan's 40000 bytes (short by 8256 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := tt.comp
				c.ID, c.Target, c.Data = "STM32", "2_0_0", image(1, 1000)
				m := newFake(c)
				m.rssi = tt.rssi
				tg, _ := flashAt(t, "stm32f103c8")
				cfg := testConfig(tg)
				cfg.Battery = func(context.Context) (int, error) { return tt.battery, nil }
				res, err := Run(t.Context(), m.client(t), cfg)
				var pe *PolicyError
				if !errors.As(err, &pe) {
					t.Fatalf("Run = %v, want a *PolicyError", err)
				}
				pe.Detail = strings.Replace(pe.Detail, tg.String(), "", 1)
				got := *pe
				if tt.want.What == "space" {
					got.Detail = ""
				}
				if got != tt.want {
					t.Errorf("PolicyError = %+v, want %+v", got, tt.want)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q, want it to hold %q", err, tt.wantMsg)
				}
				if res == nil || len(res.Updated) != 0 {
					t.Errorf("Result = %+v, want no update", res)
				}
				if !m.sent("AT+QIOTUPDATE=0") || m.sent("AT+QIOTUPDATE=1") || m.count("AT+QIOTOTARD") != 0 {
					t.Errorf("want AT+QIOTUPDATE=0 and nothing read; commands:\n%s", strings.Join(m.commands(), "\n"))
				}
			})
		})
	}
}

func TestRunUnknownComponent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake(fakeComp{ID: "BLE", Target: "2", Data: image(1, 100)})
		tg, _ := flashAt(t, "stm32f103c8")
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if err == nil || !strings.Contains(err.Error(), `component "BLE", which this MCU does not have (it has STM32)`) {
			t.Fatalf("Run = %v, want an unknown component error", err)
		}
		if !m.sent("AT+QIOTUPDATE=0") {
			t.Error("the plan was not refused")
		}
	})
}

func TestRunVerifyFails(t *testing.T) {
	img := image(5, 5000)
	d := digest(t, img)
	tests := []struct {
		name    string
		sha     bool
		change  func(m *fakeModule)
		wantErr []string
	}{
		{name: "corrupt block", change: func(m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) {
				if i == 2 {
					a.Data[100] ^= 0x10
				}
			}
		}, wantErr: []string{"MD5 ", "CRC-32/MPEG-2 ", ", want " + d.MD5}},
		{name: "corrupt block with SHA-256", sha: true, change: func(m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) {
				if i == 4 {
					a.Data[0] ^= 1
				}
			}
		}, wantErr: []string{"MD5 ", "CRC-32/MPEG-2 ", "SHA-256 ", ", want " + d.SHA256}},
		{name: "wrong CRC", change: func(m *fakeModule) {
			m.comps[0].Start = &Start{Component: "STM32", Size: d.Size, MD5: d.MD5, CRC: d.CRC + 1}
		}, wantErr: []string{"CRC-32/MPEG-2 " + strconv.Itoa(int(d.CRC)) + ", want " + strconv.Itoa(int(d.CRC+1))}},
		{name: "wrong SHA-256", sha: true, change: func(m *fakeModule) {
			m.comps[0].Start = &Start{Component: "STM32", Size: d.Size, MD5: d.MD5, CRC: d.CRC, SHA256: strings.Repeat("0", 64)}
		}, wantErr: []string{"SHA-256 " + d.SHA256 + ", want " + strings.Repeat("0", 64)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				old := image(4, 777)
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				tt.change(m)
				tg, path := seedFlash(t, "stm32f103c8", old)
				cfg := testConfig(tg)
				cfg.SHA256 = tt.sha
				res, err := Run(t.Context(), m.client(t), cfg)
				if !errors.Is(err, ErrVerify) {
					t.Fatalf("Run = %v, want ErrVerify", err)
				}
				for _, want := range append(tt.wantErr, "STM32 2_0_0", "the old image stays") {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q, want it to hold %q", err, want)
					}
				}
				if res == nil || len(res.Updated) != 0 {
					t.Errorf("Result = %+v, want no update", res)
				}
				if m.sent("AT+QIOTUPDATE=3") || m.sent(`AT+QIOTMCUVER="STM32","2_0_0"`) {
					t.Errorf("the update was reported; commands:\n%s", strings.Join(m.commands(), "\n"))
				}
				checkActive(t, path, 'B', old)
				if got := tg.(*flashTarget).dev.Active().Name; got != 'B' {
					t.Errorf("slot %c active in memory, want B", got)
				}
			})
		})
	}
}

func TestRunReadRetries(t *testing.T) {
	img := image(6, 3000)
	cfg0 := DefaultConfig()
	tests := []struct {
		name      string
		otard     func(i int, a *otardAnswer)
		wantReads int
	}{
		{name: "wrong start echoed", otard: func(i int, a *otardAnswer) {
			if i == 1 {
				a.Start++
			}
		}, wantReads: 4},
		{name: "ERROR", otard: func(i int, a *otardAnswer) {
			if i == 0 {
				a.Error = true
			}
		}, wantReads: 4},
		{name: "longer than announced", otard: func(i int, a *otardAnswer) {
			if i == 1 {
				a.Data = append(a.Data, "xyz"...)
			}
		}, wantReads: 4},
		// The client waits for the missing bytes until ReadTimeout,
		// then the late rest of the answer is drained.
		{name: "5 bytes short", otard: func(i int, a *otardAnswer) {
			if i == 1 {
				a.Data = a.Data[:len(a.Data)-5]
			}
		}, wantReads: 4},
		// The missing bytes are taken from the next answer, which then
		// lacks its header: a third try is needed.
		{name: "100 bytes short", otard: func(i int, a *otardAnswer) {
			if i == 2 {
				a.Data = a.Data[:len(a.Data)-100]
			}
		}, wantReads: 5},
		{name: "late answer", otard: func(i int, a *otardAnswer) {
			if i == 0 {
				a.Delay = cfg0.ReadTimeout + 100*time.Millisecond
			}
		}, wantReads: 4},
		{name: "twice wrong", otard: func(i int, a *otardAnswer) {
			if i == 0 || i == 1 {
				a.Start = 1
			}
		}, wantReads: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				m.otard = tt.otard
				tg, path := flashAt(t, "stm32f407vg")
				res, err := Run(t.Context(), m.client(t), testConfig(tg))
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Updated) != 1 || res.Updated[0].Blocks != 3 {
					t.Fatalf("Updated = %+v, want one of 3 blocks", res.Updated)
				}
				checkActive(t, path, 'B', img)
				if got := m.count("AT+QIOTOTARD="); got != tt.wantReads {
					t.Errorf("AT+QIOTOTARD sent %d times, want %d", got, tt.wantReads)
				}
			})
		})
	}
	t.Run("gives up", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			old := image(4, 777)
			m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
			m.otard = func(i int, a *otardAnswer) {
				if i >= 1 {
					a.Start = 7
				}
			}
			tg, path := seedFlash(t, "stm32f103c8", old)
			_, err := Run(t.Context(), m.client(t), testConfig(tg))
			if err == nil || !strings.Contains(err.Error(), "AT+QIOTOTARD=1024,1024 failed 3 times") ||
				!strings.Contains(err.Error(), "is for byte 7, asked for byte 1024") {
				t.Fatalf("Run = %v, want the read to fail after 3 tries", err)
			}
			checkActive(t, path, 'B', old)
		})
	})
}

// TestRunShortByOne shows the limit of the framing check: a payload one
// byte short takes the CR of its CR LF as data, so only the digests catch
// it.
func TestRunShortByOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(6, 3000)})
		m.otard = func(i int, a *otardAnswer) {
			if i == 1 {
				a.Data = a.Data[:len(a.Data)-1]
			}
		}
		tg, _ := flashAt(t, "stm32f407vg")
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if !errors.Is(err, ErrVerify) {
			t.Fatalf("Run = %v, want ErrVerify", err)
		}
	})
}

func TestRunFailedEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := image(4, 777)
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(6, 9000)})
		m.pieceEvents = func(k int, evs []string) []string { return []string{"+QIOTEVT: 7,10706"} }
		tg, path := seedFlash(t, "stm32f103c8", old)
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if err == nil || !strings.Contains(err.Error(), "7,10706") || !strings.Contains(err.Error(), "STM32 was downloading (4096 of 9000 bytes)") {
			t.Fatalf("Run = %v, want the module's failure", err)
		}
		if m.sent("AT+QIOTUPDATE=3") {
			t.Error("AT+QIOTUPDATE=3 sent")
		}
		checkActive(t, path, 'B', old)
	})
}

func TestRunEventTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(6, 9000)})
		m.pieceEvents = func(k int, evs []string) []string { return nil } // the next piece never comes
		tg, _ := flashAt(t, "stm32f103c8")
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if err == nil || !strings.Contains(err.Error(), "waiting for the next piece of STM32 (+QIOTEVT: 7,10703) at byte 4096 of 9000: nothing came within 1m0s") {
			t.Fatalf("Run = %v, want an event timeout", err)
		}
	})
}

// memTarget is a Target in memory that records what happens to its
// images, and can fail Commit.
type memTarget struct {
	mu        sync.Mutex
	commitErr error
	data      []byte // the committed image
	aborts    int
	commits   int
}

type memImage struct {
	t   *memTarget
	buf []byte
}

func (t *memTarget) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	return &memImage{t: t, buf: make([]byte, spec.Size)}, nil
}
func (t *memTarget) Capacity(context.Context) (int64, error) { return 1 << 20, nil }
func (t *memTarget) Close() error                            { return nil }
func (t *memTarget) String() string                          { return "mem" }

func (im *memImage) WriteAt(p []byte, off int64) (int, error) { return copy(im.buf[off:], p), nil }
func (im *memImage) ReadAt(p []byte, off int64) (int, error)  { return copy(p, im.buf[off:]), nil }
func (im *memImage) Sync() (int64, error)                     { return int64(len(im.buf)), nil }
func (im *memImage) State() string                            { return "mem" }
func (im *memImage) Confirm() error                           { return nil }
func (im *memImage) Close() error                             { return nil }
func (im *memImage) Abort() error {
	im.t.mu.Lock()
	defer im.t.mu.Unlock()
	im.t.aborts++
	return nil
}
func (im *memImage) Commit(ctx context.Context) (string, error) {
	im.t.mu.Lock()
	defer im.t.mu.Unlock()
	if im.t.commitErr != nil {
		return "", im.t.commitErr
	}
	im.t.commits++
	im.t.data = slices.Clone(im.buf)
	return "memory", nil
}

func TestRunCommitFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(6, 2000)})
		tg := &memTarget{commitErr: errors.New("boot failed")}
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if err == nil || !strings.Contains(err.Error(), "verified but could not be made the running one: boot failed") {
			t.Fatalf("Run = %v, want the commit error", err)
		}
		if tg.aborts != 1 {
			t.Errorf("%d aborts, want 1", tg.aborts)
		}
		// The module hears the old version, so it can end the task.
		checkOrder(t, m.commands(), "AT+QIOTUPDATE=3", `AT+QIOTMCUVER="STM32","1_0_0"`)
	})
}

// TestRunAborts checks that every error after the target was opened
// aborts the image, and that a committed image is never aborted.
func TestRunAborts(t *testing.T) {
	tests := []struct {
		name        string
		change      func(m *fakeModule)
		wantAborts  int
		wantCommits int
		ok          bool
	}{
		{name: "success", ok: true, wantCommits: 1},
		{name: "10706", change: func(m *fakeModule) {
			m.pieceEvents = func(int, []string) []string { return []string{"+QIOTEVT: 7,10706"} }
		}, wantAborts: 1},
		{name: "bad piece", change: func(m *fakeModule) {
			m.pieceEvents = func(int, []string) []string { return []string{`+QIOTEVT: 7,10703,"STM32",9000,0,10`} }
		}, wantAborts: 1},
		{name: "read fails", change: func(m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) { a.Error = i > 0 }
		}, wantAborts: 1},
		{name: "verify fails", change: func(m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) { a.Data[0]++ }
		}, wantAborts: 1},
		{name: "10706 after the report", change: func(m *fakeModule) {
			m.failReport = true
		}, wantCommits: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(6, 9000)})
				if tt.change != nil {
					tt.change(m)
				}
				tg := &memTarget{}
				c := m.client(t)
				_, err := Run(t.Context(), c, testConfig(tg))
				if (err == nil) != tt.ok {
					t.Fatalf("Run = %v, want success %v", err, tt.ok)
				}
				if tg.aborts != tt.wantAborts || tg.commits != tt.wantCommits {
					t.Errorf("%d aborts and %d commits, want %d and %d (err %v)", tg.aborts, tg.commits, tt.wantAborts, tt.wantCommits, err)
				}
			})
		})
	}
}
