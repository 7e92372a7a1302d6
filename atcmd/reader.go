package atcmd

import (
	"errors"
	"io"
)

// DefaultMaxLine is the longest line a LineReader accepts by default.
const DefaultMaxLine = 4096

// LineReader reads AT lines and, between them, raw payloads of a known
// length from a byte stream. A line ends at CR, at LF, or at CR LF (one
// terminator); empty lines are skipped. It is the codec under both the
// Server and the Client: like a bufio.Scanner with a split function, but a
// line that is too long is discarded up to its terminator and reported
// with ErrLineTooLong, after which reading goes on, and a length-driven
// payload (AT+QIOTOTARD) can be read between two lines.
type LineReader struct {
	r      io.Reader
	max    int
	buf    []byte
	start  int
	end    int
	skipLF bool // the last line ended with CR: a following LF belongs to it
	err    error

	// Echo, when set, is called with the bytes of each line as they are
	// consumed, terminator included, before the line is complete. The
	// Server uses it for ATE1 echo. It is not called for payloads or for
	// the discarded part of a line that is too long.
	Echo func(p []byte)
	// Edit makes backspace (BS, DEL) delete the previous byte of the line,
	// as a terminal user expects.
	Edit bool
}

// NewLineReader returns a LineReader on r with a line limit of max bytes
// (DefaultMaxLine if max <= 0).
func NewLineReader(r io.Reader, max int) *LineReader {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &LineReader{r: r, max: max, buf: make([]byte, 4096)}
}

// fill reads more bytes into the empty buffer. It returns an error only
// when no byte was read; an error that came with bytes is kept for the
// next call.
func (lr *LineReader) fill() error {
	if lr.err != nil {
		return lr.err
	}
	lr.start, lr.end = 0, 0
	for range 100 {
		n, err := lr.r.Read(lr.buf)
		lr.end = n
		if err != nil {
			lr.err = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	lr.err = io.ErrNoProgress
	return lr.err
}

// ReadLine returns the next non-empty line without its terminator. The
// returned slice is valid until the next call. A line longer than the
// limit is discarded through its terminator and ErrLineTooLong returned;
// the next call reads the line after it. At the end of the stream a
// partial line is discarded and the stream's error returned.
func (lr *LineReader) ReadLine() ([]byte, error) {
	line := make([]byte, 0, 64)
	overflow := false
	for {
		if lr.start == lr.end {
			if err := lr.fill(); err != nil {
				return nil, err
			}
		}
		chunk := lr.buf[lr.start:lr.end]
		from := 0 // first byte of chunk not echoed yet
		for i := 0; i < len(chunk); i++ {
			c := chunk[i]
			if lr.skipLF {
				lr.skipLF = false
				if c == '\n' {
					// The LF of a CR LF whose line is already done: not
					// echoed, since its answer may have gone out already.
					from = i + 1
					continue
				}
			}
			if c == '\r' || c == '\n' {
				lr.skipLF = c == '\r'
				lr.echo(chunk[from:i+1], overflow)
				from = i + 1
				if overflow {
					lr.start += i + 1
					return nil, ErrLineTooLong
				}
				if len(line) == 0 {
					continue // an empty line
				}
				lr.start += i + 1
				return line, nil
			}
			if lr.Edit && (c == 0x08 || c == 0x7f) {
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
				continue
			}
			if len(line) >= lr.max {
				overflow = true
				continue
			}
			line = append(line, c)
		}
		lr.echo(chunk[from:], overflow)
		lr.start = lr.end
	}
}

func (lr *LineReader) echo(p []byte, overflow bool) {
	if lr.Echo != nil && !overflow && len(p) > 0 {
		lr.Echo(p)
	}
}

// ReadFull reads exactly n raw bytes into a new slice: the payload that
// follows a header line. A LF that completes the header's CR LF is skipped
// first.
func (lr *LineReader) ReadFull(n int) ([]byte, error) {
	if n < 0 {
		return nil, errors.New("atcmd: negative payload length")
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		if lr.start == lr.end {
			if err := lr.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return out, err
			}
		}
		if lr.skipLF {
			lr.skipLF = false
			if lr.buf[lr.start] == '\n' {
				lr.start++
				continue
			}
		}
		k := min(n-len(out), lr.end-lr.start)
		out = append(out, lr.buf[lr.start:lr.start+k]...)
		lr.start += k
	}
	return out, nil
}
