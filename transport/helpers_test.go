package transport

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// wait bounds how long a test waits for something that should happen; it
// only guards against hangs, it asserts nothing about speed.
const wait = 10 * time.Second

// readN reads exactly n bytes from r or fails the test.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read %d bytes: %v", n, res.err)
		}
		return res.b
	case <-time.After(wait):
		t.Fatalf("read %d bytes: nothing after %v", n, wait)
	}
	return nil
}

// expect reads len(want) bytes from r and compares them with want.
func expect(t *testing.T, r io.Reader, want string) {
	t.Helper()
	if got := readN(t, r, len(want)); !bytes.Equal(got, []byte(want)) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// send writes s to w or fails the test.
func send(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("write %q = %d, %v; want %d, nil", s, n, err, len(s))
	}
}

// returns runs f in a goroutine and returns a channel that yields its error.
func returns(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// await waits for ch or fails the test.
func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("%s: nothing after %v", what, wait)
	}
	var zero T
	return zero
}

// testCtx returns a context canceled when the test ends.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*wait)
	t.Cleanup(cancel)
	return ctx
}

// dialT dials port and closes the connection when the test ends.
func dialT(t *testing.T, port string, opts ...Option) io.ReadWriteCloser {
	t.Helper()
	c, err := Dial(testCtx(t), port, opts...)
	if err != nil {
		t.Fatalf("Dial(%q): %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// needTool returns the path of an external tool, or skips the test; with
// ATOTA_INTEGRATION=1 a missing tool fails it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ATOTA_INTEGRATION") == "1" {
			t.Fatalf("%s not found and ATOTA_INTEGRATION=1: %v", name, err)
		}
		t.Skipf("%s not found (set ATOTA_INTEGRATION=1 to make this a failure): %v", name, err)
	}
	return p
}

var errCanceled = context.Canceled

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}

// shortly returns a channel that fires after a moment, to let a goroutine
// block before the test acts; correctness never depends on it.
func shortly() <-chan time.Time { return time.After(50 * time.Millisecond) }

var errRefused = syscall.ECONNREFUSED

// waitFor polls cond until it holds or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %v", what, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// readSome returns what one Read on r gives, or fails the test.
func readSome(t *testing.T, r io.Reader) []byte {
	t.Helper()
	ch := make(chan []byte, 1)
	errc := make(chan error, 1)
	go func() {
		b := make([]byte, 64<<10)
		n, err := r.Read(b)
		if n == 0 && err != nil {
			errc <- err
			return
		}
		ch <- b[:n]
	}()
	select {
	case b := <-ch:
		return b
	case err := <-errc:
		t.Fatalf("read: %v", err)
	case <-time.After(wait):
		t.Fatalf("read: nothing after %v", wait)
	}
	return nil
}

// acceptAsync starts an Accept and returns a channel with its result.
func acceptAsync(t *testing.T, l Listener) <-chan io.ReadWriteCloser {
	t.Helper()
	ctx := testCtx(t)
	ch := make(chan io.ReadWriteCloser, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		ch <- c
	}()
	return ch
}
