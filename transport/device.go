package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.bug.st/serial"
)

// deviceConn is an open serial device. Reads block without a timeout; Close
// unblocks them (go.bug.st/serial signals pending reads through a pipe).
type deviceConn struct {
	path string
	port serial.Port
	log  *slog.Logger

	closed      atomic.Bool // Close was called
	gone        atomic.Bool // a Read failed: the device went away
	releaseOnce sync.Once
	releaseErr  error
	released    chan struct{} // closed once the port is closed, for any reason
}

// openDevice opens path as a serial device: raw, 8N1 or 8E1, no flow
// control, modem lines left as they are.
func openDevice(ctx context.Context, path string, cfg config) (*deviceConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transport: open %s: %w", path, err)
	}
	mode := &serial.Mode{BaudRate: cfg.baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}
	if cfg.even {
		mode.Parity = serial.EvenParity
	}
	port, err := openSerial(path, mode)
	if err != nil {
		return nil, deviceError(path, err)
	}
	cfg.logger.Debug("transport: serial device open", "port", path, "baud", cfg.baud, "even_parity", cfg.even)
	return &deviceConn{path: path, port: port, log: cfg.logger, released: make(chan struct{})}, nil
}

// deviceError turns an error from serial.Open into one that says what to do.
func deviceError(path string, err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PermissionDenied:
			return fmt.Errorf("transport: open %s: %w; add yourself to the dialout group "+
				"(sudo usermod -aG dialout $USER) and log in again", path, fs.ErrPermission)
		case serial.PortBusy:
			return fmt.Errorf("transport: open %s: %w: another program has it open (find it with fuser %s)",
				path, syscall.EBUSY, path)
		case serial.InvalidSerialPort:
			return fmt.Errorf("transport: open %s: not a serial device (%v); give a tty such as /dev/ttyUSB0", path, err)
		}
		return fmt.Errorf("transport: open %s: %v", path, err)
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("transport: open %s: %w; check that the adapter is plugged in "+
			"and the path is right (ls /dev/serial/by-id/)", path, err)
	}
	return fmt.Errorf("transport: open %s: %w", path, err)
}

// absent reports whether a device error means the device is not there (yet).
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV)
}

func (c *deviceConn) closedError(op string) error {
	return fmt.Errorf("transport: %s %s: %w", op, c.path, os.ErrClosed)
}

// Read reads from the device. When the device goes away (unplugged, or the
// pty master closed) it returns io.EOF and releases the device.
func (c *deviceConn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.closedError("read")
	}
	if c.gone.Load() {
		return 0, io.EOF
	}
	n, err := c.port.Read(b)
	if err == nil {
		return n, nil
	}
	if c.closed.Load() {
		return n, c.closedError("read")
	}
	c.gone.Store(true)
	c.release()
	var pe *serial.PortError
	if errors.As(err, &pe) && pe.Code() == serial.PortClosed || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV) {
		c.log.Info("transport: serial device went away", "port", c.path, "err", err)
		return n, io.EOF
	}
	return n, fmt.Errorf("transport: read %s: %w", c.path, err)
}

// Write writes all of b. A Write the line does not drain (a pty slave whose
// master nobody reads) is not interrupted by Close.
func (c *deviceConn) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if c.closed.Load() {
			return written, c.closedError("write")
		}
		if c.gone.Load() {
			return written, fmt.Errorf("transport: write %s: device went away: %w", c.path, io.ErrClosedPipe)
		}
		n, err := c.port.Write(b)
		written += n
		b = b[n:]
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
			continue
		}
		if err != nil {
			return written, fmt.Errorf("transport: write %s: %w", c.path, err)
		}
	}
	return written, nil
}

// Close closes the device and unblocks a pending Read.
func (c *deviceConn) Close() error {
	c.closed.Store(true)
	return c.release()
}

func (c *deviceConn) release() error {
	c.releaseOnce.Do(func() {
		if err := c.port.Close(); err != nil {
			c.releaseErr = fmt.Errorf("transport: close %s: %w", c.path, err)
		}
		close(c.released)
	})
	return c.releaseErr
}

// deviceListener opens the device on each Accept.
type deviceListener struct {
	path string
	cfg  config

	mu     sync.Mutex
	cur    *deviceConn
	closed bool
	done   chan struct{}
}

func listenDevice(p Port, cfg config) *deviceListener {
	return &deviceListener{path: p.Path, cfg: cfg, done: make(chan struct{})}
}

func (l *deviceListener) Addr() string { return l.path }

func (l *deviceListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	l.mu.Lock()
	prev, closed := l.cur, l.closed
	l.cur = nil
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("transport: accept %s: %w", l.path, net.ErrClosed)
	}
	if prev != nil {
		prev.Close()
	}
	const maxBackoff = time.Second
	backoff := 50 * time.Millisecond
	waiting := false
	for {
		c, err := openDevice(ctx, l.path, l.cfg)
		if err == nil {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.closed {
				c.Close()
				return nil, fmt.Errorf("transport: accept %s: %w", l.path, net.ErrClosed)
			}
			l.cur = c
			return c, nil
		}
		if !absent(err) {
			return nil, err
		}
		if !waiting {
			l.cfg.logger.Info("transport: waiting for the serial device to appear", "port", l.path)
			waiting = true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("transport: waiting for %s to appear: %w", l.path, ctx.Err())
		case <-l.done:
			t.Stop()
			return nil, fmt.Errorf("transport: accept %s: %w", l.path, net.ErrClosed)
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (l *deviceListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.done)
	if l.cur != nil {
		return l.cur.Close()
	}
	return nil
}
