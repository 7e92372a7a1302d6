package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// dialTCP dials a raw TCP serial bridge.
func dialTCP(ctx context.Context, p Port) (io.ReadWriteCloser, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w; is the serial bridge (ser2net, socat) running?", p, err)
	}
	return c, nil
}

// retryable reports whether a dial error may go away by itself: nobody is
// listening yet, or the network is not up yet.
func retryable(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.As(err, &ne) && ne.Timeout()
}

// dialListener is a Listener on a tcp:// port: every Accept dials.
type dialListener struct {
	p   Port
	cfg config

	closing context.Context // canceled by Close, to stop a dial
	close   context.CancelFunc

	mu     sync.Mutex
	cur    io.Closer
	closed bool
}

func listenDial(p Port, cfg config) *dialListener {
	l := &dialListener{p: p, cfg: cfg}
	l.closing, l.close = context.WithCancel(context.Background())
	return l
}

func (l *dialListener) Addr() string { return l.p.Addr }

// Accept dials, retrying with a backoff while the connection is refused.
func (l *dialListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	l.mu.Lock()
	prev, closed := l.cur, l.closed
	l.cur = nil
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("transport: accept %s: %w", l.p, net.ErrClosed)
	}
	if prev != nil {
		prev.Close()
	}
	// Dial under a context that Close cancels too.
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(l.closing, func() { cancel(net.ErrClosed) })
	defer stop()
	backoff := 50 * time.Millisecond
	for {
		c, err := dialTCP(dctx, l.p)
		if err == nil {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.closed {
				c.Close()
				return nil, fmt.Errorf("transport: accept %s: %w", l.p, net.ErrClosed)
			}
			l.cur = c
			return c, nil
		}
		if context.Cause(dctx) == net.ErrClosed {
			return nil, fmt.Errorf("transport: accept %s: %w", l.p, net.ErrClosed)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("transport: waiting for %s to accept: %w", l.p, ctx.Err())
		}
		if !retryable(err) {
			return nil, err
		}
		l.cfg.logger.Debug("transport: dial failed; retrying", "port", l.p.String(), "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-dctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (l *dialListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.close()
	if l.cur != nil {
		return l.cur.Close()
	}
	return nil
}
