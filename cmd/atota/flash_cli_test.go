package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stm32flashRun runs the real stm32flash with args and fails the test on
// a non-zero exit.
func stm32flashRun(t *testing.T, args ...string) string {
	t.Helper()
	bin := requireTool(t, "stm32flash")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("stm32flash %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestFlashServeStm32flash writes, verifies and reads back an image with
// the real stm32flash against atota flash serve on a pty (8N1: a pty
// cannot carry parity).
func TestFlashServeStm32flash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		part   string
		size   int
		device string // what stm32flash reports
	}{
		{part: "stm32f103c8", size: 3000, device: "0x0410"},
		{part: "stm32f407vg", size: 70001, device: "0x0413"},
	}
	for _, tt := range tests {
		t.Run(tt.part, func(t *testing.T) {
			t.Parallel()
			requireTool(t, "stm32flash")
			dir := t.TempDir()
			img := demoFirmware(tt.size, "x")
			app := filepath.Join(dir, "app.bin")
			os.WriteFile(app, img, 0o644)
			flash := filepath.Join(dir, "flash.bin")
			port := flashServe(t, dir, flash+"?part="+tt.part)
			out := stm32flashRun(t, "-m", "8n1", "-w", app, "-v", "-g", "0x0", port)
			if !strings.Contains(out, "Device ID    : "+tt.device) || !strings.Contains(out, "Starting execution at address 0x08000000... done") {
				t.Errorf("stm32flash -w output:\n%s", out)
			}
			back := filepath.Join(dir, "back.bin")
			stm32flashRun(t, "-m", "8n1", "-r", back, "-S", fmt.Sprintf("0x08000000:%d", tt.size), port)
			sameFile(t, back, img)
			// What the host was told is written is in the file already.
			r := inspectJSON(t, flash)
			used := len(img)
			for used > 0 && img[used-1] == 0xFF {
				used--
			}
			sum := sha256.Sum256(img[:used])
			if a := r.Slots[0]; a.Name != "A" || a.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("flash inspect: slot A %+v, want the image stm32flash wrote", a)
			}
		})
	}
}

func TestFlashCreateInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := filepath.Join(dir, "app.bin")
	img := demoFirmware(5000, "1_0_0")
	os.WriteFile(app, img, 0o644)
	flash := filepath.Join(dir, "flash.bin")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"flash", "create", flash + "?part=nrf52840", "--image", app}, &stdout, &stderr); code != 0 {
		t.Fatalf("flash create: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "slot B active with") {
		t.Errorf("flash create said %q", stdout.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"flash", "create", flash}, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "--force") {
		t.Errorf("flash create over a file: exit %d, %q; want 1 and --force", code, stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"flash", "inspect", flash}, &stdout, &stderr); code != 0 {
		t.Fatalf("flash inspect: exit %d", code)
	}
	for _, want := range []string{"nrf52840, 1.0 MiB in 256 sectors", "slot B  [0x7f000, 0xfe000)  508.0 KiB  active",
		"image 5000 bytes (per the boot record; matches the record's SHA-256)", "#3: active B, pending none"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("flash inspect lacks %q:\n%s", want, stdout.String())
		}
	}
	if got := activeImage(t, flash); got != sha(img) {
		t.Errorf("active image %s, want %s", got, sha(img))
	}
}

func TestFlashUsage(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		errText string
	}{
		{name: "no subcommand", args: []string{"flash"}, code: exitUsage, errText: "inspect, create or serve"},
		{name: "serve without port", args: []string{"flash", "serve", "--image", "x.bin"}, code: exitUsage, errText: "--port is required"},
		{name: "serve without image", args: []string{"flash", "serve", "--port", "pty:/tmp/x"}, code: exitUsage, errText: "--image"},
		{name: "serve bad part", args: []string{"flash", "serve", "--port", "pty:/tmp/x", "--image", "x.bin?part=z80"}, code: exitUsage, errText: "unknown part"},
		{name: "serve nrf", args: []string{"flash", "serve", "--port", "pty:PTY", "--image", "FLASH?part=nrf52840"}, code: exitFailure, errText: "no STM32 ROM bootloader"},
		{name: "inspect missing", args: []string{"flash", "inspect", "/nonexistent/flash.bin"}, code: exitFailure, errText: "no such file"},
		{name: "inspect no file", args: []string{"flash", "inspect"}, code: exitUsage, errText: "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				a = strings.ReplaceAll(a, "PTY", filepath.Join(dir, "pty"))
				args[i] = strings.ReplaceAll(a, "FLASH", filepath.Join(dir, "flash.bin"))
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.errText) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.errText)
			}
		})
	}
}
