package atcmd

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, lr *LineReader) (lines []string, long int) {
	t.Helper()
	for {
		l, err := lr.ReadLine()
		switch {
		case errors.Is(err, ErrLineTooLong):
			long++
			continue
		case err == io.EOF:
			return lines, long
		case err != nil:
			t.Fatalf("ReadLine: %v", err)
		}
		lines = append(lines, string(l))
	}
}

func TestLineReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		edit bool
		want []string
		long int
	}{
		{name: "CR", in: "AT\rATI\r", want: []string{"AT", "ATI"}},
		{name: "CRLF", in: "AT\r\nATI\r\n", want: []string{"AT", "ATI"}},
		{name: "LF", in: "AT\nATI\n", want: []string{"AT", "ATI"}},
		{name: "empty lines skipped", in: "\r\n\r\nOK\r\n\r\n", want: []string{"OK"}},
		{name: "partial last line dropped", in: "AT\rATI", want: []string{"AT"}},
		{name: "too long", in: strings.Repeat("A", 20) + "\rAT\r", max: 10, want: []string{"AT"}, long: 1},
		{name: "exactly max", in: strings.Repeat("A", 10) + "\r", max: 10, want: []string{strings.Repeat("A", 10)}},
		{name: "backspace", in: "ATX\bI\r", edit: true, want: []string{"ATI"}},
		{name: "backspace off", in: "ATX\x7fI\r", want: []string{"ATX\x7fI"}},
		{name: "binary", in: "\x00\xff\x01\r", want: []string{"\x00\xff\x01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.in)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				lr := NewLineReader(r, tt.max)
				lr.Edit = tt.edit
				got, long := readAll(t, lr)
				if strings.Join(got, "|") != strings.Join(tt.want, "|") || long != tt.long {
					t.Errorf("oneByte=%v: got %q (%d too long), want %q (%d)", oneByte, got, long, tt.want, tt.long)
				}
			}
		})
	}
}

func TestLineReaderPayload(t *testing.T) {
	payload := []byte("\r\nOK\r\n\x00\nERROR\r")
	in := "\r\n+QIOTOTARD: 0,15\r\n" + string(payload) + "\r\n\r\nOK\r\n"
	for _, oneByte := range []bool{false, true} {
		var r io.Reader = strings.NewReader(in)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		lr := NewLineReader(r, 0)
		l, err := lr.ReadLine()
		if err != nil || string(l) != "+QIOTOTARD: 0,15" {
			t.Fatalf("header = %q, %v", l, err)
		}
		got, err := lr.ReadFull(len(payload))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("payload = %q, %v; want %q", got, err, payload)
		}
		l, err = lr.ReadLine()
		if err != nil || string(l) != "OK" {
			t.Fatalf("final = %q, %v", l, err)
		}
	}
}

func TestLineReaderEcho(t *testing.T) {
	var echo bytes.Buffer
	lr := NewLineReader(iotest.OneByteReader(strings.NewReader("AT\rATE0\r")), 0)
	lr.Echo = func(p []byte) { echo.Write(p) }
	readAll(t, lr)
	if got := echo.String(); got != "AT\rATE0\r" {
		t.Errorf("echo = %q, want %q", got, "AT\rATE0\r")
	}
}

// FuzzLineReader checks that the reader never panics, never returns a line
// over its limit, and splits like a plain reference split when no line is
// too long, however the input is chunked.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("AT\r\nATI\rOK\n"), uint8(7))
	f.Add([]byte("\r\r\n\n\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const max = 16
		lr := NewLineReader(&chunked{data: in, n: int(chunk%8) + 1}, max)
		var got []string
		long := 0
		for {
			l, err := lr.ReadLine()
			if errors.Is(err, ErrLineTooLong) {
				long++
				continue
			}
			if err != nil {
				break
			}
			if len(l) > max {
				t.Fatalf("line of %d bytes, limit %d", len(l), max)
			}
			got = append(got, string(l))
		}
		if long > 0 {
			return
		}
		var want []string
		fields := strings.FieldsFunc(string(in), func(r rune) bool { return r == '\r' || r == '\n' })
		terminated := len(in) > 0 && (in[len(in)-1] == '\r' || in[len(in)-1] == '\n')
		for i, fl := range fields {
			if i == len(fields)-1 && !terminated {
				break
			}
			want = append(want, fl)
		}
		if strings.Join(got, "\x01") != strings.Join(want, "\x01") {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}
