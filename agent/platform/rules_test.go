package platform

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/agent/plan"
)

func TestRulesCheck(t *testing.T) {
	tests := []struct {
		name string
		r    Rules
		ok   bool
	}{
		{name: "zero", r: Rules{}, ok: true},
		{name: "all set", r: Rules{Percent: 50, RatePerMinute: 10, RetryInterval: Duration(10 * time.Minute), MaxRetries: 2, TimeoutMinutes: 60, Overwrite: true}, ok: true},
		{name: "percent 101", r: Rules{Percent: 101}},
		{name: "retries 3", r: Rules{MaxRetries: 3}},
		{name: "retry interval 5m", r: Rules{RetryInterval: Duration(5 * time.Minute)}},
		{name: "timeout 1441", r: Rules{TimeoutMinutes: 1441}},
		{name: "retry not below timeout", r: Rules{RetryInterval: Duration(time.Hour), TimeoutMinutes: 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.r.Check(); (err == nil) != tt.ok {
				t.Errorf("Check() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestRollout(t *testing.T) {
	var list []string
	for i := range 10 {
		list = append(list, fmt.Sprintf("dev%d", i))
	}
	in := 0
	for _, dn := range list {
		if (Rules{Percent: 50}).inRollout("p", dn, list) {
			in++
		}
	}
	if in != 5 {
		t.Errorf("%d of 10 listed devices in a 50%% rollout, want 5", in)
	}
	if !(Rules{}).inRollout("p", "x", nil) {
		t.Error("the zero Rules left a device out")
	}
}

// clock is a settable clock for the platform.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// rulesPlatform is a platform that is not started: the test feeds it
// device messages and looks at what it would publish.
func rulesPlatform(t *testing.T, batch *Batch, edit func(map[string]any)) (*Platform, *clock) {
	t.Helper()
	dir, _ := writePlans(t, 1000, edit)
	d, err := plan.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Now()}
	p, err := New(Config{Plans: d, Batch: batch, Now: c.now, StatePath: filepath.Join(t.TempDir(), "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	p.base = "http://127.0.0.1:1"
	p.reload()
	if len(p.plans) == 0 {
		t.Fatal("no plan loaded")
	}
	return p, c
}

func inform(p *Platform, dn, version string) {
	p.onInform(informTopic("p1demo", dn), []byte(`{"id":"1","params":{"version":"`+version+`","module":"STM32"}}`))
}

func progress(p *Platform, dn, step, desc string) {
	p.onProgress(progressTopic("p1demo", dn), []byte(`{"id":"2","params":{"step":"`+step+`","desc":"`+desc+`","module":"STM32"}}`))
}

// pushes evaluates every device and returns the devices pushed to.
func pushes(p *Platform) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.st.Devices {
		p.evaluate(d, "")
	}
	var got []string
	for _, m := range p.outbox {
		if m.Kind == "upgrade" {
			got = append(got, m.Topic[strings.LastIndexByte(m.Topic, '/')+1:])
		}
	}
	p.outbox = nil
	return got
}

func status(p *Platform, dn string) string {
	if t := task(p, dn, "stm32-2.0.0"); t != nil {
		return t.Status
	}
	return "none"
}

func TestBatchRules(t *testing.T) {
	t.Run("push, success from the version report", func(t *testing.T) {
		p, _ := rulesPlatform(t, nil, nil)
		inform(p, "d1", "1_0_0")
		if got := pushes(p); fmt.Sprint(got) != "[d1]" {
			t.Fatalf("pushed to %v, want [d1]", got)
		}
		progress(p, "d1", "100", "done")
		if s := status(p, "d1"); s != TaskUpgrading {
			t.Errorf("after step 100 without the version: %s, want %s", s, TaskUpgrading)
		}
		inform(p, "d1", "2_0_0")
		pushes(p)
		if s := status(p, "d1"); s != TaskSucceeded {
			t.Errorf("after the version report: %s, want %s", s, TaskSucceeded)
		}
	})
	t.Run("app confirmation", func(t *testing.T) {
		p, _ := rulesPlatform(t, nil, func(m map[string]any) { m["mode"] = "manual"; m["texts"] = map[string]string{"en": "fix"} })
		inform(p, "d1", "1_0_0")
		if got := pushes(p); len(got) != 0 || status(p, "d1") != TaskConfirming {
			t.Fatalf("pushed %v, status %s; want nothing, %s", got, status(p, "d1"), TaskConfirming)
		}
		if err := p.Confirm("stm32-2.0.0", "d1"); err != nil {
			t.Fatal(err)
		}
		if got := pushes(p); fmt.Sprint(got) != "[d1]" {
			t.Errorf("after the confirmation pushed to %v, want [d1]", got)
		}
	})
	t.Run("not pushed actively, sent on request", func(t *testing.T) {
		p, _ := rulesPlatform(t, nil, func(m map[string]any) { m["push_actively"] = false })
		inform(p, "d1", "1_0_0")
		if got := pushes(p); len(got) != 0 {
			t.Fatalf("pushed to %v, want nobody", got)
		}
		p.onGet(getTopic("p1demo", "d1"), []byte(`{"id":"7","version":"1.0","params":{"module":"STM32"},"method":"thing.ota.firmware.get"}`))
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.outbox) != 1 || !strings.Contains(string(p.outbox[0].Payload), `"version":"2_0_0"`) || !strings.Contains(string(p.outbox[0].Payload), `"id":"7"`) {
			t.Errorf("reply %s, want the job with id 7", p.outbox)
		}
	})
	t.Run("retry interval and maximum", func(t *testing.T) {
		p, c := rulesPlatform(t, &Batch{Default: Rules{RetryInterval: Duration(10 * time.Minute), MaxRetries: 1}}, nil)
		inform(p, "d1", "1_0_0")
		pushes(p)
		progress(p, "d1", "-4", "burn failed")
		if s := status(p, "d1"); s != TaskFailed {
			t.Fatalf("status %s, want %s", s, TaskFailed)
		}
		c.t = c.t.Add(5 * time.Minute)
		if got := pushes(p); len(got) != 0 {
			t.Errorf("pushed %v before the retry interval", got)
		}
		c.t = c.t.Add(6 * time.Minute)
		if got := pushes(p); fmt.Sprint(got) != "[d1]" {
			t.Errorf("after the retry interval pushed %v, want [d1]", got)
		}
		progress(p, "d1", "-2", "download failed")
		c.t = c.t.Add(time.Hour)
		if got := pushes(p); len(got) != 0 {
			t.Errorf("pushed %v after the retries were used up", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p, c := rulesPlatform(t, &Batch{Default: Rules{TimeoutMinutes: 30}}, nil)
		inform(p, "d1", "1_0_0")
		pushes(p)
		progress(p, "d1", "10", "downloading")
		c.t = c.t.Add(31 * time.Minute)
		pushes(p)
		if tk := task(p, "d1", "stm32-2.0.0"); tk == nil || tk.Failures != 1 || !strings.Contains(tk.Desc, "timed out") && tk.Status != TaskPushed {
			t.Errorf("task after the timeout: %+v, want one failure (timed out)", tk)
		}
	})
	t.Run("refusal and the rejection window", func(t *testing.T) {
		p, c := rulesPlatform(t, nil, func(m map[string]any) { m["rejection_minutes"] = 30 })
		inform(p, "d1", "1_0_0")
		pushes(p)
		progress(p, "d1", "-1", "refused by the MCU: battery 10% below 30%")
		if s := status(p, "d1"); s != TaskRefused {
			t.Fatalf("status %s, want %s", s, TaskRefused)
		}
		c.t = c.t.Add(29 * time.Minute)
		if got := pushes(p); len(got) != 0 {
			t.Errorf("pushed %v inside the rejection window", got)
		}
		c.t = c.t.Add(2 * time.Minute)
		if got := pushes(p); fmt.Sprint(got) != "[d1]" {
			t.Errorf("after the window pushed %v, want [d1]", got)
		}
	})
	t.Run("push rate", func(t *testing.T) {
		p, c := rulesPlatform(t, &Batch{Default: Rules{RatePerMinute: 1}}, nil)
		inform(p, "d1", "1_0_0")
		inform(p, "d2", "1_0_0")
		if got := pushes(p); len(got) != 1 {
			t.Fatalf("pushed %v at once, want one device", got)
		}
		c.t = c.t.Add(time.Minute)
		if got := pushes(p); len(got) != 1 {
			t.Errorf("a minute later pushed %v, want the other device", got)
		}
	})
	t.Run("re-push after 10 minutes without progress", func(t *testing.T) {
		p, c := rulesPlatform(t, nil, nil)
		inform(p, "d1", "1_0_0")
		pushes(p)
		c.t = c.t.Add(9 * time.Minute)
		if got := pushes(p); len(got) != 0 {
			t.Errorf("pushed again after 9 minutes: %v", got)
		}
		c.t = c.t.Add(2 * time.Minute)
		if got := pushes(p); len(got) != 1 {
			t.Errorf("not pushed again after 11 minutes: %v", got)
		}
	})
}

func TestBatchOverwrite(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		t.Run(fmt.Sprint("overwrite ", overwrite), func(t *testing.T) {
			p, _ := rulesPlatform(t, &Batch{Plans: map[string]Rules{"zz-later": {Overwrite: overwrite}}}, nil)
			// A second plan for the same component, loaded by hand.
			later := *p.plans[0]
			later.Name = "zz-later"
			p.plans = append(p.plans, &later)
			inform(p, "d1", "1_0_0")
			got := pushes(p)
			first, second := status(p, "d1"), "none"
			if tk := task(p, "d1", "zz-later"); tk != nil {
				second = tk.Status
			}
			want := []string{TaskPushed, TaskQueued, "[d1]"}
			if overwrite {
				want = []string{TaskCanceled, TaskPushed, "[d1 d1]"}
			}
			if first != want[0] || second != want[1] || fmt.Sprint(got) != want[2] {
				t.Errorf("first plan %s, later plan %s, pushes %v; want %v", first, second, got, want)
			}
		})
	}
}

// TestPlatformRestartKeepsState: a new platform on the same state file
// knows the devices and their tasks, and does not push again at once.
func TestPlatformRestartKeepsState(t *testing.T) {
	p, _ := rulesPlatform(t, nil, nil)
	inform(p, "d1", "1_0_0")
	pushes(p)
	p.mu.Lock()
	p.save()
	p.mu.Unlock()

	p2, err := New(Config{Plans: p.cfg.Plans, StatePath: p.cfg.StatePath, Now: p.cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	p2.base = p.base
	p2.reload()
	if tk := task(p2, "d1", "stm32-2.0.0"); tk == nil || tk.Status != TaskPushed || tk.Pushes != 1 {
		t.Fatalf("task after the restart: %+v, want pushed once", tk)
	}
	if got := pushes(p2); len(got) != 0 {
		t.Errorf("pushed again right after the restart: %v", got)
	}
}

// TestBatchWaitingPlanDoesNotBlock: the task of a plan that waits does not
// hold up the plan it waits for.
func TestBatchWaitingPlanDoesNotBlock(t *testing.T) {
	p, c := rulesPlatform(t, nil, nil)
	later := *p.plans[0]
	later.Name = "zz-later"
	p.plans = append(p.plans, &later)
	inform(p, "d1", "1_0_0")
	pushes(p)
	c.t = c.t.Add(11 * time.Minute)
	if got := pushes(p); fmt.Sprint(got) != "[d1]" {
		t.Errorf("re-push of the first plan: %v, want [d1]", got)
	}
}

// FuzzPlatformMessages feeds arbitrary uplink messages to the platform:
// none may panic, and a device heard from is kept.
func FuzzPlatformMessages(f *testing.F) {
	f.Add("inform", `{"id":1,"params":{"version":"1_0_0","module":"STM32"}}`)
	f.Add("progress", `{"id":"2","params":{"step":0,"desc":"x","module":"STM32"}}`)
	f.Add("get", `{"id":"3","version":"1.0","params":{},"method":"thing.ota.firmware.get"}`)
	dir, _ := writePlansF(f)
	d, err := plan.OpenDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, kind, payload string) {
		p, err := New(Config{Plans: d})
		if err != nil {
			t.Fatal(err)
		}
		p.base = "http://127.0.0.1:1"
		p.reload()
		switch kind {
		case "inform":
			p.onInform(informTopic("p1demo", "d1"), []byte(payload))
		case "progress":
			inform(p, "d1", "1_0_0")
			pushes(p)
			p.onProgress(progressTopic("p1demo", "d1"), []byte(payload))
		default:
			p.onGet(getTopic("p1demo", "d1"), []byte(payload))
		}
		pushes(p)
	})
}
