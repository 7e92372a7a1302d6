//go:build linux

package transport

import (
	"io"
	"net"
	"path/filepath"
	"testing"
)

// TestCloseUnblocksRead checks, for every form, that closing a connection
// returns a Read blocked on it: callers cancel with
// context.AfterFunc(ctx, c.Close).
func TestCloseUnblocksRead(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) io.ReadWriteCloser // a conn with nothing to read
	}{
		{name: "pipe", open: func(t *testing.T) io.ReadWriteCloser {
			a, b := Pipe()
			t.Cleanup(func() { b.Close() })
			return a
		}},
		{name: "paced pipe", open: func(t *testing.T) io.ReadWriteCloser {
			a, b := Pipe()
			t.Cleanup(func() { b.Close() })
			return Pace(a, 115200, 10)
		}},
		{name: "pty master without peer", open: func(t *testing.T) io.ReadWriteCloser {
			return dialT(t, "pty:"+filepath.Join(t.TempDir(), "m"))
		}},
		{name: "pty master with peer", open: func(t *testing.T) io.ReadWriteCloser {
			link := filepath.Join(t.TempDir(), "m")
			m := dialT(t, "pty:"+link)
			dialT(t, link)
			return m
		}},
		{name: "pty accepted", open: func(t *testing.T) io.ReadWriteCloser {
			l, link := listenT(t)
			accepted := acceptAsync(t, l)
			dialT(t, link)
			return await(t, "Accept", accepted)
		}},
		{name: "serial device on /dev/pts/N", open: func(t *testing.T) io.ReadWriteCloser {
			p := pairT(t)
			a, _ := p.Paths()
			return dialT(t, a)
		}},
		{name: "serial device on a symlink", open: func(t *testing.T) io.ReadWriteCloser {
			link := filepath.Join(t.TempDir(), "m")
			dialT(t, "pty:"+link)
			return dialT(t, link)
		}},
		{name: "tcp", open: func(t *testing.T) io.ReadWriteCloser {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			return dialT(t, "tcp://"+ln.Addr().String())
		}},
		{name: "tcp-listen", open: func(t *testing.T) io.ReadWriteCloser {
			l, err := Listen(testCtx(t), "tcp-listen://:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			accepted := acceptAsync(t, l)
			dialT(t, "tcp://"+l.Addr())
			return await(t, "Accept", accepted)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.open(t)
			if c == nil {
				t.FailNow()
			}
			started := make(chan struct{})
			done := returns(func() error {
				close(started)
				_, err := c.Read(make([]byte, 64))
				return err
			})
			<-started
			// Give the Read a moment to block; the test passes either way.
			select {
			case err := <-done:
				t.Fatalf("Read returned before Close: %v", err)
			case <-shortly():
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// io.EOF would say the other end went away; it was this one.
			if err := await(t, "Read after Close", done); err == nil || err == io.EOF {
				t.Errorf("Read after Close = %v, want an error other than io.EOF", err)
			}
		})
	}
}

func pairT(t *testing.T) *Pair {
	t.Helper()
	dir := t.TempDir()
	p, err := NewPair(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	if err != nil {
		t.Fatalf("NewPair: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
