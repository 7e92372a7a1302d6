package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// requireTool fails the test when an external tool is missing and
// ATOTA_INTEGRATION=1 is set, and skips it otherwise.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("ATOTA_INTEGRATION") == "1" {
		t.Fatalf("%s is not installed (ATOTA_INTEGRATION=1 needs it; ./scripts/test installs it)", name)
	}
	t.Skipf("%s is not installed; run ./scripts/test to install it", name)
	return ""
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exists(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

// startModule starts `atota module` as a separate process and stops it with
// SIGTERM at the end of the test, checking it exits 0.
func startModule(t *testing.T, dir, port string) *exec.Cmd {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(atotaBin, "module", "--port", port, "--plans", filepath.Join(dir, "plans"),
		"--product", "p1demo", "--state", filepath.Join(dir, "state.json"),
		"--event-delay", "2ms", "--reg-delay", "5ms", "--piece-size", "8192")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("module exit after SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("module did not stop on SIGTERM\n%s", stderr.String())
		}
		if t.Failed() {
			t.Logf("module stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

// runMCU runs `atota mcu --once` and returns its exit code and output.
func runMCU(t *testing.T, port, target string, extra ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"mcu", "--port", port, "--target", target, "--once"}, extra...)
	out, err := exec.CommandContext(ctx, atotaBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("atota mcu: %v\n%s", err, out)
	return 0, ""
}

// TestTwoProcessesOverSocat runs atota module and atota mcu as separate
// processes on the two ends of a socat pty pair, both opening their end as
// a serial device.
func TestTwoProcessesOverSocat(t *testing.T) {
	socat := requireTool(t, "socat")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "ttyA"), filepath.Join(dir, "ttyB")
	sc := exec.Command(socat, "-d", "-d", "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Process.Kill(); sc.Wait() })
	waitFor(t, "socat's links", func() bool { return exists(a)() && exists(b)() })

	if err := writeDemoPlan(dir, 30000); err != nil {
		t.Fatal(err)
	}
	mod := startModule(t, dir, a)
	code, out := runMCU(t, b, "flashsim:"+filepath.Join(dir, "flash.bin"), "--sha256")
	if code != 0 || !strings.Contains(out, "updated STM32 1_0_0 -> 2_0_0: 30000 bytes in 4 pieces") {
		t.Fatalf("atota mcu: exit %d, want 0 and an update:\n%s", code, out)
	}
	if mod.ProcessState != nil {
		t.Fatal("the module exited when the MCU finished")
	}
}

// TestModuleServesNextConnection runs the module on pty: and connects to
// it three times in turn: an MCU refused by policy (exit 3), a client
// sending garbage, and an MCU that updates.
func TestModuleServesNextConnection(t *testing.T) {
	dir := t.TempDir()
	if err := writeDemoPlan(dir, 12000); err != nil {
		t.Fatal(err)
	}
	port := filepath.Join(dir, "module")
	startModule(t, dir, "pty:"+port)
	waitFor(t, "the module's pty link", exists(port))
	target := "flashsim:" + filepath.Join(dir, "flash.bin")

	code, out := runMCU(t, port, target, "--battery", "10")
	if code != exitPolicy || !strings.Contains(out, "battery 10% is below the plan's minimum 30%") {
		t.Fatalf("low battery: exit %d, want 3 and the reason:\n%s", code, out)
	}

	// Garbage, binary noise and an oversized line each get ERROR; the
	// module goes on answering.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rw, err := transport.Dial(ctx, port)
	if err != nil {
		t.Fatal(err)
	}
	lr := atcmd.NewLineReader(rw, 0)
	for _, in := range []string{"hello\r", "\x00\xff\x13\x37\r", "AT+" + strings.Repeat("X", 6000) + "\r", "AT+NOSUCH\r"} {
		io.WriteString(rw, in)
		for {
			l, err := lr.ReadLine()
			if err != nil {
				t.Fatalf("after %.20q: %v", in, err)
			}
			if string(l) == "ERROR" {
				break
			}
		}
	}
	io.WriteString(rw, "AT\r")
	for {
		l, err := lr.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		if string(l) == "OK" {
			break
		}
	}
	rw.Close()

	code, out = runMCU(t, port, target)
	if code != 0 || !strings.Contains(out, "updated STM32 1_0_0 -> 2_0_0") {
		t.Fatalf("second MCU: exit %d, want 0 and an update:\n%s", code, out)
	}
}
