//go:build linux

package transport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPairBothWays(t *testing.T) {
	dir := t.TempDir()
	linkA, linkB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	p, err := NewPair(linkA, linkB)
	if err != nil {
		t.Fatalf("NewPair: %v", err)
	}
	pa, pb := p.Paths()
	for _, path := range []string{pa, pb} {
		if !strings.HasPrefix(path, "/dev/pts/") {
			t.Errorf("Paths() gives %q, want /dev/pts/N", path)
		}
	}
	if pa == pb {
		t.Errorf("Paths() = %q, %q; want two ptys", pa, pb)
	}
	a := dialT(t, linkA)
	b := dialT(t, linkB)
	send(t, a, "AT+QIOTOTARD=0,1024\r")
	expect(t, b, "AT+QIOTOTARD=0,1024\r")
	block := bytes.Repeat([]byte{0x00, 0xff, 0x0d, 0x0a, 0x11, 0x13}, 20000) // binary, > pty buffer
	done := returns(func() error { _, err := b.Write(block); return err })
	if got := readN(t, a, len(block)); !bytes.Equal(got, block) {
		t.Error("binary block changed on its way through the pair")
	}
	if err := await(t, "Write", done); err != nil {
		t.Errorf("Write: %v", err)
	}

	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, link := range []string{linkA, linkB} {
		if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Lstat(%s) after Close = %v, want not exist", link, err)
		}
	}
}

func TestPairSideReopens(t *testing.T) {
	dir := t.TempDir()
	linkA, linkB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	p, err := NewPair(linkA, linkB)
	if err != nil {
		t.Fatalf("NewPair: %v", err)
	}
	defer p.Close()
	a := dialT(t, linkA)

	// B is not open: what A writes is dropped, and A does not block.
	send(t, a, strings.Repeat("lost", 64<<10))
	b := openSlave(t, linkB)
	send(t, a, "zero")
	// Bytes still in flight when B opened may arrive; nothing else may.
	if got := readUntil(t, b, "zero"); strings.Trim(got, "lost") != "" {
		t.Errorf("B read %q before the first message, want only dropped bytes in flight", got)
	}

	for i, msg := range []string{"one", "two", "three"} {
		if i > 0 {
			b = openSlave(t, linkB)
		}
		send(t, a, msg)
		expect(t, b, msg)
		send(t, b, "re:"+msg)
		expect(t, a, "re:"+msg)

		// B leaves without reading what A sent last: the next B must not
		// see it.
		flushes := p.sides[1].dev.flushes.Load()
		send(t, a, "unread by B")
		waitQueued(t, b, len("unread by B"))
		b.Close()
		waitFor(t, "the pair to see B go", func() bool { return p.sides[1].dev.flushes.Load() > flushes })
	}

	// A reopens too.
	a.Close()
	a = dialT(t, linkA)
	b = openSlave(t, linkB)
	send(t, b, "hello A")
	expect(t, a, "hello A")
	send(t, a, "hello B")
	expect(t, b, "hello B")
}

// openSlave opens a pty slave as a plain file, so the test can look at its
// input queue.
func openSlave(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// waitQueued waits until n bytes wait to be read on the tty f.
func waitQueued(t *testing.T, f *os.File, n int) {
	t.Helper()
	waitFor(t, "bytes queued on the slave", func() bool {
		q, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ)
		return err == nil && q >= n
	})
}

// readUntil reads from r until what it read ends with suffix and returns
// what came before suffix.
func readUntil(t *testing.T, r io.Reader, suffix string) string {
	t.Helper()
	var got []byte
	deadline := time.Now().Add(wait)
	for !bytes.HasSuffix(got, []byte(suffix)) {
		if time.Now().After(deadline) {
			t.Fatalf("read %d bytes, no %q at the end", len(got), suffix)
		}
		got = append(got, readSome(t, r)...)
	}
	return string(got[:len(got)-len(suffix)])
}
