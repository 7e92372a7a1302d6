package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The MCU side end to end: atota module and atota mcu as separate
// processes on a pty, with each target, a kill -9 in the middle, a module
// that goes away, and the policy refusals.

// startProc starts atota with args and stops it with SIGTERM at the end
// of the test; its combined output is returned by the func.
func startProc(t *testing.T, args ...string) (*exec.Cmd, func() string) {
	t.Helper()
	var mu sync.Mutex
	var out bytes.Buffer
	cmd := exec.Command(atotaBin, args...)
	w := lockedWriter{mu: &mu, w: &out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("atota %s:\n%s", args[0], out.String())
			mu.Unlock()
		}
	})
	return cmd, func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// moduleOn writes the demo plan with a package of size bytes into dir and
// serves it with atota module on a pty linked at dir/module.
func moduleOn(t *testing.T, dir string, size int, extra ...string) (port string, pkg []byte) {
	t.Helper()
	if err := writeDemoPlan(dir, size); err != nil {
		t.Fatal(err)
	}
	pkg, err := os.ReadFile(filepath.Join(dir, "plans", "firmware", "stm32-2_0_0.bin"))
	if err != nil {
		t.Fatal(err)
	}
	port = filepath.Join(dir, "module")
	args := append([]string{"module", "--port", "pty:" + port, "--plans", filepath.Join(dir, "plans"),
		"--product", "p1demo", "--state", filepath.Join(dir, "state.json"),
		"--event-delay", "2ms", "--reg-delay", "5ms", "--piece-size", "8192"}, extra...)
	startProc(t, args...)
	waitFor(t, "the module's pty", exists(port))
	return port, pkg
}

// flashServe runs atota flash serve on a pty at dir/stm32 over image.
func flashServe(t *testing.T, dir, image string) string {
	t.Helper()
	port := filepath.Join(dir, "stm32")
	startProc(t, "flash", "serve", "--port", "pty:"+port, "--image", image)
	waitFor(t, "flash serve's pty", exists(port))
	return port
}

// inspectJSON runs atota flash inspect --json.
func inspectJSON(t *testing.T, path string) flashReport {
	t.Helper()
	out, err := exec.Command(atotaBin, "flash", "inspect", "--json", path).Output()
	if err != nil {
		t.Fatalf("flash inspect: %v", err)
	}
	var r flashReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// activeImage returns the SHA-256 of the image in the active slot, per
// the boot record.
func activeImage(t *testing.T, path string) string {
	t.Helper()
	r := inspectJSON(t, path)
	for _, s := range r.Slots {
		if s.State == "active" && s.FromRecord && s.Matches != nil && *s.Matches {
			return s.SHA256
		}
	}
	t.Fatalf("%s: no active slot holds the record's image: %+v", path, r)
	return ""
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestMCUTargets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target func(t *testing.T, dir string) string
		check  func(t *testing.T, dir string, pkg []byte)
	}{
		{name: "flashsim", target: func(t *testing.T, dir string) string {
			return "flashsim:" + filepath.Join(dir, "flash.bin") + "?part=stm32f407vg"
		}, check: func(t *testing.T, dir string, pkg []byte) {
			if got := activeImage(t, filepath.Join(dir, "flash.bin")); got != sha(pkg) {
				t.Errorf("the active slot holds %s, want the package %s", got, sha(pkg))
			}
		}},
		{name: "file", target: func(t *testing.T, dir string) string {
			return "file:" + filepath.Join(dir, "app.bin")
		}, check: func(t *testing.T, dir string, pkg []byte) {
			sameFile(t, filepath.Join(dir, "app.bin"), pkg)
		}},
		{name: "exec", target: func(t *testing.T, dir string) string {
			return "exec:cp {} " + filepath.Join(dir, "flashed.bin")
		}, check: func(t *testing.T, dir string, pkg []byte) {
			sameFile(t, filepath.Join(dir, "flashed.bin"), pkg)
		}},
		{name: "stm32", target: func(t *testing.T, dir string) string {
			return "stm32:" + flashServe(t, dir, filepath.Join(dir, "stm32.bin")+"?part=stm32f103c8")
		}, check: func(t *testing.T, dir string, pkg []byte) {
			// stm32flash reads back what atota mcu wrote.
			stm32flash := requireTool(t, "stm32flash")
			back := filepath.Join(dir, "back.bin")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, stm32flash, "-m", "8n1", "-r", back, "-S", fmt.Sprintf("0x08000000:%d", len(pkg)), filepath.Join(dir, "stm32")).CombinedOutput()
			if err != nil {
				t.Fatalf("stm32flash -r: %v\n%s", err, out)
			}
			sameFile(t, back, pkg)
		}},
	}
	// One module serves them all: each MCU starts at 1_0_0.
	port, pkg := moduleOn(t, t.TempDir(), 30000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			target := tt.target(t, dir)
			code, out := runMCU(t, port, target, "--sha256", "--journal", filepath.Join(dir, "mcu.journal"))
			if code != 0 || !strings.Contains(out, "updated STM32 1_0_0 -> 2_0_0: 30000 bytes") || !strings.Contains(out, "SHA-256 ok") {
				t.Fatalf("atota mcu: exit %d, want 0 and an update:\n%s", code, out)
			}
			tt.check(t, dir, pkg)
			if tt.name != "flashsim" {
				return
			}
			// Run again: the journal says 2_0_0 runs, nothing is offered.
			code, out = runMCU(t, port, target, "--journal", filepath.Join(dir, "mcu.journal"), "--plan-timeout", "500ms")
			if code != 0 || !strings.Contains(out, "no update offered") {
				t.Errorf("second atota mcu: exit %d, want 0 and no update:\n%s", code, out)
			}
		})
	}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the %d-byte package", path, len(got), len(want))
	}
}

// journalCommitted returns the bytes the journal at path says are in
// the target, or -1.
func journalCommitted(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	var st struct {
		Transfer *struct {
			Committed int64 `json:"committed"`
		} `json:"transfer"`
	}
	if json.Unmarshal(b, &st) != nil || st.Transfer == nil {
		return -1
	}
	return st.Transfer.Committed
}

// TestMCUKillAndResume kills atota mcu with SIGKILL in the middle of a
// transfer and starts it again with the same journal: it goes on from
// the journal's byte, reading no block it had committed.
func TestMCUKillAndResume(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"flashsim:%s/flash.bin?part=w25q32", "file:%s/app.bin"} {
		t.Run(strings.Split(target, ":")[0], func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			const size = 200000
			port, pkg := moduleOn(t, dir, size)
			tg := fmt.Sprintf(target, dir)
			journal := filepath.Join(dir, "mcu.journal")
			cmd := exec.Command(atotaBin, "mcu", "--port", port, "--target", tg, "--journal", journal, "--once")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the journal to pass 50000 bytes", func() bool { return journalCommitted(journal) > 50000 })
			cmd.Process.Kill()
			cmd.Wait()
			committed := journalCommitted(journal)
			if committed <= 0 || committed >= size {
				t.Fatalf("journal after the kill: %d bytes committed", committed)
			}
			code, out := runMCU(t, port, tg, "--journal", journal)
			if code != 0 {
				t.Fatalf("restart: exit %d:\n%s", code, out)
			}
			blocks := (size - committed + 1023) / 1024
			want := fmt.Sprintf("%d blocks, ", blocks)
			if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("resumed at byte %d", committed)) {
				t.Fatalf("restart after the kill at byte %d: want %q and the resume point in:\n%s", committed, want, out)
			}
			if strings.HasPrefix(tg, "file:") {
				sameFile(t, filepath.Join(dir, "app.bin"), pkg)
			} else if got := activeImage(t, filepath.Join(dir, "flash.bin")); got != sha(pkg) {
				t.Errorf("the active slot holds %s, want the package", got)
			}
		})
	}
}

// TestMCUModuleRestart kills the module in the middle of a transfer and
// starts it again later: the MCU waits for it and goes on.
//
// Not parallel, and the link is removed as soon as the module is killed:
// a killed module leaves its pty link behind, pointing at a /dev/pts
// number that another test's new pty may take, and the MCU would reach
// that test's module (and, told of another image, start over: the
// journal keeps images apart).
func TestMCUModuleRestart(t *testing.T) {
	dir := t.TempDir()
	if err := writeDemoPlan(dir, 300000); err != nil {
		t.Fatal(err)
	}
	port := filepath.Join(dir, "module")
	args := []string{"module", "--port", "pty:" + port, "--plans", filepath.Join(dir, "plans"), "--product", "p1demo",
		"--state", filepath.Join(dir, "state.json"), "--event-delay", "2ms", "--reg-delay", "5ms", "--piece-size", "4096"}
	mod := exec.Command(atotaBin, args...)
	if err := mod.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the module's pty", exists(port))
	journal := filepath.Join(dir, "mcu.journal")
	_, output := startProc(t, "mcu", "--port", port, "--target", "file:"+filepath.Join(dir, "app.bin"), "--journal", journal, "--once")
	waitFor(t, "the journal to pass 50000 bytes", func() bool { return journalCommitted(journal) > 50000 })
	mod.Process.Kill()
	os.Remove(port)
	mod.Wait()
	time.Sleep(1500 * time.Millisecond)
	startProc(t, args...)
	waitFor(t, "the update", func() bool { return strings.Contains(output(), "updated STM32") })
	if out := output(); !strings.Contains(out, "waiting for the module") || !strings.Contains(out, "resumed at byte") {
		t.Errorf("want the wait and the resume in:\n%s", out)
	}
	pkg, _ := os.ReadFile(filepath.Join(dir, "plans", "firmware", "stm32-2_0_0.bin"))
	sameFile(t, filepath.Join(dir, "app.bin"), pkg)
}

func TestMCUPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port, _ := moduleOn(t, dir, 40000)
	bat := filepath.Join(dir, "capacity")
	os.WriteFile(bat, []byte("20\n"), 0o644)
	tests := []struct {
		name    string
		target  string
		args    []string
		wantOut string
	}{
		{name: "battery file", args: []string{"--battery-file", bat}, wantOut: "battery 20% is below the plan's minimum 30% (short by 10%)"},
		{name: "battery command", args: []string{"--battery-cmd", "echo 25"}, wantOut: "battery 25% is below the plan's minimum 30% (short by 5%)"},
		{name: "space", target: "flashsim:" + filepath.Join(dir, "small.bin"), wantOut: "below the plan's 40000 bytes (short by 8256 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = "file:" + filepath.Join(dir, "app.bin")
			}
			code, out := runMCU(t, port, target, tt.args...)
			if code != exitPolicy || !strings.Contains(out, tt.wantOut) {
				t.Fatalf("exit %d, want 3 and %q:\n%s", code, tt.wantOut, out)
			}
		})
	}
	t.Run("without --once, when the battery is charged", func(t *testing.T) {
		_, output := startProc(t, "mcu", "--port", port, "--target", "file:"+filepath.Join(dir, "app.bin"),
			"--battery-file", bat, "--policy-poll", "200ms", "--poll", "1h")
		waitFor(t, "the refusal", func() bool { return strings.Contains(output(), "asking again once the refused minimum is met") })
		os.WriteFile(bat, []byte("45\n"), 0o644)
		waitFor(t, "the update", func() bool { return strings.Contains(output(), "updated STM32") })
	})
}

func TestMCUSignalUnknown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port, _ := moduleOn(t, dir, 5000, "--csq", "99")
	code, out := runMCU(t, port, "file:"+filepath.Join(dir, "app.bin"))
	if code != exitPolicy || !strings.Contains(out, "signal unknown (AT+CSQ rssi 99)") {
		t.Fatalf("exit %d, want 3 and the signal:\n%s", code, out)
	}
}

func TestMCUFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		errText string
	}{
		{name: "crc", args: []string{"--crc", "xor"}, errText: "--crc"},
		{name: "timeout", args: []string{"--read-timeout", "0s"}, errText: "--read-timeout must be positive"},
		{name: "journal of another target", args: []string{"--journal", "JOURNAL"}, errText: "belongs to target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := filepath.Join(dir, "j.json")
			os.WriteFile(j, []byte(`{"format":1,"target":"file:/elsewhere"}`), 0o644)
			args := []string{"mcu", "--port", "/dev/null", "--target", "file:" + filepath.Join(dir, "a.bin")}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "JOURNAL", j))
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), tt.errText) {
				t.Errorf("exit %d, stderr %q; want an error with %q", code, stderr.String(), tt.errText)
			}
		})
	}
}

// TestMCUTwoComponentsKill updates two components in plan order, each
// handed to a command that keeps it by component, and kills the MCU in
// the middle of the second: the restart reports the first as updated
// (the journal says so) and resumes the second.
func TestMCUTwoComponentsKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fw := filepath.Join(dir, "plans", "firmware")
	os.MkdirAll(fw, 0o755)
	a, b := demoFirmware(60000, "A2"), demoFirmware(150000, "B2")
	os.WriteFile(filepath.Join(fw, "a.bin"), a, 0o644)
	os.WriteFile(filepath.Join(fw, "b.bin"), b, 0o644)
	now := time.Now().UTC()
	planJSON := fmt.Sprintf(`{"name": "two", "product": "p1demo", "timezone": "+00:00",
  "window": {"start": %q, "end": %q}, "mode": "silent", "strategy": {"retries": 2},
  "components": [
    {"type": "mcu", "id": "STM32", "package": "full", "target_version": "2_0_0", "file": "firmware/a.bin"},
    {"type": "mcu", "id": "BLE", "package": "full", "target_version": "1.1", "file": "firmware/b.bin"}]}`,
		now.AddDate(0, 0, -1).Format("2006-01-02 15:04"), now.AddDate(1, 0, 0).Format("2006-01-02 15:04"))
	os.WriteFile(filepath.Join(dir, "plans", "two.json"), []byte(planJSON), 0o644)
	port := filepath.Join(dir, "module")
	startProc(t, "module", "--port", "pty:"+port, "--plans", filepath.Join(dir, "plans"), "--product", "p1demo",
		"--state", filepath.Join(dir, "state.json"), "--event-delay", "2ms", "--reg-delay", "5ms", "--piece-size", "8192")
	waitFor(t, "the module's pty", exists(port))

	journal := filepath.Join(dir, "mcu.journal")
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	args := []string{"mcu", "--port", port, "--target", "exec:cp {} " + out + "/$ATOTA_COMPONENT.bin", "--journal", journal,
		"--component", "STM32", "--version", "1_0_0", "--component", "BLE", "--version", "1.0", "--once"}
	cmd := exec.Command(atotaBin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "BLE half way", func() bool {
		b, _ := os.ReadFile(journal)
		return bytes.Contains(b, []byte(`"component": "BLE"`)) && journalCommitted(journal) > 30000
	})
	cmd.Process.Kill()
	cmd.Wait()
	sameFile(t, filepath.Join(out, "STM32.bin"), a)
	committed := journalCommitted(journal)
	code, got := runMCU(t, port, "exec:cp {} "+out+"/$ATOTA_COMPONENT.bin", args[5:len(args)-1]...)
	if code != 0 || !strings.Contains(got, "updated BLE 1.0 -> 1.1: 150000 bytes in") || !strings.Contains(got, fmt.Sprintf("resumed at byte %d", committed)) {
		t.Fatalf("restart: exit %d, want BLE resumed at %d:\n%s", code, committed, got)
	}
	if strings.Contains(got, "updated STM32") {
		t.Errorf("STM32 updated again after the restart:\n%s", got)
	}
	sameFile(t, filepath.Join(out, "BLE.bin"), b)
}
