package mcu

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
)

// execTarget stages the image in a file of the work directory, verified
// there, and hands it to a shell command on Commit: "{}" in the command
// is replaced by the file's path (quoted), or the path is appended; the
// environment has ATOTA_COMPONENT (the component ID) and ATOTA_IMAGE (the
// path). The command's exit status decides: non-zero fails the update
// and the old version is reported. What is verified is the staged file, read back;
// what the command does with it is the command's business.
type execTarget struct {
	command string
	dir     string
}

func openExecTarget(command string, cfg targetConfig) (*execTarget, error) {
	if strings.TrimSpace(command) == "" {
		return nil, fmt.Errorf("mcu: target exec: empty command; use exec:COMMAND, e.g. exec:st-flash write {} 0x08000000")
	}
	dir := cfg.workDir
	if dir == "" {
		dir = os.TempDir()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mcu: target exec:%s: %w", command, err)
	}
	return &execTarget{command: command, dir: abs}, nil
}

func (t *execTarget) Spec() string   { return "exec:" + t.command }
func (t *execTarget) String() string { return "exec:" + t.command }
func (t *execTarget) Close() error   { return nil }

func (t *execTarget) Capacity(context.Context) (int64, error) {
	free, err := freeSpace(t.dir)
	if err != nil {
		return 0, fmt.Errorf("mcu: target %s: free space in %s: %w", t, t.dir, err)
	}
	return free, nil
}

// staged returns the path of the staged image of a component: the same
// for every run with this command, so that a restart finds it.
func (t *execTarget) staged(component string) string {
	sum := sha256.Sum256([]byte(t.command + "\x00" + component))
	return filepath.Join(t.dir, "atota-exec-"+hex.EncodeToString(sum[:6])+".img")
}

func (t *execTarget) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	path := t.staged(spec.Component)
	partial := filepath.Join(t.dir, "."+filepath.Base(path)+".atota-partial")
	im, err := openFileImage(path, partial, spec, t)
	if err != nil {
		return nil, err
	}
	return &execImage{fileImage: im, t: t, component: spec.Component}, nil
}

// execImage is the staged file; Commit runs the command on it.
type execImage struct {
	*fileImage
	t         *execTarget
	component string
}

func (im *execImage) Commit(ctx context.Context) (string, error) {
	if _, err := im.fileImage.Commit(ctx); err != nil {
		return "", err
	}
	line := im.t.command
	quoted := shellQuote(im.path)
	if strings.Contains(line, "{}") {
		line = strings.ReplaceAll(line, "{}", quoted)
	} else {
		line += " " + quoted
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Env = append(os.Environ(), "ATOTA_COMPONENT="+im.component, "ATOTA_IMAGE="+im.path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mcu: target %s: %s: %w%s", im.t, line, err, lastLines(out.String(), 5))
	}
	return fmt.Sprintf("%s (%d bytes handed to %q)", im.path, im.written, line), nil
}

// Confirm removes the staged image: the command has it.
func (im *execImage) Confirm() error {
	im.Close()
	if err := os.Remove(im.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	return nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lastLines returns the last n lines of the command output, for an
// error message, or "".
func lastLines(s string, n int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "; its output ends: " + strings.Join(lines, " | ")
}
