//go:build linux

package transport

import (
	"io"
	"path/filepath"
	"testing"
	"time"
)

// pacedPTY sends n bytes from a pty master paced to u (as atota module
// --baud-pace does) to a reader on the slave, and returns how long the
// last byte took to arrive.
func pacedPTY(tb testing.TB, u UART, n int) time.Duration {
	tb.Helper()
	link := filepath.Join(tb.TempDir(), "uart")
	m, err := Dial(tb.Context(), "pty:"+link)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	s, err := Dial(tb.Context(), link)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	p := u.Pace(m)

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := io.CopyN(io.Discard, s, int64(n))
		done <- err
	}()
	buf := payload(1024)
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := p.Write(buf[:min(len(buf), n-sent)]); err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			tb.Fatal(err)
		}
	case <-time.After(wait + u.Duration(int64(n))):
		tb.Fatalf("%d bytes did not arrive", n)
	}
	return time.Since(start)
}

// TestUARTModelMatchesPacedPTY compares the UART model with a pty paced
// to the same line. Pacing never runs ahead of the line, so the paced
// transfer takes at least the model's time less the one chunk Pace sends
// before it first waits; how much longer it takes depends on the machine
// and is logged, not asserted (BenchmarkUARTModel reports it).
func TestUARTModelMatchesPacedPTY(t *testing.T) {
	u := NewUART(115200)
	const n = 4096
	got := pacedPTY(t, u, n)
	chunk := u.Baud / u.BitsPerByte() / 100 // Pace's chunk: 10 ms of line time
	floor := u.Duration(n - int64(chunk))
	if got < floor {
		t.Errorf("%d bytes at %s over a paced pty took %v, faster than the line allows (at least %v)", n, u, got, floor)
	}
	t.Logf("%d bytes at %s: model %v, paced pty %v (%.3f of the model)", n, u, u.Duration(n), got, got.Seconds()/u.Duration(n).Seconds())
}

// BenchmarkUARTModel reports how long a paced pty takes relative to the
// UART model (1.0 is exact) at 115200 8N1.
func BenchmarkUARTModel(b *testing.B) {
	u := NewUART(115200)
	const n = 16 << 10
	var total time.Duration
	for b.Loop() {
		total += pacedPTY(b, u, n)
	}
	b.ReportMetric(total.Seconds()/float64(b.N)/u.Duration(n).Seconds(), "paced/model")
}
