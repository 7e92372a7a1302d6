package mcu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/atcmd"
)

// links hands out clients of a fake module and can cut the current one,
// as a module that resets or a cable pulled does.
type links struct {
	t     *testing.T
	m     *fakeModule
	mu    sync.Mutex
	cur   *atcmd.Client
	dials int
	down  int // dials still refused
}

func (l *links) dial(ctx context.Context) (*atcmd.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dials++
	if l.down > 0 {
		l.down--
		return nil, errors.New("no such device")
	}
	l.cur = l.m.client(l.t)
	return l.cur, nil
}

// cut closes the current link from the module's side.
func (l *links) cut() {
	l.mu.Lock()
	c := l.cur
	l.mu.Unlock()
	go c.Close()
}

func TestAgentLinkLost(t *testing.T) {
	tests := []struct {
		name  string
		setup func(l *links, m *fakeModule)
	}{
		{name: "link closed", setup: func(l *links, m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) {
				if i == 5 {
					l.cut()
				}
			}
		}},
		{name: "module silent, then back", setup: func(l *links, m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) {
				if i >= 5 && i < 8 { // three tries in a row unanswered
					a.Delay = time.Hour
				}
			}
		}},
		{name: "module reset, port gone a while", setup: func(l *links, m *fakeModule) {
			m.otard = func(i int, a *otardAnswer) {
				if i == 9 {
					l.down = 4
					l.cut()
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				img := image(70, 12000)
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
				l := &links{t: t, m: m}
				tt.setup(l, m)
				tg, path := flashAt(t, "stm32f103c8")
				cfg := testConfig(tg)
				a, err := NewAgent(l.dial, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				res, err := a.Cycle(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Updated) != 1 || res.Updated[0].Resumed == 0 {
					t.Fatalf("Updated = %+v, want one update resumed after the link came back", res.Updated)
				}
				if l.dials < 2 {
					t.Errorf("%d dials, want the link opened again", l.dials)
				}
				if reread := m.readBytes() - int64(len(img)); reread > 1024 {
					t.Errorf("%d bytes read again, want at most a block", reread)
				}
				checkActive(t, path, 'B', img)
			})
		})
	}
}

func TestAgentGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(1, 3000)})
		l := &links{t: t, m: m, down: 1 << 30}
		tg, _ := flashAt(t, "stm32f103c8")
		cfg := testConfig(tg)
		cfg.ModuleTimeout = time.Minute
		a, err := NewAgent(l.dial, cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = a.Cycle(t.Context())
		if !errors.Is(err, ErrLink) {
			t.Fatalf("Cycle = %v, want ErrLink", err)
		}
		if waited := time.Since(start); waited < time.Minute || waited > time.Minute+2*redialDelay {
			t.Errorf("gave up after %v, want about ModuleTimeout (1m)", waited)
		}
	})
}

// TestAgentPortNotOurs: a port another program holds, or one the user
// may not open, is not waited for.
func TestAgentPortNotOurs(t *testing.T) {
	for _, cause := range []error{fs.ErrExist, fs.ErrPermission} {
		t.Run(cause.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dials := 0
				dial := func(context.Context) (*atcmd.Client, error) {
					dials++
					return nil, fmt.Errorf("transport: pty:/tmp/m: %w", cause)
				}
				tg, _ := flashAt(t, "stm32f103c8")
				a, err := NewAgent(dial, testConfig(tg))
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				_, err = a.Cycle(t.Context())
				if !errors.Is(err, cause) || errors.Is(err, ErrLink) || dials != 1 {
					t.Fatalf("Cycle = %v after %d dials; want %v at once, not a link to wait for", err, dials, cause)
				}
			})
		})
	}
}

func TestAgentNotLinkError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: image(1, 3000), MinBattery: 50})
		l := &links{t: t, m: m}
		tg, _ := flashAt(t, "stm32f103c8")
		cfg := testConfig(tg)
		cfg.Battery = func(context.Context) (int, error) { return 10, nil }
		a, _ := NewAgent(l.dial, cfg)
		defer a.Close()
		_, err := a.Cycle(t.Context())
		var pe *PolicyError
		if !errors.As(err, &pe) || l.dials != 1 {
			t.Fatalf("Cycle = %v after %d dials, want a *PolicyError at once", err, l.dials)
		}
	})
}

func TestWaitPolicy(t *testing.T) {
	tests := []struct {
		name string
		pe   PolicyError
		// change makes the condition met after some time
		change func(m *fakeModule, setLevel func(int))
	}{
		{name: "battery", pe: PolicyError{What: "battery", Have: 20, Need: 30},
			change: func(m *fakeModule, setLevel func(int)) { setLevel(25); time.Sleep(time.Minute); setLevel(31) }},
		{name: "signal", pe: PolicyError{What: "signal", Have: -109, Need: -100},
			change: func(m *fakeModule, setLevel func(int)) {
				time.Sleep(time.Minute)
				m.mu.Lock()
				m.rssi = 10 // -93 dBm
				m.mu.Unlock()
			}},
		{name: "signal unknown", pe: PolicyError{What: "signal", Need: -113, Detail: "unknown"},
			change: func(m *fakeModule, setLevel func(int)) {
				time.Sleep(time.Minute)
				m.mu.Lock()
				m.rssi = 0
				m.mu.Unlock()
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFake()
				m.rssi = 2
				if tt.pe.Detail != "" {
					m.rssi = 99
				}
				l := &links{t: t, m: m}
				tg, _ := flashAt(t, "stm32f103c8")
				level := 20
				var mu sync.Mutex
				cfg := testConfig(tg)
				cfg.PolicyPoll = 10 * time.Second
				cfg.Battery = func(context.Context) (int, error) { mu.Lock(); defer mu.Unlock(); return level, nil }
				a, _ := NewAgent(l.dial, cfg)
				defer a.Close()
				start := time.Now()
				go tt.change(m, func(n int) { mu.Lock(); defer mu.Unlock(); level = n })
				if err := a.WaitPolicy(t.Context(), &tt.pe); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(start); waited < time.Minute || waited > time.Minute+cfg.PolicyPoll {
					t.Errorf("waited %v, want until the change after 1m (polling every %v)", waited, cfg.PolicyPoll)
				}
			})
		})
	}
	t.Run("canceled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tg, _ := flashAt(t, "stm32f103c8")
			a, _ := NewAgent(func(context.Context) (*atcmd.Client, error) { return nil, errors.New("x") }, testConfig(tg))
			ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
			defer cancel()
			if err := a.WaitPolicy(ctx, &PolicyError{What: "space", Need: 1 << 40}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("WaitPolicy = %v, want the context's end", err)
			}
		})
	})
}
