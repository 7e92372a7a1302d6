package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// tcpListener is a Listener on a tcp-listen:// port.
type tcpListener struct {
	p   Port
	ln  *net.TCPListener
	cfg config

	mu     sync.Mutex
	cur    net.Conn
	closed bool
}

func listenTCP(ctx context.Context, p Port, cfg config) (*tcpListener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w; choose a free port or stop what uses it", p, err)
	}
	cfg.logger.Debug("transport: listening", "addr", ln.Addr().String())
	return &tcpListener{p: p, ln: ln.(*net.TCPListener), cfg: cfg}, nil
}

// Addr returns the bound address, HOST:PORT, with the actual port when
// port 0 was asked for.
func (l *tcpListener) Addr() string { return l.ln.Addr().String() }

// Accept accepts one connection, closing the previous one if the caller
// has not.
func (l *tcpListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	l.mu.Lock()
	prev := l.cur
	l.cur = nil
	l.mu.Unlock()
	if prev != nil {
		prev.Close()
	}
	c, err := l.accept(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, fmt.Errorf("transport: accept %s: %w", l.p, net.ErrClosed)
	}
	l.cur = c
	l.cfg.logger.Info("transport: accepted a connection", "addr", l.Addr(), "from", c.RemoteAddr().String())
	return c, nil
}

// accept waits for a connection until ctx is done. One Accept at a time:
// it uses the listener's deadline.
func (l *tcpListener) accept(ctx context.Context) (net.Conn, error) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		l.ln.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	c, err := l.ln.Accept()
	if !stop() {
		<-fired
		l.ln.SetDeadline(time.Time{})
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("transport: accept %s: %w", l.Addr(), ctx.Err())
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, fmt.Errorf("transport: accept %s: %w", l.p, net.ErrClosed)
		}
		return nil, fmt.Errorf("transport: accept %s: %w", l.Addr(), err)
	}
	return c, nil
}

// Close stops listening and closes the current connection.
func (l *tcpListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	cur := l.cur
	l.mu.Unlock()
	err := l.ln.Close()
	if cur != nil {
		cur.Close()
	}
	return err
}

// acceptOnce listens on p, accepts one connection and stops listening.
func acceptOnce(ctx context.Context, p Port, cfg config) (io.ReadWriteCloser, error) {
	l, err := listenTCP(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	defer l.ln.Close()
	c, err := l.accept(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}
