package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// ptyConn is a connection returned by ptyListener.Accept: a File of its own
// on the master, so that closing it leaves the pty in place.
type ptyConn struct {
	dev  *ptyDev
	f    *os.File
	gone atomic.Bool // Read saw the peer go away
}

// Read returns io.EOF once the peer has closed the slave.
func (c *ptyConn) Read(b []byte) (int, error) {
	if c.gone.Load() {
		return 0, io.EOF
	}
	n, err := c.dev.read(c.f, b)
	if err == io.EOF && !c.gone.Swap(true) {
		c.dev.flushStale()
		c.dev.log.Info("transport: peer closed the pty", "link", c.dev.link, "slave", c.dev.slave)
	}
	return n, err
}

// Write fails with an error matching io.ErrClosedPipe once the peer has
// closed the slave.
func (c *ptyConn) Write(b []byte) (int, error) {
	if c.gone.Load() {
		return 0, fmt.Errorf("transport: pty:%s: write: peer closed the pty: %w", c.dev.link, io.ErrClosedPipe)
	}
	n, err := c.dev.write(c.f, b)
	switch {
	case err == errPeerGone:
		return n, fmt.Errorf("transport: pty:%s: write: %w: %w", c.dev.link, err, io.ErrClosedPipe)
	case err != nil:
		return n, fmt.Errorf("transport: pty:%s: write: %w", c.dev.link, err)
	}
	return n, nil
}

// Close ends this connection; the pty stays.
func (c *ptyConn) Close() error { return c.f.Close() }

// ptyListener serves the peers that open the slave of one pty, one after
// the other.
type ptyListener struct {
	dev *ptyDev

	mu     sync.Mutex
	cur    *ptyConn
	closed bool
	done   chan struct{}
}

func listenPTY(p Port, cfg config) (*ptyListener, error) {
	dev, err := newPTY(p.Path, cfg)
	if err != nil {
		return nil, err
	}
	return &ptyListener{dev: dev, done: make(chan struct{})}, nil
}

func (l *ptyListener) Addr() string { return l.dev.link + " -> " + l.dev.slave }

// Accept waits until a process has the slave open. What a departed peer
// left unread was discarded when its connection saw it go (ptyConn.Read);
// Accept discards nothing itself, because a new peer may already have
// opened the slave and written its first command.
func (l *ptyListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	l.mu.Lock()
	prev, closed := l.cur, l.closed
	l.cur = nil
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("transport: accept pty:%s: %w", l.dev.link, net.ErrClosed)
	}
	if prev != nil {
		prev.Close()
	}
	gone, err := l.dev.peerGone()
	if err != nil {
		return nil, fmt.Errorf("transport: accept pty:%s: %w", l.dev.link, err)
	}
	if gone {
		l.dev.log.Debug("transport: waiting for a process to open the pty", "link", l.dev.link, "slave", l.dev.slave)
		if err := l.dev.waitPeer(ctx, l.done); err != nil {
			if errors.Is(err, os.ErrClosed) {
				err = net.ErrClosed
			}
			return nil, fmt.Errorf("transport: waiting for a process to open %s (%s): %w", l.dev.link, l.dev.slave, err)
		}
	}
	f, err := l.dev.dup()
	if err != nil {
		return nil, err
	}
	c := &ptyConn{dev: l.dev, f: f}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, fmt.Errorf("transport: accept pty:%s: %w", l.dev.link, net.ErrClosed)
	}
	l.cur = c
	l.dev.log.Info("transport: peer opened the pty", "link", l.dev.link, "slave", l.dev.slave)
	return c, nil
}

// Close closes the current connection, destroys the pty and removes the
// symlink.
func (l *ptyListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	cur := l.cur
	l.mu.Unlock()
	if cur != nil {
		cur.Close()
	}
	return l.dev.Close()
}

// ptyMaster is the master of a pty used like a UART whose cable may be
// unplugged: while no process has the slave open, Read waits for one and
// Write discards its bytes.
type ptyMaster struct {
	dev       *ptyDev
	closeOnce sync.Once
	done      chan struct{}
}

func dialPTY(p Port, cfg config) (*ptyMaster, error) {
	dev, err := newPTY(p.Path, cfg)
	if err != nil {
		return nil, err
	}
	return &ptyMaster{dev: dev, done: make(chan struct{})}, nil
}

func (m *ptyMaster) Read(b []byte) (int, error) {
	for {
		n, err := m.dev.read(m.dev.master, b)
		if err != io.EOF {
			return n, err
		}
		m.dev.log.Debug("transport: no process has the pty open; waiting", "link", m.dev.link, "slave", m.dev.slave)
		m.dev.flushStale()
		if err := m.dev.waitPeer(context.Background(), m.done); err != nil {
			return 0, fmt.Errorf("transport: pty:%s: read: %w", m.dev.link, err)
		}
		m.dev.log.Debug("transport: a process opened the pty", "link", m.dev.link, "slave", m.dev.slave)
	}
}

func (m *ptyMaster) Write(b []byte) (int, error) {
	n, err := m.dev.write(m.dev.master, b)
	switch {
	case err == errPeerGone:
		return len(b), nil // nobody on the line: the bytes are lost, as on a UART
	case err != nil:
		return n, fmt.Errorf("transport: pty:%s: write: %w", m.dev.link, err)
	}
	return n, nil
}

// Close destroys the pty and removes the symlink; a pending Read or Write
// returns.
func (m *ptyMaster) Close() error {
	m.closeOnce.Do(func() { close(m.done) })
	return m.dev.Close()
}
