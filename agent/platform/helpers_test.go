package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

// writePlans writes a plans directory with one silent plan taking STM32
// from 1_0_0 to 2_0_0, and its package of size bytes; edit changes the
// plan document first.
func writePlans(t testing.TB, size int, edit func(map[string]any)) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	pkg := make([]byte, size)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range pkg {
		pkg[i] = byte(r.Uint32())
	}
	os.MkdirAll(filepath.Join(dir, "firmware"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "firmware", "stm32-2_0_0.bin"), pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	doc := map[string]any{
		"name": "stm32-2.0.0", "product": "p1demo", "timezone": "+00:00",
		"window": map[string]string{"start": now.AddDate(0, 0, -1).Format("2006-01-02 15:04"), "end": now.AddDate(1, 0, 0).Format("2006-01-02 15:04")},
		"mode":   "silent", "strategy": map[string]int{"retries": 1, "min_battery": 30},
		"components": []map[string]string{{"type": "mcu", "id": "STM32", "package": "full", "target_version": "2_0_0", "file": "firmware/stm32-2_0_0.bin"}},
	}
	if edit != nil {
		edit(doc)
	}
	data, _ := json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(dir, "stm32.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, pkg
}

// startPlatform starts a platform with the embedded broker on free
// loopback ports.
func startPlatform(t *testing.T, plansDir string, mod func(*Config)) *Platform {
	t.Helper()
	d, err := plan.OpenDir(plansDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Plans: d, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Tick: 100 * time.Millisecond,
		StatePath: filepath.Join(t.TempDir(), "platform.json"), Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// startDevice starts a device link as dn.
func startDevice(t *testing.T, broker, dn, cache string, mod func(*DeviceConfig)) *Device {
	t.Helper()
	cfg := DeviceConfig{Broker: broker, ProductKey: "p1demo", DeviceSecret: "s3cret", CacheDir: cache,
		MaxReconnectInterval: 200 * time.Millisecond, Logger: testLogger(t),
		Download: []transport.DownloadOption{transport.WithBackoff(10*time.Millisecond, 100*time.Millisecond), transport.WithMaxTime(10 * time.Second)}}
	if mod != nil {
		mod(&cfg)
	}
	d, err := NewDevice(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx, dn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// eventually polls cond until it holds, failing after 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// task returns the platform's task of device dn for plan name, or nil.
func task(p *Platform, dn, name string) *Task {
	for _, d := range p.Status().Devices {
		if d.Device == dn {
			return d.task(name)
		}
	}
	return nil
}

// testLogger logs to stderr when ATOTA_TEST_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("ATOTA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func writePlansF(f *testing.F) (string, []byte) { return writePlans(f, 1000, nil) }
