package module_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/transport"
)

// rawMCU is a minimal MCU for benchmarks: it writes command lines and
// reads the answers off the link itself, so the figures are the module's
// and the link's, not a client library's.
type rawMCU struct {
	w io.Writer
	r *bufio.Reader
}

func newRawMCU(rw io.ReadWriter) *rawMCU { return &rawMCU{w: rw, r: bufio.NewReaderSize(rw, 8192)} }

// until reads lines until one starts with prefix and returns it.
func (c *rawMCU) until(prefix string) (string, error) {
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if l = strings.TrimRight(l, "\r\n"); strings.HasPrefix(l, prefix) {
			return l, nil
		}
		if l == "ERROR" {
			return "", fmt.Errorf("ERROR while waiting for %q", prefix)
		}
	}
}

// read sends AT+QIOTOTARD=start,n and returns the payload length; the
// payload is discarded.
func (c *rawMCU) read(start, n int64) (int64, error) {
	if _, err := io.WriteString(c.w, "AT+QIOTOTARD="+strconv.FormatInt(start, 10)+","+strconv.FormatInt(n, 10)+"\r\n"); err != nil {
		return 0, err
	}
	h, err := c.until("+QIOTOTARD: ")
	if err != nil {
		return 0, err
	}
	k, ok := otardLen(h)
	if !ok {
		return 0, fmt.Errorf("header %q", h)
	}
	if _, err := c.r.Discard(k); err != nil {
		return 0, err
	}
	_, err = c.until("OK")
	return int64(k), err
}

// piece waits for the next 7,10703 and returns its start and length.
func (c *rawMCU) piece() (start, n, total int64, err error) {
	l, err := c.until("+QIOTEVT: 7,10703,")
	if err != nil {
		return 0, 0, 0, err
	}
	var id string
	_, err = fmt.Sscanf(l, "+QIOTEVT: 7,10703,%q,%d,%d,%d", &id, &total, &start, &n)
	return start, n, total, err
}

// startUpdate takes a fresh module to the first piece of STM32.
func (c *rawMCU) startUpdate() error {
	for _, step := range []struct{ cmd, until string }{
		{"ATE0", "OK"},
		{`AT+QIOTMCUVER="STM32","1_0_0"`, "OK"},
		{"AT+QIOTREG=1", "+QIOTEVT: 3,10200"},
		{"AT+QIOTOTAREQ", "+QIOTEVT: 7,10700"},
		{"AT+QIOTUPDATE=1", "+QIOTEVT: 7,10702"},
	} {
		if _, err := io.WriteString(c.w, step.cmd+"\r\n"); err != nil {
			return err
		}
		if _, err := c.until(step.until); err != nil {
			return fmt.Errorf("%s: %w", step.cmd, err)
		}
	}
	return nil
}

// ptyModule serves m on a pty until the benchmark ends and returns the
// MCU's end, optionally paced like a UART at baud.
func ptyModule(b *testing.B, m *module.Module, baud int) io.ReadWriteCloser {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(b.TempDir(), "module")
	l, err := transport.Listen(ctx, "pty:"+path)
	if err != nil {
		cancel()
		b.Skipf("no pty: %v", err)
	}
	var ml module.Listener = l
	if baud > 0 {
		ml = pacedListener{l, baud}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Serve(ctx, ml)
	}()
	mcu, err := transport.Dial(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		mcu.Close()
		cancel()
		l.Close()
		<-done
	})
	return mcu
}

// pacedListener paces the module's output to a baud rate (8N1), as
// atota module --baud-pace does.
type pacedListener struct {
	transport.Listener
	baud int
}

func (l pacedListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	c, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return transport.Pace(c, l.baud, 10), nil
}

// benchModule returns a module with a package of size bytes in one piece.
func benchModule(b *testing.B, size int) *module.Module {
	b.Helper()
	p, _ := onePlan(b, size, 0)
	cfg := config(p.dir())
	cfg.Now = time.Now
	cfg.PlanPoll = time.Hour
	p.planWith("stm32-2.0.0", func(doc map[string]any) {
		doc["window"] = map[string]string{"start": "2000-01-01 00:00", "end": "2100-01-01 00:00"}
	}, comp{id: "STM32", target: "2_0_0", file: "firmware/stm32.bin"})
	cfg.PieceSize = size
	m, err := module.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkOTARDTurnaround times AT+QIOTOTARD=x,1024 over a real pty, from
// the command's first byte written to the OK read: the median and the
// 99th percentile (goal: median at most 1 ms).
func BenchmarkOTARDTurnaround(b *testing.B) {
	const size = 1 << 20
	m := benchModule(b, size)
	mcu := newRawMCU(ptyModule(b, m, 0))
	if err := mcu.startUpdate(); err != nil {
		b.Fatal(err)
	}
	if _, _, _, err := mcu.piece(); err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	var off int64
	for b.Loop() {
		t0 := time.Now()
		n, err := mcu.read(off, 1024)
		times = append(times, time.Since(t0))
		if err != nil || n != 1024 {
			b.Fatalf("read at %d: %d bytes, %v", off, n, err)
		}
		off = (off + 1024) % size
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBaudPace reads 32 KiB in 1024-byte reads over a pty paced to
// 115200 baud (as --baud-pace does) and reports the payload rate as a
// fraction of the 11,520 B/s the line carries (goal: at least 0.95).
func BenchmarkBaudPace(b *testing.B) {
	const size = 32 << 10
	m := benchModule(b, size)
	mcu := newRawMCU(ptyModule(b, m, 115200))
	if err := mcu.startUpdate(); err != nil {
		b.Fatal(err)
	}
	if _, _, _, err := mcu.piece(); err != nil {
		b.Fatal(err)
	}
	var payload int64
	var elapsed time.Duration
	for b.Loop() {
		t0 := time.Now()
		for off := int64(0); off < size; {
			n, err := mcu.read(off, 1024)
			if err != nil {
				b.Fatal(err)
			}
			off += n
		}
		elapsed += time.Since(t0)
		payload += size
	}
	rate := float64(payload) / elapsed.Seconds()
	b.ReportMetric(rate, "payload-B/s")
	b.ReportMetric(rate/11520, "of-line")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRSS100MB serves a 100 MB package from the offer to the last
// byte and reports the peak resident set of the process while it does
// (goal: at most 32 MB). The package is written, copied into the cache
// and read without ever being held in memory.
func BenchmarkRSS100MB(b *testing.B) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		b.Skip("no /proc/self/clear_refs to reset the peak RSS")
	}
	const size = 100 << 20
	for range b.N {
		b.StopTimer()
		p := newPlans(b)
		f, err := os.Create(filepath.Join(p.path, "firmware", "big.bin"))
		if err != nil {
			b.Fatal(err)
		}
		chunk := firmware(1<<20, 5)
		for range size >> 20 {
			f.Write(chunk)
		}
		f.Close()
		chunk = nil
		p.planWith("big", func(doc map[string]any) {
			doc["window"] = map[string]string{"start": "2000-01-01 00:00", "end": "2100-01-01 00:00"}
		}, comp{id: "STM32", target: "2_0_0", file: "firmware/big.bin"})
		cfg := config(p.dir())
		cfg.Now, cfg.PlanPoll = time.Now, time.Hour
		cfg.StatePath = filepath.Join(b.TempDir(), "module.json")
		runtime.GC()
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			b.Skipf("cannot reset the peak RSS: %v", err)
		}
		b.StartTimer()

		m, err := module.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		a, link := transport.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.Server().Serve(ctx, a)
		}()
		mcu := newRawMCU(link)
		if err := mcu.startUpdate(); err != nil {
			b.Fatal(err)
		}
		var served int64
		for {
			start, n, total, err := mcu.piece()
			if err != nil {
				b.Fatal(err)
			}
			for off := start; off < start+n; {
				k, err := mcu.read(off, 1024)
				if err != nil {
					b.Fatal(err)
				}
				off += k
				served += k
			}
			if start+n >= total {
				break
			}
			if _, err := io.WriteString(link, "AT+QIOTUPDATE=2\r\n"); err != nil {
				b.Fatal(err)
			}
		}
		if served != size {
			b.Fatalf("served %d bytes, want %d", served, size)
		}
		b.StopTimer()
		b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MB")
		link.Close()
		cancel()
		<-done
		m.Close()
		b.ReportMetric(float64(size)/(1<<20), "package-MB")
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
}

// peakRSS returns VmHWM, the peak resident set since the last reset.
func peakRSS(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for l := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(l, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(string(bytes.Fields(v)[0]), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
