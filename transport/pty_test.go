//go:build linux

package transport

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// listenT listens on a pty linked in a temporary directory.
func listenT(t *testing.T) (Listener, string) {
	t.Helper()
	link := filepath.Join(t.TempDir(), "module")
	l, err := Listen(testCtx(t), "pty:"+link)
	if err != nil {
		t.Fatalf("Listen(pty:%s): %v", link, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, link
}

func TestPTYListenerPeerComesAndGoes(t *testing.T) {
	l, link := listenT(t)
	if addr := l.Addr(); !strings.HasPrefix(addr, link+" -> /dev/pts/") {
		t.Errorf("Addr() = %q, want %q -> /dev/pts/N", addr, link)
	}
	accepted := acceptAsync(t, l)

	// The MCU side opens the slave through its symlink with go.bug.st/serial.
	peer, err := Dial(testCtx(t), link)
	if err != nil {
		t.Fatalf("Dial(%s): %v", link, err)
	}
	conn := await(t, "Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, peer, "AT+QIOTREG?\r")
	expect(t, conn, "AT+QIOTREG?\r")
	send(t, conn, "\r\n+QIOTREG: 1\r\n\r\nOK\r\n")
	expect(t, peer, "\r\n+QIOTREG: 1\r\n\r\nOK\r\n")

	// The module writes something the peer never reads; then the peer goes.
	send(t, conn, "stale")
	send(t, peer, "last")
	if err := peer.Close(); err != nil {
		t.Fatalf("peer Close: %v", err)
	}
	expect(t, conn, "last")
	if n, err := conn.Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want 0, io.EOF", n, err)
	}
	if _, err := conn.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write after the peer closed = %v, want io.ErrClosedPipe", err)
	}
	if err := conn.Close(); err != nil {
		t.Errorf("conn Close: %v", err)
	}

	// A new peer: the next Accept returns and the line starts clean.
	accepted = acceptAsync(t, l)
	peer = dialT(t, link)
	conn = await(t, "second Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	send(t, conn, "fresh")
	expect(t, peer, "fresh") // would read "stale" had it not been flushed
	send(t, peer, "again")
	expect(t, conn, "again")
}

func TestPTYAcceptBeforeAndAfterOpen(t *testing.T) {
	tests := []struct {
		name      string
		openFirst bool // the peer opens the slave before Accept is called
	}{
		{name: "accept then open", openFirst: false},
		{name: "open then accept", openFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, link := listenT(t)
			var peer io.ReadWriteCloser
			if tt.openFirst {
				peer = dialT(t, link)
			}
			accepted := acceptAsync(t, l)
			if !tt.openFirst {
				peer = dialT(t, link)
			}
			conn := await(t, "Accept", accepted)
			if conn == nil {
				t.FailNow()
			}
			send(t, peer, "ping")
			expect(t, conn, "ping")
		})
	}
}

func TestPTYAcceptCanceled(t *testing.T) {
	l, _ := listenT(t)
	ctx, cancel := contextWithCancel(t)
	done := returns(func() error { _, err := l.Accept(ctx); return err })
	cancel()
	if err := await(t, "Accept after cancel", done); !errors.Is(err, errCanceled) {
		t.Errorf("Accept after cancel = %v, want context.Canceled", err)
	}
	done = returns(func() error { _, err := l.Accept(testCtx(t)); return err })
	l.Close()
	if err := await(t, "Accept after Close", done); err == nil {
		t.Error("Accept after Close succeeded")
	}
}

func TestPTYListenerCloseRemovesLink(t *testing.T) {
	l, link := listenT(t)
	if _, err := os.Lstat(link); err != nil {
		t.Fatalf("symlink missing after Listen: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Lstat after Close = %v, want not exist", err)
	}
}

func TestPTYSymlink(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, link string)
		wantErr string
		exist   bool // the error matches fs.ErrExist: waiting will not help
	}{
		{name: "absent", prepare: func(*testing.T, string) {}},
		{name: "stale symlink", prepare: func(t *testing.T, link string) {
			if err := os.Symlink("/dev/pts/does-not-exist", link); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "link to a pty in use", wantErr: "a pty that is open", exist: true, prepare: func(t *testing.T, link string) {
			other := filepath.Join(t.TempDir(), "other")
			l, err := Listen(testCtx(t), "pty:"+other)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			target, err := os.Readlink(other)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "regular file", wantErr: "exists and is not a symlink", exist: true, prepare: func(t *testing.T, link string) {
			if err := os.WriteFile(link, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "directory", wantErr: "exists and is not a symlink", exist: true, prepare: func(t *testing.T, link string) {
			if err := os.Mkdir(link, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "missing directory", wantErr: "check that the directory exists", prepare: func(t *testing.T, link string) {
			if err := os.Remove(filepath.Dir(link)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := filepath.Join(t.TempDir(), "sub", "link")
			if err := os.Mkdir(filepath.Dir(link), 0o700); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, link)
			c, err := Dial(testCtx(t), "pty:"+link)
			if tt.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("Dial(pty:%s) succeeded, want an error", link)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), link) {
					t.Errorf("Dial(pty:%s) error %q, want it to name the path and say %q", link, err, tt.wantErr)
				}
				if errors.Is(err, fs.ErrExist) != tt.exist {
					t.Errorf("Dial(pty:%s) error %q: errors.Is fs.ErrExist = %v, want %v", link, err, !tt.exist, tt.exist)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial(pty:%s): %v", link, err)
			}
			target, err := os.Readlink(link)
			if err != nil || !strings.HasPrefix(target, "/dev/pts/") {
				t.Errorf("Readlink = %q, %v; want /dev/pts/N", target, err)
			}
			c.Close()
			if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Lstat after Close = %v, want not exist", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(link))
			if len(entries) != 0 {
				t.Errorf("left behind in the directory: %v", entries)
			}
		})
	}
}

func TestPTYMasterAsUART(t *testing.T) {
	link := filepath.Join(t.TempDir(), "mcu")
	m := dialT(t, "pty:"+link)

	// Nobody has the slave open: writes are dropped without blocking.
	big := bytes.Repeat([]byte("x"), 256<<10)
	if n, err := m.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write with no peer = %d, %v; want %d, nil", n, err, len(big))
	}

	// A Read waits for a peer, across peers that come and go.
	for i, msg := range []string{"first", "second"} {
		peer, err := Dial(testCtx(t), link)
		if err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
		send(t, peer, msg)
		expect(t, m, msg)
		send(t, m, "re:"+msg)
		expect(t, peer, "re:"+msg)
		peer.Close()
	}
}

func TestPTYWriteWaitsForSlowPeer(t *testing.T) {
	l, link := listenT(t)
	accepted := acceptAsync(t, l)
	peer := dialT(t, link)
	conn := await(t, "Accept", accepted)
	if conn == nil {
		t.FailNow()
	}
	// More than the pty holds: the Write must wait for the peer to read.
	want := bytes.Repeat([]byte("0123456789"), 50_000)
	done := returns(func() error { _, err := conn.Write(want); return err })
	if got := readN(t, peer, len(want)); !bytes.Equal(got, want) {
		t.Error("the peer read other bytes than were written")
	}
	if err := await(t, "Write", done); err != nil {
		t.Errorf("Write: %v", err)
	}

	// A Write blocked on a full pty returns when the peer goes away.
	done = returns(func() error { _, err := conn.Write(want); return err })
	peer.Close()
	if err := await(t, "Write after the peer closed", done); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("blocked Write after the peer closed = %v, want io.ErrClosedPipe", err)
	}
}

func TestPTYSlaveIsRaw(t *testing.T) {
	link := filepath.Join(t.TempDir(), "m")
	dialT(t, "pty:"+link)
	for round := range 2 { // at creation, and after a peer came and went
		fd, err := unix.Open(link, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		if got := tio.Lflag & (unix.ECHO | unix.ICANON | unix.ISIG); got != 0 {
			t.Errorf("round %d: slave lflag has %#x of ECHO|ICANON|ISIG, want none", round, got)
		}
		if got := tio.Oflag & unix.OPOST; got != 0 {
			t.Errorf("round %d: slave has OPOST, want raw output", round)
		}
		if got := tio.Iflag & (unix.ICRNL | unix.IXON); got != 0 {
			t.Errorf("round %d: slave iflag has %#x of ICRNL|IXON, want none", round, got)
		}
	}
}

func TestPTYAcceptClosesPrevious(t *testing.T) {
	l, link := listenT(t)
	accepted := acceptAsync(t, l)
	peer := dialT(t, link)
	first := await(t, "Accept", accepted)
	if first == nil {
		t.FailNow()
	}
	// The peer stays; the caller accepts again without closing first.
	second, err := l.Accept(testCtx(t))
	if err != nil {
		t.Fatalf("second Accept: %v", err)
	}
	if _, err := first.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Errorf("Read on the replaced connection = %v, want a closed error", err)
	}
	send(t, peer, "still here")
	expect(t, second, "still here")
}
