//go:build linux

package transport

import (
	"io"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPTY measures throughput from a pty master (Dial("pty:...")) to a
// process reading its slave through go.bug.st/serial (Dial(link)).
func BenchmarkPTY(b *testing.B) {
	link := filepath.Join(b.TempDir(), "bench")
	m, err := Dial(b.Context(), "pty:"+link)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	s, err := Dial(b.Context(), link)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	const block = 32 << 10
	buf := make([]byte, block)
	b.SetBytes(block)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, s, int64(b.N)*block)
		done <- err
	}()
	for range b.N {
		if _, err := m.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)*block/time.Since(start).Seconds(), "bytes/s")
}
