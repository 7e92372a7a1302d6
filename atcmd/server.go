package atcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// A Handler answers one AT command. It writes information lines and
// payloads to w; its return value picks the final result: nil is OK, a
// CMEError is "+CME ERROR" (or ERROR, per AT+CMEE), any other error is
// ERROR.
type Handler interface {
	ServeAT(ctx context.Context, w ResponseWriter, r *Request) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, w ResponseWriter, r *Request) error

// ServeAT calls f(ctx, w, r).
func (f HandlerFunc) ServeAT(ctx context.Context, w ResponseWriter, r *Request) error {
	return f(ctx, w, r)
}

// A ResponseWriter collects a command's response. What is written goes out
// before the final result, in one piece with it.
type ResponseWriter interface {
	// WriteLine writes an information line, framed CR LF <line> CR LF.
	WriteLine(line string) error
	// Write writes raw bytes, unframed: a binary payload.
	Write(p []byte) (int, error)
}

// Request is a command received by a Server.
type Request struct {
	Command
	// Line is the whole command line the command came in.
	Line string
}

// Server serves AT commands on a link, one command at a time, the way a
// modem does: echo (ATE0/ATE1, on by default), verbose result codes, and
// AT+CMEE error reporting. Unsolicited result codes raised with Notify
// while a command runs are held until its final result.
//
// One Server is one device: echo and AT+CMEE settings outlive a
// connection, and Serve may be called again for the next one.
type Server struct {
	handler Handler
	maxLine int
	log     *slog.Logger
	final   func()
	echo0   bool // the echo setting at power-up, for Reset

	mu   sync.Mutex
	echo bool
	cmee int
	out  io.Writer // the current connection, nil between connections
	busy bool
	held [][]byte
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithMaxLine sets the longest command line accepted (DefaultMaxLine).
func WithMaxLine(n int) ServerOption { return func(s *Server) { s.maxLine = n } }

// WithServerLogger sets the logger for protocol events.
func WithServerLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithEcho sets the initial echo setting (on by default).
func WithEcho(on bool) ServerOption { return func(s *Server) { s.echo = on } }

// WithFinalHook sets f to be called after each command line's final
// result, and the unsolicited result codes held while it ran, were written
// to the link: the moment the result is on the wire, from which a device
// times what the command causes. f is called on the serving goroutine with
// no lock of the Server held.
func WithFinalHook(f func()) ServerOption { return func(s *Server) { s.final = f } }

// NewServer returns a Server that passes commands to h. The server itself
// answers ATE and AT+CMEE; everything else goes to h.
func NewServer(h Handler, opts ...ServerOption) *Server {
	s := &Server{handler: h, maxLine: DefaultMaxLine, echo: true, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	s.echo0 = s.echo
	return s
}

// Reset restores the settings the Server owns to their power-up values,
// as a device does when it restarts: echo as NewServer set it, AT+CMEE=0.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo, s.cmee = s.echo0, 0
}

// Echo reports whether echo is on.
func (s *Server) Echo() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.echo
}

// Notify sends an unsolicited result code line, framed CR LF <line> CR LF:
// at once when the link is idle, after the final result when a command is
// running. With no connection the line is dropped and logged.
func (s *Server) Notify(line string) {
	b := frame(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.busy:
		s.held = append(s.held, b)
	case s.out == nil:
		s.log.Warn("URC dropped: no connection", "urc", line)
	default:
		s.writeLocked(b)
	}
}

func (s *Server) writeLocked(b []byte) {
	if _, err := s.out.Write(b); err != nil {
		s.log.Debug("write failed", "err", err)
	}
}

func frame(line string) []byte {
	b := make([]byte, 0, len(line)+4)
	b = append(b, "\r\n"...)
	b = append(b, line...)
	return append(b, "\r\n"...)
}

// Serve reads command lines from rw and answers them until the link
// fails or ctx is done. When ctx is done and rw is an io.Closer, it is
// closed, which ends a blocked read. Serve returns nil when the peer
// closed the link (io.EOF).
func (s *Server) Serve(ctx context.Context, rw io.ReadWriter) error {
	if c, ok := rw.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	s.mu.Lock()
	if s.out != nil {
		s.mu.Unlock()
		return errors.New("atcmd: Serve: the server already serves a connection")
	}
	s.out = rw
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.out, s.busy, s.held = nil, false, nil
		s.mu.Unlock()
	}()

	lr := NewLineReader(rw, s.maxLine)
	lr.Edit = true
	lr.Echo = func(p []byte) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.echo {
			s.writeLocked(p)
		}
	}
	for {
		line, err := lr.ReadLine()
		switch {
		case errors.Is(err, ErrLineTooLong):
			s.log.Warn("command line too long, discarded", "limit", s.maxLine)
			s.finish(nil, ErrLineTooLong)
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("atcmd: serve: %w", err)
		}
		s.serveLine(ctx, string(line))
	}
}

// serveLine runs the commands of one line and writes their final result.
func (s *Server) serveLine(ctx context.Context, line string) {
	s.mu.Lock()
	s.busy = true
	s.mu.Unlock()

	cmds, err := ParseLine(line)
	if err != nil {
		s.log.Debug("bad command line", "err", err)
		s.finish(nil, err)
		return
	}
	w := &response{}
	for _, c := range cmds {
		r := &Request{Command: c, Line: line}
		if err = s.serve(ctx, w, r); err != nil {
			s.log.Debug("command failed", "cmd", c.String(), "err", err)
			break
		}
	}
	s.finish(w.buf.Bytes(), err)
}

// serve answers the commands the server owns (ATE, AT+CMEE) and passes the
// rest to the handler.
func (s *Server) serve(ctx context.Context, w *response, r *Request) error {
	switch r.Name {
	case "E":
		return s.setFlag(r, func(v int) { s.echo = v == 1 }, 1)
	case "+CMEE":
		switch r.Kind {
		case Read:
			s.mu.Lock()
			n := s.cmee
			s.mu.Unlock()
			return w.WriteLine("+CMEE: " + strconv.Itoa(n))
		case Test:
			return w.WriteLine("+CMEE: (0-2)")
		case Exec:
			r.Args = []Arg{{Value: "0"}}
		}
		return s.setFlag(r, func(v int) { s.cmee = v }, 2)
	}
	if s.handler == nil {
		return ErrUnknownCommand
	}
	return s.handler.ServeAT(ctx, w, r)
}

func (s *Server) setFlag(r *Request, set func(int), max int) error {
	v := int64(0)
	if r.Kind == Set {
		var err error
		if v, err = r.Int(0); err != nil || v < 0 || v > int64(max) || len(r.Args) != 1 {
			return CMEIncorrectParameters
		}
	} else if r.Kind != Exec {
		return CMEOperationNotSupported
	}
	s.mu.Lock()
	set(int(v))
	s.mu.Unlock()
	return nil
}

// finish writes the response and its final result in one write, then the
// unsolicited result codes held while the command ran, each in a write of
// its own; then it calls the final hook.
func (s *Server) finish(resp []byte, err error) {
	s.mu.Lock()
	out := append(resp, s.result(err)...)
	if s.out != nil {
		s.writeLocked(out)
		for _, u := range s.held {
			s.writeLocked(u)
		}
	}
	s.held, s.busy = nil, false
	s.mu.Unlock()
	if s.final != nil {
		s.final()
	}
}

// result formats the final result code for err. s.mu is held.
func (s *Server) result(err error) []byte {
	var cme CMEError
	switch {
	case err == nil:
		return frame("OK")
	case errors.As(err, &cme) && s.cmee == 1:
		return frame("+CME ERROR: " + strconv.Itoa(int(cme)))
	case errors.As(err, &cme) && s.cmee == 2:
		return frame("+CME ERROR: " + cme.Text())
	}
	return frame("ERROR")
}

type response struct{ buf bytes.Buffer }

func (w *response) WriteLine(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("atcmd: WriteLine: line %q holds CR or LF", line)
	}
	w.buf.Write(frame(line))
	return nil
}

func (w *response) Write(p []byte) (int, error) { return w.buf.Write(p) }
