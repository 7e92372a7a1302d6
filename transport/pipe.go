package transport

import (
	"io"
	"sync"
)

// Pipe returns two connected in-memory ends, for tests. What one end writes
// the other reads. The buffer is unbounded, so a Write never waits for the
// reader.
//
// When either end is closed, the other end's Read returns the bytes still
// buffered for it and then io.EOF. Read and Write on an end that is closed,
// and Write towards a closed end, return io.ErrClosedPipe. Closing an end
// unblocks a Read pending on it.
func Pipe() (a, b io.ReadWriteCloser) {
	p := &pipe{}
	p.cond.L = &p.mu
	return &pipeEnd{p: p, id: 0}, &pipeEnd{p: p, id: 1}
}

// pipe is the state shared by both ends: buf[i] holds the bytes waiting to
// be read by end i, closed[i] reports whether end i was closed.
type pipe struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    [2][]byte
	closed [2]bool
}

type pipeEnd struct {
	p  *pipe
	id int
}

func (e *pipeEnd) Read(b []byte) (int, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(b) > 0 && len(p.buf[e.id]) == 0 && !p.closed[0] && !p.closed[1] {
		p.cond.Wait()
	}
	switch {
	case p.closed[e.id]:
		return 0, io.ErrClosedPipe
	case len(b) == 0:
		return 0, nil
	case len(p.buf[e.id]) == 0:
		return 0, io.EOF
	}
	n := copy(b, p.buf[e.id])
	p.buf[e.id] = p.buf[e.id][n:]
	if len(p.buf[e.id]) == 0 {
		p.buf[e.id] = nil
	}
	return n, nil
}

func (e *pipeEnd) Write(b []byte) (int, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed[0] || p.closed[1] {
		return 0, io.ErrClosedPipe
	}
	if len(b) == 0 {
		return 0, nil
	}
	peer := 1 - e.id
	p.buf[peer] = append(p.buf[peer], b...)
	p.cond.Broadcast()
	return len(b), nil
}

func (e *pipeEnd) Close() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed[e.id] {
		p.closed[e.id] = true
		p.buf[e.id] = nil
		p.cond.Broadcast()
	}
	return nil
}
