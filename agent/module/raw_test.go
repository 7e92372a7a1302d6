package module_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/transport"
)

// rawLink serves m on an in-memory link and returns the MCU's end, for
// byte-exact checks.
func rawLink(t testing.TB, m *module.Module) io.ReadWriteCloser {
	t.Helper()
	a, b := transport.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Server().Serve(ctx, a)
	}()
	t.Cleanup(func() {
		b.Close()
		cancel()
		<-done
	})
	return b
}

// exchange writes in and checks that exactly want comes back.
func exchange(t *testing.T, link io.ReadWriter, in string, want []byte) {
	t.Helper()
	if _, err := io.WriteString(link, in); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(link, got); err != nil {
		t.Fatalf("%q: read %q: %v", in, got, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%q:\n got %q\nwant %q", in, got, want)
	}
}

// TestOTARDFraming checks the AT+QIOTOTARD reply byte for byte (spec §4,
// §11.2): CR LF, header, CR LF, the raw bytes, CR LF, then CR LF OK CR LF.
func TestOTARDFraming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := []byte("\r\nOK\r\n\x00payload\rERROR\n" + strings.Repeat("z", 1500))
		p := newPlans(t)
		p.plan("stm32-2.0.0", 0, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", data)})
		h := otaModule(t, p, func(c *module.Config) { c.PieceSize = 1200 })
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.quiet()
		h.stop() // echo stays off (ATE0): it belongs to the module, not the link

		link := rawLink(t, h.m)
		frame := func(start, n int) []byte {
			var b bytes.Buffer
			b.WriteString("\r\n+QIOTOTARD: ")
			b.WriteString(strconv.Itoa(start) + "," + strconv.Itoa(n) + "\r\n")
			b.Write(data[start : start+n])
			b.WriteString("\r\n\r\nOK\r\n")
			return b.Bytes()
		}
		exchange(t, link, "AT+QIOTOTARD=0,20\r\n", frame(0, 20))
		exchange(t, link, "AT+QIOTOTARD=3,5\r", frame(3, 5))             // CR alone ends a line
		exchange(t, link, "AT+QIOTOTARD=100,4000\r\n", frame(100, 1024)) // MaxRead
		exchange(t, link, "AT+QIOTOTARD=1190,974\r\n", frame(1190, 10))  // end of the piece
		exchange(t, link, "AT+QIOTOTARD=1200,10\r\n", []byte("\r\nERROR\r\n"))
		exchange(t, link, "AT+QIOTOTARD=0,0\r\n", []byte("\r\nERROR\r\n"))
		exchange(t, link, "AT+QIOTUPDATE=2\r\n", []byte("\r\nOK\r\n"))
		readRaw(t, link, "\r\n+QIOTEVT: 7,10702\r\n\r\n+QIOTEVT: 7,10703,\"STM32\",1521,1200,321\r\n")
		exchange(t, link, "AT+QIOTOTARD=1500,1024\r\n", frame(1500, 21)) // end of the file
		exchange(t, link, "AT\r\n", []byte("\r\nOK\r\n"))                // and nothing else came
	})
}

// readRaw checks that exactly want comes next on a raw link.
func readRaw(t *testing.T, link io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(link, got); err != nil {
		t.Fatalf("read %q: %v", got, err)
	}
	if string(got) != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestBadInput checks that garbage, an oversized line and binary noise are
// each answered ERROR and the module goes on answering.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "garbage line", in: "HELLO WORLD\r\n"},
		{name: "AT with junk", in: "AT+QIOTREG=1junk\r\n"},
		{name: "unterminated quote", in: "AT+QIOTCFG=\"productinfo\r\n"},
		{name: "oversized line", in: "AT+QIOTMCUVER=\"" + strings.Repeat("A", 5000) + "\",\"1\"\r\n"},
		{name: "oversized without AT", in: strings.Repeat("\x01", 5000) + "\r\n"},
		{name: "binary noise", in: "\x00\xff\xfe\x1b[A\x07\x00\x80\x90\r\n"},
		{name: "NUL in a command", in: "AT+CSQ\x00\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, config(nil))
				h.ok("ATE0")
				h.stop()
				link := rawLink(t, h.m)
				exchange(t, link, tt.in, []byte("\r\nERROR\r\n"))
				exchange(t, link, "AT\r\n", []byte("\r\nOK\r\n"))
				exchange(t, link, "AT+CSQ\r\n", []byte("\r\n+CSQ: 25,99\r\n\r\nOK\r\n"))
			})
		})
	}
}
