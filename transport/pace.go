package transport

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Pace wraps rw so that its Writes take the time a UART at baud needs:
// bitsPerByte is 10 for 8N1 and 11 for 8E1 (values below 1 mean 10). Reads
// and Close pass through; Close also wakes a Write that is waiting for the
// line, which then returns an error matching os.ErrClosed. A baud of 0 or
// less returns rw unchanged.
//
// Pace keeps a time budget: a Write is cut into chunks of about 10 ms of
// line time, each chunk is written as soon as the line is free and only a
// Write that gets ahead of the line sleeps. Idle time is not saved up, so a
// burst after a pause is paced too.
func Pace(rw io.ReadWriteCloser, baud, bitsPerByte int) io.ReadWriteCloser {
	if baud <= 0 {
		return rw
	}
	if bitsPerByte < 1 {
		bitsPerByte = 10
	}
	chunk := baud / bitsPerByte / 100
	if chunk < 1 {
		chunk = 1
	}
	return &paced{
		rw:      rw,
		perByte: float64(time.Second) * float64(bitsPerByte) / float64(baud),
		chunk:   chunk,
		done:    make(chan struct{}),
	}
}

type paced struct {
	rw      io.ReadWriteCloser
	perByte float64 // nanoseconds per byte
	chunk   int     // bytes per chunk

	mu   sync.Mutex // serialises Writes: there is one line
	free time.Time  // when the line has sent everything written so far

	closeOnce sync.Once
	done      chan struct{}
}

func (p *paced) Read(b []byte) (int, error) { return p.rw.Read(b) }

func (p *paced) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	written := 0
	for len(b) > 0 {
		now := time.Now()
		if p.free.Before(now) {
			p.free = now
		} else if wait := p.free.Sub(now); wait > 0 && !p.sleep(wait) {
			return written, errPacedClosed
		}
		c := min(p.chunk, len(b))
		n, err := p.rw.Write(b[:c])
		written += n
		p.free = p.free.Add(time.Duration(float64(n) * p.perByte))
		if err != nil {
			return written, err
		}
		if n < c {
			return written, io.ErrShortWrite
		}
		b = b[n:]
	}
	return written, nil
}

// errPacedClosed is returned by a Write that Close interrupted.
var errPacedClosed = fmt.Errorf("transport: paced write: %w", os.ErrClosed)

// sleep waits for d and reports false if Close came first.
func (p *paced) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.done:
		return false
	}
}

func (p *paced) Close() error {
	p.closeOnce.Do(func() { close(p.done) })
	return p.rw.Close()
}
