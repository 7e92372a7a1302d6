package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atota/atota/agent/platform"
	"github.com/atota/atota/internal/mosquittotest"
)

// TestPlatformDemo runs atota demo --platform: platform -> module -> MCU
// on loopback, with the embedded broker and with mosquitto.
func TestPlatformDemo(t *testing.T) {
	for _, broker := range []string{"embedded", "mosquitto"} {
		t.Run(broker, func(t *testing.T) {
			args := []string{"demo", "--platform", "--size", "20000", "--event-delay", "1ms", "--reg-delay", "1ms"}
			if broker == "mosquitto" {
				args = append(args, "--broker", mosquittotest.Start(t, "").URL())
			}
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if code := run(ctx, args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, stderr.String(), stdout.String())
			}
			out := stdout.String()
			for _, want := range []string{"summary:  STM32 1_0_0 -> 2_0_0, 20000 bytes", "platform: broker mqtt://127.0.0.1:", "device atota-demo-1: succeeded, step 100"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr not empty: %s", stderr.String())
			}
		})
	}
}

func TestPlatformStatusCommand(t *testing.T) {
	state := filepath.Join(t.TempDir(), "platform.json")
	st := platform.Status{Version: 1, Devices: []*platform.DeviceStatus{{
		Product: "p1demo", Device: "dev1", Versions: map[string]string{"STM32": "2_0_0"}, Seen: time.Now(),
		Tasks: []*platform.Task{{Plan: "stm32-2.0.0", Component: "STM32", From: "1_0_0", Target: "2_0_0", Status: platform.TaskSucceeded, Step: 100, Pushes: 1, Updated: time.Now()}},
	}}}
	data, _ := json.Marshal(st)
	os.WriteFile(state, data, 0o644)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "table", args: []string{"platform", "status", "--state", state}, want: []string{"DEVICE", "dev1", "stm32-2.0.0", "succeeded", "100"}},
		{name: "json", args: []string{"platform", "status", "--state", state, "--json"}, want: []string{`"device": "dev1"`, `"status": "succeeded"`}},
		{name: "no state yet", args: []string{"platform", "status", "--state", filepath.Join(t.TempDir(), "none.json")}, want: []string{"no devices yet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

func TestPlatformUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "module without a device secret", args: []string{"module", "--port", "pty:" + filepath.Join(dir, "m"), "--platform", "mqtt://127.0.0.1:1", "--product", "p1", "--state", filepath.Join(dir, "s.json")}, want: "--device-secret"},
		{name: "module without a product", args: []string{"module", "--port", "pty:" + filepath.Join(dir, "m"), "--platform", "mqtt://127.0.0.1:1", "--device-secret", "x", "--state", filepath.Join(dir, "s.json")}, want: "--product"},
		{name: "module with an http platform", args: []string{"module", "--port", "pty:" + filepath.Join(dir, "m"), "--platform", "http://127.0.0.1:1", "--product", "p", "--device-secret", "x", "--state", filepath.Join(dir, "s.json")}, want: "scheme"},
		{name: "platform without plans", args: []string{"platform"}, want: "--plans"},
		{name: "demo broker without platform", args: []string{"demo", "--broker", "mqtt://127.0.0.1:1"}, want: "--platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, tt.want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPlatformCommand starts atota platform on free ports and stops it.
func TestPlatformCommand(t *testing.T) {
	dir := t.TempDir()
	if err := writeDemoPlan(dir, 4096); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"platform", "--plans", filepath.Join(dir, "plans"), "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--state", filepath.Join(dir, "platform.json"), "--device-secret", "s3cret"}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "atota platform: broker mqtt://127.0.0.1:") {
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after the interrupt; stderr:\n%s", code, stderr.String())
	}
}
