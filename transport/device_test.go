//go:build linux

package transport

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDeviceOnPTY(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{name: "8N1 115200"},
		{name: "8E1 57600", opts: []Option{WithParity(true), WithBaud(57600)}},
		{name: "non-standard baud", opts: []Option{WithBaud(250000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pairT(t)
			a, b := p.Paths()
			ca := dialT(t, a, tt.opts...)
			cb := dialT(t, b, tt.opts...)
			send(t, ca, "AT\r")
			expect(t, cb, "AT\r")
			send(t, cb, "\r\nOK\r\n")
			expect(t, ca, "\r\nOK\r\n")
		})
	}
}

func TestDeviceOpenErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		wantIs   error
		wantText string
	}{
		{name: "missing", path: filepath.Join(dir, "ttyUSB9"), wantIs: fs.ErrNotExist, wantText: "plugged in"},
		{name: "regular file", path: regular, wantText: "not a serial device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(testCtx(t), tt.path)
			if err == nil {
				c.Close()
				t.Fatalf("Dial(%s) succeeded, want an error", tt.path)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Dial(%s) = %v, want it to match %v", tt.path, err, tt.wantIs)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.path) || !strings.Contains(msg, tt.wantText) {
				t.Errorf("Dial(%s) error %q, want it to name the path and say %q", tt.path, msg, tt.wantText)
			}
		})
	}
}

func TestDevicePermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens any device; run as a normal user to test the permission message")
	}
	link := filepath.Join(t.TempDir(), "m")
	dialT(t, "pty:"+link)
	if err := os.Chmod(link, 0); err != nil { // chmod follows the link to the slave
		t.Fatal(err)
	}
	c, err := Dial(testCtx(t), link)
	if err == nil {
		c.Close()
		t.Fatalf("Dial(%s) on a mode 000 device succeeded", link)
	}
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "dialout") {
		t.Errorf("Dial(%s) = %v, want fs.ErrPermission and a hint about the dialout group", link, err)
	}
}

func TestDeviceListenerWaitsAndReopens(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyUSB0")
	l, err := Listen(testCtx(t), link)
	if err != nil {
		t.Fatalf("Listen(%s): %v", link, err)
	}
	defer l.Close()
	if l.Addr() != link {
		t.Errorf("Addr() = %q, want %q", l.Addr(), link)
	}

	// The device is absent: Accept waits until it appears.
	accepted := acceptAsync(t, l)
	<-shortly()
	uart := dialT(t, "pty:"+link) // the "adapter" is plugged in
	conn := await(t, "Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, uart, "hello")
	expect(t, conn, "hello")
	send(t, conn, "world")
	expect(t, uart, "world")

	// Unplugged: Read reports io.EOF, Write fails.
	uart.Close()
	if n, err := conn.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after unplug = %d, %v; want 0, io.EOF", n, err)
	}
	if _, err := conn.Write([]byte("x")); err == nil {
		t.Error("Write after unplug succeeded")
	}

	// Plugged in again: the next Accept reopens it.
	accepted = acceptAsync(t, l)
	uart = dialT(t, "pty:"+link)
	conn = await(t, "second Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, uart, "again")
	expect(t, conn, "again")

	// Closing the conn and accepting again reopens the same device.
	conn.Close()
	accepted = acceptAsync(t, l)
	conn = await(t, "third Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, conn, "third")
	expect(t, uart, "third")
}

func TestDeviceListenerAcceptCanceled(t *testing.T) {
	l, err := Listen(testCtx(t), filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := contextWithCancel(t)
	done := returns(func() error { _, err := l.Accept(ctx); return err })
	cancel()
	if err := await(t, "Accept after cancel", done); !errors.Is(err, errCanceled) {
		t.Errorf("Accept after cancel = %v, want context.Canceled", err)
	}
}

func TestDeviceCloseOnExec(t *testing.T) {
	link := filepath.Join(t.TempDir(), "m")
	dialT(t, "pty:"+link)
	before := openFDs()
	if before == nil {
		t.Skip("/proc/self/fd is not available")
	}
	dialT(t, link)
	for fd := range openFDs() {
		if before[fd] {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // closed meanwhile (the directory listing itself)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
			t.Errorf("fd %d (%s) opened by Dial is inherited by child processes", fd, target)
		}
	}
}
