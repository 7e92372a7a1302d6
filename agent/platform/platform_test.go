package platform

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

// TestJobEndToEnd pushes a plan from the platform to a device link, which
// downloads and verifies the package and offers it as a plan; the task's
// steps and the new version make the platform count it a success.
func TestJobEndToEnd(t *testing.T) {
	plans, pkg := writePlans(t, 200_000, nil)
	p := startPlatform(t, plans, nil)
	cache := t.TempDir()
	ready := make(chan string, 1)
	d := startDevice(t, p.BrokerURL(), "dev1", cache, func(c *DeviceConfig) { c.OnJobReady = func(name string) { ready <- name } })
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	if !d.Connected() {
		t.Error("Connected() = false after Start")
	}

	var got []*plan.Plan
	eventually(t, "the job's plan", func() bool {
		ps, errs := d.Load()
		if len(errs) > 0 {
			t.Fatalf("Load errors: %v", errs)
		}
		got = ps
		return len(ps) == 1
	})
	pl := got[0]
	if name := <-ready; name != pl.Name {
		t.Errorf("OnJobReady(%q), want the plan's name %q", name, pl.Name)
	}
	if pl.Name != "STM32@2_0_0" || pl.Components[0].ID != "STM32" || pl.Components[0].TargetVersion != "2_0_0" || pl.MinBattery() != 30 {
		t.Errorf("plan = %s %+v, min battery %d; want STM32@2_0_0 for STM32 2_0_0, 30", pl.Name, pl.Components, pl.MinBattery())
	}
	data, err := os.ReadFile(filepath.Join(pl.Dir, pl.Components[0].File))
	if err != nil || !bytes.Equal(data, pkg) {
		t.Fatalf("cached package: %v, equal %v", err, bytes.Equal(data, pkg))
	}
	eventually(t, "step 50 on the platform", func() bool { tk := task(p, "dev1", "stm32-2.0.0"); return tk != nil && tk.Step == 50 })

	for _, e := range []TaskEvent{
		{Plan: pl.Name, Component: "STM32", Event: EventOffered},
		{Plan: pl.Name, Component: "STM32", Event: EventStarted, Total: 200_000},
		{Plan: pl.Name, Component: "STM32", Event: EventPiece, Done: 100_000, Total: 200_000},
		{Plan: pl.Name, Component: "STM32", Event: EventUpdating, Done: 200_000, Total: 200_000},
	} {
		d.TaskEvent(e)
	}
	eventually(t, "step 99", func() bool { tk := task(p, "dev1", "stm32-2.0.0"); return tk != nil && tk.Step == 99 })
	d.VersionsReported(map[string]string{"STM32": "2_0_0"})
	d.TaskEvent(TaskEvent{Plan: pl.Name, Component: "STM32", Event: EventSucceeded})
	eventually(t, "success", func() bool { tk := task(p, "dev1", "stm32-2.0.0"); return tk != nil && tk.Status == TaskSucceeded })
	if ps, _ := d.Load(); len(ps) != 0 {
		t.Errorf("after success the link still offers %d plans", len(ps))
	}
	if _, err := os.Stat(pl.Dir); !os.IsNotExist(err) {
		t.Errorf("job directory %s not removed after success: %v", pl.Dir, err)
	}
}

// TestDeviceBadCredentials: the embedded broker checks the Alink
// signature; a wrong device secret is an error naming the refusal.
func TestDeviceBadCredentials(t *testing.T) {
	plans, _ := writePlans(t, 1000, nil)
	p := startPlatform(t, plans, func(c *Config) { c.Secrets = func(pk, dn string) string { return "right" } })
	d, err := NewDevice(DeviceConfig{Broker: p.BrokerURL(), ProductKey: "p1demo", DeviceSecret: "wrong", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx, "dev1"); !errors.Is(err, transport.ErrMQTTRefused) {
		t.Errorf("Start with a wrong secret = %v, want transport.ErrMQTTRefused", err)
	}
	good := startDevice(t, p.BrokerURL(), "dev2", t.TempDir(), func(c *DeviceConfig) { c.DeviceSecret = "right" })
	good.VersionsReported(map[string]string{"STM32": "1_0_0"})
	eventually(t, "the right secret's device on the platform", func() bool { return task(p, "dev2", "stm32-2.0.0") != nil })
}

// TestDeviceVersionsBeforeStart: versions the module reports before the
// link started are informed at the first connection.
func TestDeviceVersionsBeforeStart(t *testing.T) {
	raw := newRawPlatform(t)
	d, err := NewDevice(DeviceConfig{Broker: raw.broker, ProductKey: "p1demo", DeviceSecret: "s", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.VersionsReported(map[string]string{"STM32": "1_0_0"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx, "dev1"); err != nil {
		t.Fatal(err)
	}
	raw.waitFor(t, 0, informTopic("p1demo", "dev1"), `"version":"1_0_0"`, `"module":"STM32"`)
}
