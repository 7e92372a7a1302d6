package plan

import (
	"errors"
	"testing"
	"time"
)

// eligibilityPlan has two components: a full one restricted by
// specified_versions and a delta one.
func eligibilityPlan(t *testing.T, edit func(d doc)) *Plan {
	t.Helper()
	data := exampleWith(t, func(d doc) {
		d["blacklist"] = []string{"dk-black", "dk-both"}
		comp(d, 0)["specified_versions"] = []string{"1_0_0", "1_5_0"}
		c := addComp(d, "BLE")
		c["package"], c["source_version"], c["target_version"] = "delta", "3_0_0", "3_1_0"
		delete(c, "specified_versions")
		if edit != nil {
			edit(d)
		}
	})
	p, err := Parse("x.json", data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNext(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// The window is 2026-01-01 00:00 to 2027-01-01 00:00 in Asia/Shanghai
	// (UTC+8): 2025-12-31 16:00 UTC to 2026-12-31 16:00 UTC.
	inside := time.Date(2026, 6, 1, 12, 0, 0, 0, shanghai)
	start := time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)
	end := time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC)
	dev := func(stm, ble string) Device {
		return Device{Product: "p1demo", Key: "dk1", Versions: map[string]string{"STM32": stm, "BLE": ble}}
	}
	tests := []struct {
		name   string
		edit   func(d doc)
		now    time.Time
		device Device
		want   int
		reason error
	}{
		{name: "first component", now: inside, device: dev("1_0_0", "3_0_0"), want: 0},
		{name: "second component when first done", now: inside, device: dev("2_0_0", "3_0_0"), want: 1},
		{name: "all done", now: inside, device: dev("2_0_0", "3_1_0"), want: -1, reason: ErrDone},
		{name: "saved", edit: func(d doc) { d["state"] = "saved" }, now: inside, device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrNotActivated},
		{name: "ended", edit: func(d doc) { d["state"] = "ended" }, now: inside, device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrNotActivated},
		{name: "other product", now: inside, device: Device{Product: "p2", Key: "dk1"}, want: -1, reason: ErrOtherProduct},
		{name: "before window", now: start.Add(-time.Nanosecond), device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrBeforeWindow},
		{name: "window start inclusive", now: start, device: dev("1_0_0", "3_0_0"), want: 0},
		{name: "window start in Shanghai wall time", now: time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai), device: dev("1_0_0", "3_0_0"), want: 0},
		{name: "just before end", now: end.Add(-time.Nanosecond), device: dev("1_0_0", "3_0_0"), want: 0},
		{name: "window end exclusive", now: end, device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrAfterWindow},
		{name: "fixed offset same instants", edit: func(d doc) { d["timezone"] = "+08:00" }, now: end, device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrAfterWindow},
		{name: "fixed offset start", edit: func(d doc) { d["timezone"] = "+08:00" }, now: start, device: dev("1_0_0", "3_0_0"), want: 0},
		{name: "UTC zone moves the window", edit: func(d doc) { d["timezone"] = "UTC" }, now: start, device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrBeforeWindow},
		{name: "blacklisted", now: inside, device: Device{Product: "p1demo", Key: "dk-black"}, want: -1, reason: ErrBlacklisted},
		{name: "not whitelisted", edit: func(d doc) { d["whitelist"] = []string{"dk-white", "dk-both"} }, now: inside, device: dev("1_0_0", "3_0_0"), want: -1, reason: ErrNotWhitelisted},
		{name: "whitelisted", edit: func(d doc) { d["whitelist"] = []string{"dk1"} }, now: inside, device: dev("1_0_0", "3_0_0"), want: 0},
		{name: "blacklist wins over whitelist", edit: func(d doc) { d["whitelist"] = []string{"dk-both"} }, now: inside, device: Device{Product: "p1demo", Key: "dk-both"}, want: -1, reason: ErrBlacklisted},
		{name: "not in specified_versions", now: inside, device: dev("0_9_0", "3_0_0"), want: -1, reason: ErrNotSpecified},
		{name: "no version and specified_versions", now: inside, device: Device{Product: "p1demo", Key: "dk1"}, want: -1, reason: ErrNotSpecified},
		{name: "full without specified_versions takes any version", edit: func(d doc) { delete(comp(d, 0), "specified_versions") }, now: inside, device: dev("0_1", "3_0_0"), want: 0},
		{name: "delta source mismatch", now: inside, device: dev("2_0_0", "2_9_0"), want: -1, reason: ErrSourceMismatch},
		{name: "delta without version", now: inside, device: Device{Product: "p1demo", Key: "dk1", Versions: map[string]string{"STM32": "2_0_0"}}, want: -1, reason: ErrSourceMismatch},
		{name: "failures within retries", now: inside, device: Device{Product: "p1demo", Key: "dk1", Versions: map[string]string{"STM32": "1_0_0"}, Failures: 2}, want: 0},
		{name: "retries used up", now: inside, device: Device{Product: "p1demo", Key: "dk1", Versions: map[string]string{"STM32": "1_0_0"}, Failures: 3}, want: -1, reason: ErrRetriesUsedUp},
		{name: "done beats retries", now: inside, device: Device{Product: "p1demo", Key: "dk1", Versions: map[string]string{"STM32": "2_0_0", "BLE": "3_1_0"}, Failures: 9}, want: -1, reason: ErrDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := eligibilityPlan(t, tt.edit)
			got, err := p.Next(tt.now, tt.device)
			if got != tt.want {
				t.Errorf("Next = %d, %v; want %d", got, err, tt.want)
			}
			if tt.reason == nil {
				if err != nil {
					t.Errorf("Next error = %v, want nil", err)
				}
				return
			}
			var ne *NotEligible
			if !errors.As(err, &ne) || !errors.Is(err, tt.reason) {
				t.Fatalf("Next error = %v, want a *NotEligible for %v", err, tt.reason)
			}
			if ne.Plan != p.Name || ne.Device != tt.device.Key || ne.Detail == "" {
				t.Errorf("NotEligible = %+v, want plan, device and detail set", ne)
			}
		})
	}
}

func TestInPushPeriod(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, shanghai) }
	tests := []struct {
		name   string
		tz     string
		period *Period
		now    time.Time
		want   bool
	}{
		{name: "no period", tz: "Asia/Shanghai", now: at(3, 0), want: true},
		{name: "whole day", tz: "Asia/Shanghai", period: &Period{0, 24}, now: at(23, 59), want: true},
		{name: "from inclusive", tz: "Asia/Shanghai", period: &Period{9, 17}, now: at(9, 0), want: true},
		{name: "before from", tz: "Asia/Shanghai", period: &Period{9, 17}, now: at(8, 59), want: false},
		{name: "last minute", tz: "Asia/Shanghai", period: &Period{9, 17}, now: at(16, 59), want: true},
		{name: "to exclusive", tz: "Asia/Shanghai", period: &Period{9, 17}, now: at(17, 0), want: false},
		{name: "to 24", tz: "Asia/Shanghai", period: &Period{20, 24}, now: at(23, 30), want: true},
		{name: "to 24 before", tz: "Asia/Shanghai", period: &Period{20, 24}, now: at(19, 30), want: false},
		{name: "wrap evening", tz: "Asia/Shanghai", period: &Period{22, 2}, now: at(22, 0), want: true},
		{name: "wrap midnight", tz: "Asia/Shanghai", period: &Period{22, 2}, now: at(0, 0), want: true},
		{name: "wrap early morning", tz: "Asia/Shanghai", period: &Period{22, 2}, now: at(1, 59), want: true},
		{name: "wrap end exclusive", tz: "Asia/Shanghai", period: &Period{22, 2}, now: at(2, 0), want: false},
		{name: "wrap midday", tz: "Asia/Shanghai", period: &Period{22, 2}, now: at(12, 0), want: false},
		{name: "wrap before", tz: "Asia/Shanghai", period: &Period{22, 2}, now: at(21, 59), want: false},
		{name: "fixed offset", tz: "+08:00", period: &Period{22, 2}, now: at(23, 0), want: true},
		{name: "fixed offset outside", tz: "+08:00", period: &Period{22, 2}, now: at(3, 0), want: false},
		// 23:00 in Shanghai is 15:00 UTC: outside 22-2 read in UTC.
		{name: "zone decides", tz: "UTC", period: &Period{22, 2}, now: at(23, 0), want: false},
		{name: "zone decides inside", tz: "UTC", period: &Period{14, 16}, now: at(23, 0), want: true},
		{name: "from 0 to 1", tz: "Asia/Shanghai", period: &Period{0, 1}, now: at(0, 30), want: true},
		{name: "from 23 to 0", tz: "Asia/Shanghai", period: &Period{23, 0}, now: at(23, 30), want: true},
		{name: "from 23 to 0 outside", tz: "Asia/Shanghai", period: &Period{23, 0}, now: at(0, 30), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := eligibilityPlan(t, func(d doc) {
				d["timezone"] = tt.tz
				if tt.period != nil {
					d["push_period"] = doc{"from": tt.period.From, "to": tt.period.To}
				}
			})
			if got := p.InPushPeriod(tt.now); got != tt.want {
				t.Errorf("InPushPeriod(%v) with %v in %s = %v, want %v", tt.now, tt.period, tt.tz, got, tt.want)
			}
		})
	}
}

func TestInWindow(t *testing.T) {
	p := eligibilityPlan(t, nil)
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"before", p.Window.Start.Add(-time.Second), false},
		{"start", p.Window.Start, true},
		{"middle", p.Window.Start.Add(24 * time.Hour), true},
		{"end", p.Window.End, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.InWindow(tt.now); got != tt.want {
				t.Errorf("InWindow(%v) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestNeedsConfirmationAndText(t *testing.T) {
	p := eligibilityPlan(t, func(d doc) {
		manual(d)
		d["auto_confirm"] = []string{"dk-auto"}
		d["texts"].(doc)["zh"] = "新固件"
	})
	tests := []struct {
		name      string
		got, want any
	}{
		{"manual device", p.NeedsConfirmation("dk1"), true},
		{"auto-confirm device", p.NeedsConfirmation("dk-auto"), false},
		{"text zh", p.Text("zh"), "新固件"},
		{"text fallback", p.Text("fr"), "New firmware."},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	silent := eligibilityPlan(t, nil)
	if silent.NeedsConfirmation("dk1") {
		t.Errorf("silent plan: NeedsConfirmation = true, want false")
	}
}
