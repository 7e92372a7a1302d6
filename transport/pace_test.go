package transport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestPaceKeepsBytes(t *testing.T) {
	a, b := Pipe()
	defer b.Close()
	p := Pace(a, 4_000_000, 10) // fast, so the test stays quick
	defer p.Close()
	want := make([]byte, 5000)
	for i := range want {
		want[i] = byte(i * 7)
	}
	for i := 0; i < len(want); i += 333 {
		send(t, p, string(want[i:min(i+333, len(want))]))
	}
	if got := readN(t, b, len(want)); !bytes.Equal(got, want) {
		t.Error("Pace changed the bytes")
	}
	send(t, b, "back")
	expect(t, p, "back")
}

func TestPaceZeroBaud(t *testing.T) {
	a, b := Pipe()
	defer a.Close()
	defer b.Close()
	if p := Pace(a, 0, 10); p != a {
		t.Errorf("Pace(rw, 0, 10) = %T, want rw itself", p)
	}
}

func TestPaceCloseWakesWrite(t *testing.T) {
	a, b := Pipe()
	defer b.Close()
	p := Pace(a, 300, 10) // 30 bytes/s: 3000 bytes would take 100 s
	done := returns(func() error {
		_, err := p.Write(make([]byte, 3000))
		return err
	})
	readN(t, b, 1) // the first chunk went out, the Write now waits for the line
	p.Close()
	if err := await(t, "paced Write after Close", done); !errors.Is(err, os.ErrClosed) {
		t.Errorf("paced Write interrupted by Close = %v, want os.ErrClosed", err)
	}
}

// BenchmarkPace reports the rate a paced writer achieves at 115200 8N1
// (11520 bytes/s is exact).
func BenchmarkPace(b *testing.B) {
	p := Pace(nopCloser{io.Discard}, 115200, 10)
	block := make([]byte, 1024)
	start := time.Now()
	n := 0
	for b.Loop() {
		p.Write(block)
		n += len(block)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "bytes/s")
}

type nopCloser struct{ io.Writer }

func (nopCloser) Read([]byte) (int, error) { return 0, io.EOF }
func (nopCloser) Close() error             { return nil }
