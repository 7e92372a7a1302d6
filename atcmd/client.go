package atcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Response is what a command answered before its final result OK.
type Response struct {
	// Lines are the information lines, without framing.
	Lines []string
	// Payload is the raw payload read after a header line (DoPayload).
	Payload []byte
}

// Value returns the text after "<prefix>:" of the first line that starts
// with prefix ("+CSQ" finds "+CSQ: 25,99" and returns "25,99").
func (r *Response) Value(prefix string) (string, bool) {
	for _, l := range r.Lines {
		if v, ok := strings.CutPrefix(l, prefix+":"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// PayloadLength parses a payload header line and returns how many raw
// bytes follow it; ok is false when the line is not such a header.
type PayloadLength func(line string) (n int, ok bool)

// Client sends AT commands over a link and reads their responses, the
// modem user's side of a Server. One goroutine, owned by the Client, reads
// the link; unsolicited result codes go to subscriptions by prefix and never
// into a command's response.
type Client struct {
	w   io.Writer
	c   io.Closer
	lr  *LineReader
	log *slog.Logger
	eol string

	quiet time.Duration

	do sync.Mutex // one command at a time

	mu      sync.Mutex
	pending *call
	subs    []*Subscription
	stale   bool      // a command timed out: its answer may still come
	staleAt time.Time // when it timed out
	lastRx  time.Time // when the last line arrived
	err     error     // why the reader stopped
	done    chan struct{}
}

type call struct {
	line    string // the command line sent
	name    string // "+QIOTOTARD": its own information lines start with name+":"
	payload PayloadLength
	resp    Response
	result  chan error
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithClientLogger sets the logger for link events.
func WithClientLogger(l *slog.Logger) ClientOption { return func(c *Client) { c.log = l } }

// WithQuiet sets how long the link must be silent before the next command
// after a timed-out one (default 200 ms): the late answer is drained so it
// is not taken for the next command's.
func WithQuiet(d time.Duration) ClientOption { return func(c *Client) { c.quiet = d } }

// WithLineEnd sets what ends a command line (default "\r\n"; V.250 needs
// only "\r").
func WithLineEnd(eol string) ClientOption { return func(c *Client) { c.eol = eol } }

// NewClient returns a Client on rwc and starts its reader. Close stops it.
func NewClient(rwc io.ReadWriteCloser, opts ...ClientOption) *Client {
	c := &Client{
		w:     rwc,
		c:     rwc,
		lr:    NewLineReader(rwc, DefaultMaxLine),
		log:   slog.New(slog.DiscardHandler),
		eol:   "\r\n",
		quiet: 200 * time.Millisecond,
		done:  make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	go c.readLoop()
	return c
}

// Close closes the link and waits for the reader to stop.
func (c *Client) Close() error {
	err := c.c.Close()
	<-c.done
	return err
}

// Done is closed when the reader has stopped: the link failed or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the reader stopped, after Done is closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Do sends cmd and waits for its final result. It returns the information
// lines on OK; ErrError, a CMEError or a transport error otherwise. When
// ctx ends first, Do returns ctx's error and the client drains the late
// answer before the next command.
func (c *Client) Do(ctx context.Context, cmd Command) (*Response, error) {
	return c.do1(ctx, cmd, nil)
}

// DoPayload is Do for a command whose answer holds a header line followed
// by raw bytes (AT+QIOTOTARD): length recognises the header and says how
// many bytes follow; they are returned in Response.Payload.
func (c *Client) DoPayload(ctx context.Context, cmd Command, length PayloadLength) (*Response, error) {
	return c.do1(ctx, cmd, length)
}

func (c *Client) do1(ctx context.Context, cmd Command, length PayloadLength) (*Response, error) {
	line := cmd.String()
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("atcmd: %q: a command cannot hold CR or LF", line)
	}
	c.do.Lock()
	defer c.do.Unlock()
	if err := c.drain(ctx); err != nil {
		return nil, fmt.Errorf("atcmd: %s: %w", line, err)
	}
	call := &call{line: line, name: cmd.Name, payload: length, result: make(chan error, 1)}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("atcmd: %s: %w: %w", line, ErrClosed, c.err)
	}
	c.pending = call
	c.mu.Unlock()

	if _, err := io.WriteString(c.w, line+c.eol); err != nil {
		c.abandon(call)
		return nil, fmt.Errorf("atcmd: %s: write: %w", line, err)
	}
	select {
	case err := <-call.result:
		if err != nil {
			return &call.resp, err
		}
		return &call.resp, nil
	case <-ctx.Done():
		c.abandon(call)
		return nil, fmt.Errorf("atcmd: %s: no final result: %w", line, context.Cause(ctx))
	}
}

// abandon forgets a call whose answer did not come in time.
func (c *Client) abandon(call *call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == call {
		c.pending = nil
		c.stale, c.staleAt = true, time.Now()
	}
}

// drain waits, after a timed-out command, until the link has been quiet for
// the quiet period, so that a late answer is not taken for the next one.
func (c *Client) drain(ctx context.Context) error {
	for {
		c.mu.Lock()
		if !c.stale {
			c.mu.Unlock()
			return nil
		}
		last := c.lastRx
		if last.Before(c.staleAt) {
			last = c.staleAt
		}
		wait := time.Until(last.Add(c.quiet))
		if wait <= 0 {
			c.stale = false
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		line, err := c.lr.ReadLine()
		if errors.Is(err, ErrLineTooLong) {
			c.log.Warn("received line too long, discarded")
			continue
		}
		if err != nil {
			c.stop(err)
			return
		}
		if err := c.dispatch(string(line)); err != nil {
			c.stop(err)
			return
		}
	}
}

// dispatch routes one received line: to a subscription, to the pending
// command, or nowhere.
func (c *Client) dispatch(line string) error {
	c.mu.Lock()
	c.lastRx = time.Now()
	p := c.pending
	own := p != nil && p.name != "" && strings.HasPrefix(line, p.name+":")
	if !own {
		for _, s := range c.subs {
			if s.matches(line) {
				c.mu.Unlock()
				s.push(line)
				return nil
			}
		}
	}
	if p == nil {
		c.mu.Unlock()
		c.log.Debug("unsolicited line dropped", "line", line)
		return nil
	}
	if strings.EqualFold(line, p.line) {
		c.mu.Unlock()
		return nil // echo
	}
	c.mu.Unlock()

	if own && p.payload != nil {
		if n, ok := p.payload(line); ok {
			data, err := c.lr.ReadFull(n)
			if err != nil {
				return fmt.Errorf("atcmd: %s: reading %d payload bytes: %w", p.line, n, err)
			}
			p.resp.Lines = append(p.resp.Lines, line)
			p.resp.Payload = data
			return nil
		}
	}
	if final, err := finalResult(line); final {
		c.mu.Lock()
		if c.pending == p {
			c.pending = nil
		}
		c.mu.Unlock()
		p.result <- err
		return nil
	}
	p.resp.Lines = append(p.resp.Lines, line)
	return nil
}

// finalResult reports whether line is a final result code and the error it
// stands for.
func finalResult(line string) (bool, error) {
	switch line {
	case "OK":
		return true, nil
	case "ERROR":
		return true, ErrError
	case "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE":
		return true, fmt.Errorf("atcmd: %s: %w", line, ErrError)
	}
	if v, ok := strings.CutPrefix(line, "+CME ERROR:"); ok {
		return true, parseCME(v)
	}
	if v, ok := strings.CutPrefix(line, "+CMS ERROR:"); ok {
		return true, fmt.Errorf("atcmd: +CMS ERROR: %s: %w", strings.TrimSpace(v), ErrError)
	}
	return false, nil
}

func (c *Client) stop(err error) {
	c.mu.Lock()
	c.err = err
	p := c.pending
	c.pending = nil
	subs := c.subs
	c.mu.Unlock()
	if p != nil {
		p.result <- fmt.Errorf("%w: %w", ErrClosed, err)
	}
	for _, s := range subs {
		s.close(err)
	}
}

// Subscribe returns a subscription to the unsolicited result codes that
// start with any of the prefixes ("+QIOTEVT:"). Lines queue without bound
// until Next takes them, so the reader never blocks and none is lost.
func (c *Client) Subscribe(prefixes ...string) *Subscription {
	s := &Subscription{c: c, prefixes: prefixes, ready: make(chan struct{}, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		s.err = c.err
	}
	c.subs = append(c.subs, s)
	return s
}

// Subscription queues unsolicited result codes for its user.
type Subscription struct {
	c        *Client
	prefixes []string
	ready    chan struct{}

	mu    sync.Mutex
	queue []string
	err   error
}

func (s *Subscription) matches(line string) bool {
	for _, p := range s.prefixes {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

func (s *Subscription) push(line string) {
	s.mu.Lock()
	s.queue = append(s.queue, line)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Subscription) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Next returns the next queued line, waiting for one until ctx is done or
// the link closes (ErrClosed, after the queued lines).
func (s *Subscription) Next(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			l := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return l, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrClosed, err)
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}
}

// Close removes the subscription from its client.
func (s *Subscription) Close() {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range c.subs {
		if o == s {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			return
		}
	}
}
