package scenario

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// socket is one end of the link, where a device attaches: the emulated
// module after each boot, the emulated MCU after each reset. The link end
// stays open while devices come and go, as a UART stays wired while the
// chip behind it reboots. One goroutine, owned by the socket, reads the
// link end and hands the bytes to the device attached, or drops them
// when none is; close stops it.
type socket struct {
	rw io.ReadWriteCloser

	mu   sync.Mutex
	cur  *plug
	err  error // why the link end failed; set once
	done chan struct{}
}

func newSocket(rw io.ReadWriteCloser) *socket {
	s := &socket{rw: rw, done: make(chan struct{})}
	go s.pump()
	return s
}

func (s *socket) pump() {
	defer close(s.done)
	buf := make([]byte, 4096)
	for {
		n, err := s.rw.Read(buf)
		s.mu.Lock()
		if n > 0 && s.cur != nil {
			s.cur.deliver(buf[:n])
		}
		if err != nil {
			s.err = err
			if s.cur != nil {
				s.cur.fail(err)
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// attach returns a new connection for the device that now sits at this
// end; the previous one is closed. Bytes that came while nobody was
// attached are gone.
func (s *socket) attach() *plug {
	p := &plug{s: s}
	p.cond.L = &p.mu
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.fail(io.EOF)
	}
	s.cur = p
	if s.err != nil {
		p.fail(s.err)
	}
	return p
}

// close closes the link end and waits for the reader.
func (s *socket) close() error {
	err := s.rw.Close()
	<-s.done
	return err
}

// plug is the connection of one device attached to a socket. Closing it
// detaches the device; the link end stays open.
type plug struct {
	s *socket

	wmu sync.Mutex // one Write at a time

	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	err    error // after buf is read: io.EOF when detached, else the link's error
	closed bool
}

// deliver queues bytes for the device. s.mu is held.
func (p *plug) deliver(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.buf = append(p.buf, b...)
		p.cond.Broadcast()
	}
}

// fail ends the plug's reads with err once its bytes are read.
func (p *plug) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.cond.Broadcast()
	}
}

func (p *plug) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && p.err == nil {
		p.cond.Wait()
	}
	if p.closed {
		return 0, errPlugClosed
	}
	if len(p.buf) == 0 {
		return 0, p.err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	return n, nil
}

func (p *plug) Write(b []byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.mu.Lock()
	closed, err := p.closed, p.err
	p.mu.Unlock()
	switch {
	case closed:
		return 0, errPlugClosed
	case err != nil:
		return 0, err
	}
	return p.s.rw.Write(b)
}

// Close detaches the device: a pending Read returns, later Writes fail.
func (p *plug) Close() error {
	p.s.mu.Lock()
	if p.s.cur == p {
		p.s.cur = nil
	}
	p.s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.buf = nil
		if p.err == nil {
			p.err = errPlugClosed
		}
		p.cond.Broadcast()
	}
	return nil
}

var errPlugClosed = fmt.Errorf("scenario: device detached: %w", os.ErrClosed)
