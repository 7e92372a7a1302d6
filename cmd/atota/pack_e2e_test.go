package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMCUDeltaEndToEnd is the delta update as a user runs it, each step a
// separate atota process: atota pack delta on two builds, a plan with
// package: delta, atota module on a pty and atota mcu into a flashsim
// target that runs the old build. A package signed with another key is
// refused with nothing written; the trusted one is applied, reading only
// the delta over the link.
func TestMCUDeltaEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fw := filepath.Join(dir, "plans", "firmware")
	if err := os.MkdirAll(fw, 0o755); err != nil {
		t.Fatal(err)
	}
	// Two builds: the second moves everything after a new function and
	// changes the version string.
	oldImg := demoFirmware(120000, "1_0_0")
	newImg := append(append(oldImg[:40000:40000], demoFirmware(700, "x")...), demoFirmware(120000, "2_0_0")[40000:]...)
	oldPath, newPath := filepath.Join(dir, "app-1.bin"), filepath.Join(dir, "app-2.bin")
	for path, b := range map[string][]byte{oldPath: oldImg, newPath: newImg} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	atota := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(atotaBin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("atota %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	atota("pack", "keygen", "-o", filepath.Join(dir, "release"))
	atota("pack", "keygen", "-o", filepath.Join(dir, "other"))
	pkgPath := filepath.Join(fw, "app-1-to-2.pkg")
	var built struct {
		Size int64 `json:"size"`
	}
	if err := json.Unmarshal([]byte(atota("pack", "delta", oldPath, newPath, "-o", pkgPath, "--sign", filepath.Join(dir, "release"), "--json")), &built); err != nil {
		t.Fatal(err)
	}
	if built.Size == 0 || built.Size*10 > int64(len(newImg)) {
		t.Fatalf("the delta is %d bytes for a %d-byte image: want under a tenth", built.Size, len(newImg))
	}
	now := time.Now().UTC()
	plan := fmt.Sprintf(`{"name": "app-2-delta", "product": "p1demo", "timezone": "+00:00",
  "window": {"start": %q, "end": %q}, "mode": "silent",
  "components": [{"type": "mcu", "id": "STM32", "package": "delta", "source_version": "1_0_0",
    "target_version": "2_0_0", "file": "firmware/app-1-to-2.pkg"}]}`,
		now.Add(-time.Hour).Format("2006-01-02 15:04"), now.Add(24*time.Hour).Format("2006-01-02 15:04"))
	if err := os.WriteFile(filepath.Join(dir, "plans", "delta.json"), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	flash := filepath.Join(dir, "flash.bin")
	atota("flash", "create", flash+"?part=stm32f407vg", "--image", oldPath)
	target := "flashsim:" + flash

	port := filepath.Join(dir, "module")
	startProc(t, "module", "--port", "pty:"+port, "--plans", filepath.Join(dir, "plans"), "--product", "p1demo",
		"--state", filepath.Join(dir, "state.json"), "--event-delay", "2ms", "--reg-delay", "5ms", "--piece-size", "8192")
	waitFor(t, "the module's pty", exists(port))
	journal := filepath.Join(dir, "mcu.journal")

	code, out := runMCU(t, port, target, "--journal", journal, "--verify-key", filepath.Join(dir, "other.pub"))
	if code != 1 || !strings.Contains(out, "bad package signature") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("atota mcu with another key: exit %d, want 1 and the bad signature:\n%s", code, out)
	}
	r := inspectJSON(t, flash)
	if got := activeImage(t, flash); got != sha(oldImg) {
		t.Fatalf("after the refusal the active slot holds %s, want the old image", got)
	}
	for _, s := range r.Slots {
		if s.State == "inactive" && s.Image != 0 {
			t.Errorf("after the refusal the inactive slot %s holds %d bytes, want it untouched (erased)", s.Name, s.Image)
		}
	}

	code, out = runMCU(t, port, target, "--journal", journal, "--verify-key", filepath.Join(dir, "release.pub"))
	blocks := (built.Size + 1023) / 1024
	want := fmt.Sprintf("updated STM32 1_0_0 -> 2_0_0: delta package, %d bytes in ", built.Size)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf(" %d blocks,", blocks)) || !strings.Contains(out, "signature ok") {
		t.Fatalf("atota mcu: exit %d, want 0 and %q in %d blocks:\n%s", code, want, blocks, out)
	}
	if got := activeImage(t, flash); got != sha(newImg) {
		t.Fatalf("the active slot holds %s, want the new image %s", got, sha(newImg))
	}
}
