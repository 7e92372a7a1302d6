// Package atcmdtest provides helpers for testing AT command servers and
// clients: a server and client joined by an in-memory link, and a recorder
// that turns a link's traffic into a readable transcript for golden files.
package atcmdtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

// Update is the -update flag: golden files are rewritten instead of compared.
var Update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Pair starts a Server for h on one end of an in-memory link and returns a
// Client on the other end. Both stop when the test ends.
func Pair(t testing.TB, h atcmd.Handler, opts ...atcmd.ServerOption) (*atcmd.Client, *atcmd.Server) {
	t.Helper()
	srv := atcmd.NewServer(h, opts...)
	return Connect(t, srv), srv
}

// Connect serves srv on one end of an in-memory link and returns a Client
// on the other end: for a Server built elsewhere (an emulated module's).
// Both stop when the test ends.
func Connect(t testing.TB, srv *atcmd.Server) *atcmd.Client {
	t.Helper()
	a, b := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, a)
	}()
	c := atcmd.NewClient(b)
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-done
	})
	return c
}

// Recorder wraps a link and records what goes each way, in order.
type Recorder struct {
	rw io.ReadWriteCloser

	mu   sync.Mutex
	segs []segment
}

type segment struct {
	sent bool
	data []byte
}

// NewRecorder returns a Recorder around rw; use it in place of rw.
func NewRecorder(rw io.ReadWriteCloser) *Recorder { return &Recorder{rw: rw} }

func (r *Recorder) add(sent bool, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.segs); n > 0 && r.segs[n-1].sent == sent {
		r.segs[n-1].data = append(r.segs[n-1].data, p...)
		return
	}
	r.segs = append(r.segs, segment{sent: sent, data: append([]byte(nil), p...)})
}

// Read reads from the link and records what was received.
func (r *Recorder) Read(p []byte) (int, error) {
	n, err := r.rw.Read(p)
	if n > 0 {
		r.add(false, p[:n])
	}
	return n, err
}

// Write records what is sent, then writes it to the link. Recording first
// keeps cause before effect: the peer's answer cannot be recorded before
// the command that caused it. Bytes the link then refused are recorded
// too.
func (r *Recorder) Write(p []byte) (int, error) {
	r.add(true, p)
	return r.rw.Write(p)
}

// Close closes the link.
func (r *Recorder) Close() error { return r.rw.Close() }

// Transcript renders the traffic one line per line sent ("> ") or
// received ("< "), quoted Go-style so CR, LF and binary bytes show. A
// received line that payload recognises as a payload header is followed by
// one summary line for the payload: its length and SHA-256 prefix.
func (r *Recorder) Transcript(payload atcmd.PayloadLength) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, s := range r.segs {
		dir := "< "
		if s.sent {
			dir = "> "
		}
		data := s.data
		for len(data) > 0 {
			i := strings.IndexByte(string(data), '\n')
			if i < 0 {
				i = len(data) - 1
			}
			piece := data[:i+1]
			data = data[i+1:]
			fmt.Fprintf(&b, "%s%q\n", dir, piece)
			if n, ok := header(payload, piece); ok && !s.sent && n <= len(data) {
				sum := sha256.Sum256(data[:n])
				fmt.Fprintf(&b, "%s[%d payload bytes, sha256 %s…]\n", dir, n, hex.EncodeToString(sum[:6]))
				data = data[n:]
			}
		}
	}
	return b.String()
}

func header(payload atcmd.PayloadLength, piece []byte) (int, bool) {
	if payload == nil {
		return 0, false
	}
	return payload(strings.TrimRight(string(piece), "\r\n"))
}

// Golden compares got with the file at path, or rewrites the file when the
// test runs with -update.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("transcript differs from %s (run with -update to accept):\n%s", path, diff(string(want), got))
	}
}

// diff shows the first lines where want and got differ.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, wl, gl)
		}
	}
	return ""
}
