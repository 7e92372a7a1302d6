package transport

import (
	"context"
	"io"
)

// Listener hands out one connection at a time, for the serving side (the
// module emulator). The caller serves a connection, closes it and accepts
// the next; Accept closes the previous connection if the caller has not,
// since there is one line.
type Listener interface {
	// Accept waits for the next connection, or until ctx is done or the
	// Listener is closed.
	Accept(ctx context.Context) (io.ReadWriteCloser, error)
	// Close closes the current connection and releases the port.
	Close() error
	// Addr describes the port for humans: the device path, the pty
	// symlink and its /dev/pts/N, or the TCP address.
	Addr() string
}

// Listen opens a PORT for the serving side. What Accept does depends on the
// form:
//
//   - Device: opens the device, retrying with a short backoff while it is
//     absent (an unplugged USB adapter). When the returned connection is
//     closed, or its Read failed, the next Accept opens it again.
//   - PTY: Listen creates the pty and its symlink. Accept waits until a
//     process has the slave open and returns a connection on the master; its
//     Read returns io.EOF when that process closes the slave, and its Write
//     then fails with an error matching io.ErrClosedPipe. The next Accept
//     discards what the old peer left unread and waits for a new opener.
//   - TCP: each Accept dials HOST:PORT, retrying while it is refused.
//   - TCPListen: Listen binds HOST:PORT, Accept accepts one connection.
//
// Canceling ctx only bounds Listen itself.
func Listen(ctx context.Context, port string, opts ...Option) (Listener, error) {
	p, err := ParsePort(port)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	switch p.Kind {
	case PTY:
		return nonNil[Listener](listenPTY(p, cfg))
	case TCP:
		return listenDial(p, cfg), nil
	case TCPListen:
		return nonNil[Listener](listenTCP(ctx, p, cfg))
	}
	return listenDevice(p, cfg), nil
}

// Dial opens a PORT for the client side (the MCU):
//
//   - Device: opens the serial device, 8N1 (8E1 with WithParity) at the
//     WithBaud rate.
//   - PTY: creates the pty and its symlink and returns the master side. It
//     behaves like a UART with a cable that may be unplugged: while no
//     process has the slave open, Read waits and Writes are discarded.
//     Close removes the pty and the symlink.
//   - TCP: dials HOST:PORT.
//   - TCPListen: binds HOST:PORT, accepts one connection, stops listening
//     and returns the connection.
//
// ctx bounds the dial or the wait for a connection.
//
// Closing the returned connection unblocks a Read pending on it.
func Dial(ctx context.Context, port string, opts ...Option) (io.ReadWriteCloser, error) {
	p, err := ParsePort(port)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	switch p.Kind {
	case PTY:
		return nonNil[io.ReadWriteCloser](dialPTY(p, cfg))
	case TCP:
		return dialTCP(ctx, p)
	case TCPListen:
		return acceptOnce(ctx, p, cfg)
	}
	return nonNil[io.ReadWriteCloser](openDevice(ctx, p.Path, cfg))
}

// nonNil converts a concrete result to interface I, so that a nil pointer
// returned with an error does not become a non-nil interface.
func nonNil[I any, T any](v T, err error) (I, error) {
	var zero I
	if err != nil {
		return zero, err
	}
	i, _ := any(v).(I)
	return i, nil
}
