package transport

import (
	"bytes"
	"errors"
	"io"
	"math/bits"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is a link end that keeps every Write as a chunk and has nothing
// to read.
type recorder struct {
	mu     sync.Mutex
	chunks [][]byte
	closed bool
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = append(r.chunks, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) Read(p []byte) (int, error) { return 0, io.EOF }

func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.chunks, nil)
}

func (r *recorder) writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.chunks)
}

// payload returns n bytes that are all different from their neighbours.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func TestFaultLinkOut(t *testing.T) {
	in := payload(4096)
	tests := []struct {
		name        string
		faults      LinkFaults
		wantLen     int // -1: between 1 and len(in)-1
		wantFlipped func(n int64) bool
		wantWrites  int // 0: any
	}{
		{name: "none", faults: LinkFaults{}, wantLen: len(in), wantFlipped: func(n int64) bool { return n == 0 }},
		{name: "flip every byte", faults: LinkFaults{FlipRate: 1}, wantLen: len(in), wantFlipped: func(n int64) bool { return n == int64(len(in)) }},
		{name: "flip some", faults: LinkFaults{FlipRate: 0.1}, wantLen: len(in), wantFlipped: func(n int64) bool { return n > 200 && n < 600 }},
		{name: "drop every byte", faults: LinkFaults{DropRate: 1}, wantLen: 0, wantFlipped: func(n int64) bool { return n == 0 }},
		{name: "drop some", faults: LinkFaults{DropRate: 0.1}, wantLen: -1, wantFlipped: func(n int64) bool { return n == 0 }},
		{name: "split", faults: LinkFaults{Split: true}, wantLen: len(in), wantFlipped: func(n int64) bool { return n == 0 }, wantWrites: len(in)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			l := NewFaultLink(rec, 42)
			if err := l.SetOut(tt.faults); err != nil {
				t.Fatal(err)
			}
			if n, err := l.Write(in); n != len(in) || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(in))
			}
			got := rec.bytes()
			switch {
			case tt.wantLen >= 0 && len(got) != tt.wantLen:
				t.Errorf("passed on %d bytes, want %d", len(got), tt.wantLen)
			case tt.wantLen < 0 && (len(got) == 0 || len(got) == len(in)):
				t.Errorf("passed on %d bytes, want some of %d dropped", len(got), len(in))
			}
			out, _ := l.Stats()
			if !tt.wantFlipped(out.Flipped) {
				t.Errorf("Stats().Flipped = %d: unexpected for %+v", out.Flipped, tt.faults)
			}
			if out.Bytes != int64(len(in)) || out.Dropped != int64(len(in)-len(got)) {
				t.Errorf("Stats() = %+v; want Bytes %d, Dropped %d", out, len(in), len(in)-len(got))
			}
			if tt.wantWrites > 0 && rec.writes() != tt.wantWrites {
				t.Errorf("%d writes passed on, want %d", rec.writes(), tt.wantWrites)
			}
			if tt.faults.DropRate == 0 {
				var flipped int64
				for i := range got {
					d := bits.OnesCount8(got[i] ^ in[i])
					if d > 1 {
						t.Fatalf("byte %d: %d bits flipped, want at most 1", i, d)
					}
					flipped += int64(d)
				}
				if flipped != out.Flipped {
					t.Errorf("%d bytes differ, Stats().Flipped = %d", flipped, out.Flipped)
				}
			}
		})
	}
}

// TestFaultLinkDeterministic: the fate of each byte depends on the seed
// and its position, not on how the stream was cut into writes.
func TestFaultLinkDeterministic(t *testing.T) {
	in := payload(3000)
	faults := LinkFaults{FlipRate: 0.05, DropRate: 0.05}
	run := func(seed uint64, chunk int) []byte {
		rec := &recorder{}
		l := NewFaultLink(rec, seed)
		if err := l.SetOut(faults); err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(in); off += chunk {
			l.Write(in[off:min(off+chunk, len(in))])
		}
		return rec.bytes()
	}
	whole := run(7, len(in))
	for _, chunk := range []int{1, 17, 1024} {
		if got := run(7, chunk); !bytes.Equal(got, whole) {
			t.Errorf("seed 7 in writes of %d bytes: the faults differ from one write", chunk)
		}
	}
	if bytes.Equal(run(8, len(in)), whole) {
		t.Error("seeds 7 and 8 gave the same faults")
	}
}

func TestFaultLinkIn(t *testing.T) {
	tests := []struct {
		name   string
		faults LinkFaults
		check  func(t *testing.T, in, got []byte, reads int)
	}{
		{name: "flip every byte", faults: LinkFaults{FlipRate: 1}, check: func(t *testing.T, in, got []byte, reads int) {
			if len(got) != len(in) {
				t.Fatalf("read %d bytes, want %d", len(got), len(in))
			}
			for i := range got {
				if bits.OnesCount8(got[i]^in[i]) != 1 {
					t.Fatalf("byte %d: %#x, sent %#x: want one bit flipped", i, got[i], in[i])
				}
			}
		}},
		{name: "split", faults: LinkFaults{Split: true}, check: func(t *testing.T, in, got []byte, reads int) {
			if !bytes.Equal(got, in) || reads != len(in) {
				t.Fatalf("read %q in %d reads, want %q in %d", got, reads, in, len(in))
			}
		}},
		{name: "drop half", faults: LinkFaults{DropRate: 0.5}, check: func(t *testing.T, in, got []byte, reads int) {
			if len(got) == 0 || len(got) == len(in) {
				t.Fatalf("read %d of %d bytes, want about half", len(got), len(in))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Pipe()
			l := NewFaultLink(b, 1)
			defer l.Close()
			if err := l.SetIn(tt.faults); err != nil {
				t.Fatal(err)
			}
			in := payload(64)
			send(t, a, string(in))
			a.Close()
			var got []byte
			reads := 0
			buf := make([]byte, 256)
			for {
				n, err := l.Read(buf)
				if n > 0 {
					reads++
					got = append(got, buf[:n]...)
				}
				if err != nil {
					break
				}
			}
			tt.check(t, in, got, reads)
		})
	}
}

func TestFaultLinkSetRejects(t *testing.T) {
	tests := []struct {
		name   string
		faults LinkFaults
	}{
		{name: "flip rate above 1", faults: LinkFaults{FlipRate: 1.5}},
		{name: "negative drop rate", faults: LinkFaults{DropRate: -0.1}},
		{name: "negative delay", faults: LinkFaults{Delay: -time.Second}},
		{name: "negative jitter", faults: LinkFaults{Jitter: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewFaultLink(&recorder{}, 1)
			if err := l.SetOut(tt.faults); err == nil {
				t.Errorf("SetOut(%+v) = nil, want an error", tt.faults)
			}
			if err := l.SetIn(tt.faults); err == nil {
				t.Errorf("SetIn(%+v) = nil, want an error", tt.faults)
			}
		})
	}
}

func TestFaultLinkDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		l := NewFaultLink(rec, 1)
		l.Write([]byte("before "))
		l.Down(2 * time.Second)
		if !l.IsDown() {
			t.Fatal("IsDown() = false right after Down")
		}
		if n, err := l.Write([]byte("lost")); n != 4 || err != nil {
			t.Fatalf("Write while down = %d, %v; want 4, nil", n, err)
		}
		time.Sleep(2 * time.Second)
		if l.IsDown() {
			t.Fatal("IsDown() = true after the loss ended")
		}
		l.Write([]byte("after"))
		if got := string(rec.bytes()); got != "before after" {
			t.Errorf("passed on %q, want %q", got, "before after")
		}
		out, _ := l.Stats()
		if out.Lost != 4 {
			t.Errorf("Stats().Lost = %d, want 4", out.Lost)
		}
	})
}

func TestFaultLinkDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		l := NewFaultLink(rec, 1)
		if err := l.SetOut(LinkFaults{Delay: time.Second, Jitter: 500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		l.Write([]byte("x"))
		if d := time.Since(start); d < time.Second || d > 1500*time.Millisecond {
			t.Errorf("write held back %v, want 1 s to 1.5 s", d)
		}
	})
}

func TestFaultLinkCloseWakesDelayedWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewFaultLink(&recorder{}, 1)
		if err := l.SetOut(LinkFaults{Delay: time.Hour}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := l.Write([]byte("x"))
			done <- err
		}()
		synctest.Wait()
		l.Close()
		if err := <-done; !errors.Is(err, os.ErrClosed) {
			t.Errorf("Write after Close = %v, want an error matching os.ErrClosed", err)
		}
	})
}
