package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// atotaBin is the atota binary built once for the tests that run it as a
// separate process.
var atotaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "atota-bin-")
	if err != nil {
		panic(err)
	}
	atotaBin = filepath.Join(dir, "atota")
	build := exec.Command("go", "build", "-race", "-o", atotaBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("building atota: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestExitCodes(t *testing.T) {
	plans := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		code    int
		errText string // part of stderr
	}{
		{name: "help", args: []string{"--help"}, code: exitOK},
		{name: "version", args: []string{"--version"}, code: exitOK},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, errText: "unknown command"},
		{name: "unknown flag", args: []string{"mcu", "--frob"}, code: exitUsage, errText: "unknown flag"},
		{name: "mcu without port", args: []string{"mcu", "--target", "file:x"}, code: exitUsage, errText: "--port is required"},
		{name: "mcu without target", args: []string{"mcu", "--port", "/dev/null"}, code: exitUsage, errText: "--target is required"},
		{name: "mcu unpaired versions", args: []string{"mcu", "--port", "/dev/null", "--target", "file:x", "--component", "A", "--component", "B", "--version", "1"}, code: exitUsage, errText: "pairs"},
		{name: "module without plans", args: []string{"module", "--port", "pty:/tmp/x"}, code: exitUsage, errText: "--plans"},
		{name: "module bad port", args: []string{"module", "--port", "ftp://x", "--plans", plans}, code: exitUsage, errText: "ftp://x"},
		{name: "module bad csq", args: []string{"module", "--port", "pty:/tmp/x", "--plans", plans, "--csq", "40"}, code: exitUsage, errText: "--csq"},
		{name: "bad log format", args: []string{"demo", "--log-format", "xml"}, code: exitUsage, errText: "--log-format"},
		{name: "vport one link", args: []string{"vport", "--link", "/tmp/a"}, code: exitUsage, errText: "--link twice"},
		{name: "module missing plans dir", args: []string{"module", "--port", "pty:" + filepath.Join(t.TempDir(), "m"), "--plans", filepath.Join(plans, "nope")}, code: exitFailure, errText: "nope"},
		{name: "mcu bad target", args: []string{"mcu", "--port", "/dev/null", "--target", "flash:x"}, code: exitFailure, errText: "flashsim:FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.errText) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.errText)
			}
			if tt.code != exitOK && strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
				t.Errorf("error is not one line: %q", stderr.String())
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"demo", "module", "mcu", "vport"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{cmd, "--help"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		if !strings.Contains(stdout.String(), "Examples:") {
			t.Errorf("%s --help has no examples:\n%s", cmd, stdout.String())
		}
	}
}
