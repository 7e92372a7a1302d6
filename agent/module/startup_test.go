package module_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
)

// wire is the MCU's end of a raw link, read byte for byte.
type wire struct {
	t *testing.T
	w io.Writer
	r *bufio.Reader
}

func newWire(t *testing.T, rw io.ReadWriter) *wire { return &wire{t: t, w: rw, r: bufio.NewReader(rw)} }

// send writes a command line as the firmware does, with CR LF.
func (c *wire) send(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.w, cmd+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// want reads exactly len(want) bytes and compares them.
func (c *wire) want(what, want string) {
	c.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c.r, got); err != nil {
		c.t.Fatalf("%s: read %q: %v", what, got, err)
	}
	if string(got) != want {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("%s:\n got %q (then %q)\nwant %q", what, got, rest, want)
	}
}

// do sends cmd and checks the answer byte for byte.
func (c *wire) do(cmd, answer string) {
	c.t.Helper()
	c.send(cmd)
	c.want(cmd, answer)
}

// event reads the next framed line, "\r\n<line>\r\n".
func (c *wire) event() string {
	c.t.Helper()
	c.want("the CR LF before an event", "\r\n")
	l, err := c.r.ReadString('\n')
	if err != nil || !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("event %q: %v", l, err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func ok(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	return b.String() + "\r\nOK\r\n"
}

// TestStartupSequence replays, byte for byte, the start-up of the real
// STM32 firmware of spec §13.8 (echo on until its ATE0, CR LF after each
// command) against the NB-IoT model with its own delays, checks every
// answer it expects, then runs a two-component plan to the end with
// reads of 974 bytes, confirming each 7,10700 as it comes and reporting
// each version after AT+QIOTUPDATE=3 (§13.9).
func TestStartupSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		a, b := firmware(40000, 'a'), firmware(9000, 'b')
		p.plan("two", 0,
			comp{id: "MCU_A", target: "2.0", file: p.pkg("a.bin", a)},
			comp{id: "MCU_B", target: "2.0", file: p.pkg("b.bin", b)})
		md := mustLookup(t, "bc660k")
		cfg := md.Config()
		cfg.Plans = p.dir()
		cfg.ProductKey, cfg.ProductSecret = product, secret
		cfg.Now = clock()
		m, err := module.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		c := newWire(t, rawLink(t, m))

		c.do("AT", "AT\r"+ok())
		c.do("AT+QSCLK=0", "AT+QSCLK=0\r"+ok())
		c.do("ATE0", "ATE0\r"+ok())
		c.do("AT+QPSMS?", ok("+QPSMS: 0"))
		c.do("AT+QPSMS=10,36000", ok())
		c.do(`AT+QCFG="MacRAI"`, ok(`+QCFG: "MacRAI",0`))
		c.do("AT+CFUN=0", ok())
		c.do(`AT+QCFG="MacRAI",1`, ok())
		c.do("AT+CNMPSD", ok())
		c.do("AT+QR14FEATURE", ok())
		c.do("AT+CFUN=1", ok())
		c.do("AT+CEREG?", ok("+CEREG: 0,1"))
		c.do("AT+CCLK?", ok("+CCLK: 26/06/01,20:00:00+32"))
		c.do("AT+QIOTREG=0", ok())
		c.do(`AT+QIOTMCUVER="MCU_A","1.0"`, ok())
		c.do(`AT+QIOTMCUVER="MCU_B","1.0"`, ok())
		c.do(`AT+QIOTCFG="server"`, ok(`+QIOTCFG: "server",0,"coap://iot-south.quectelcn.com:5683"`))
		c.do(`AT+QIOTCFG="server",0,"coap://iot-south.quectelcn.com:5683"`, ok())
		c.do(`AT+QIOTCFG="lifetime",3600`, ok())
		c.do(`AT+QIOTCFG="buffer",0`, ok())
		c.do(`AT+QIOTCFG="act",1`, ok())
		c.do(`AT+QIOTCFG="tsl",1`, ok())
		c.do("AT+QIOTREG=1", ok())
		c.do("AT+QIOTSTATE?", ok("+QIOTSTATE: 5"))
		for _, want := range []string{"+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200"} {
			if got := c.event(); got != want {
				t.Fatalf("event %q, want %q", got, want)
			}
		}
		c.do("AT+QIOTSTATE?", ok("+QIOTSTATE: 8"))

		c.do("AT+QIOTOTAREQ=0", ok())
		offers := 0
		for offers < 2 { // each 7,10700 is confirmed as it comes
			ev := c.event()
			if !strings.HasPrefix(ev, "+QIOTEVT: 7,10700,") {
				t.Fatalf("event %q before both 7,10700s", ev)
			}
			offers++
			c.do("AT+QIOTUPDATE=1", ok())
		}
		got := map[string][]byte{}
		for _, id := range []string{"MCU_A", "MCU_B"} {
			got[id] = fetch(t, c, id)
			c.do("AT+QIOTUPDATE=3", ok())
			if ev := c.event(); ev != "+QIOTEVT: 7,10704" {
				t.Fatalf("event %q, want 7,10704", ev)
			}
			c.do(fmt.Sprintf(`AT+QIOTMCUVER="%s","2.0"`, id), ok())
			if ev := c.event(); ev != "+QIOTEVT: 7,10705" {
				t.Fatalf("event %q, want 7,10705", ev)
			}
		}
		if !bytes.Equal(got["MCU_A"], a) || !bytes.Equal(got["MCU_B"], b) {
			t.Error("the bytes read differ from the packages")
		}
		c.do("AT+QSCLK=1", ok())
	})
}

// fetch reads component id as the firmware does: 7,10701 (MD5 checked),
// then each 7,10703's piece in reads of 974 bytes, clamped at the piece
// end, and AT+QIOTUPDATE=2 between pieces.
func fetch(t *testing.T, c *wire, id string) []byte {
	t.Helper()
	var data []byte
	var size int64
	for {
		ev := c.event()
		switch {
		case strings.HasPrefix(ev, "+QIOTEVT: 7,10701,"):
			if _, err := fmt.Sscanf(ev, "+QIOTEVT: 7,10701,\"%s", new(string)); err != nil || !strings.Contains(ev, `"`+id+`"`) {
				t.Fatalf("event %q, want 7,10701 for %s", ev, id)
			}
			continue
		case ev == "+QIOTEVT: 7,10702":
			continue
		case !strings.HasPrefix(ev, "+QIOTEVT: 7,10703,"):
			t.Fatalf("event %q, want 7,10701 to 7,10703 for %s", ev, id)
		}
		var got string
		var start, n int64
		if _, err := fmt.Sscanf(ev, "+QIOTEVT: 7,10703,%q,%d,%d,%d", &got, &size, &start, &n); err != nil || got != id {
			t.Fatalf("event %q: %v", ev, err)
		}
		for off := start; off < start+n; {
			k := min(974, start+n-off)
			c.send(fmt.Sprintf("AT+QIOTOTARD=%d,974", off))
			c.want("header", "\r\n+QIOTOTARD: "+strconv.FormatInt(off, 10)+","+strconv.FormatInt(k, 10)+"\r\n")
			buf := make([]byte, k)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				t.Fatal(err)
			}
			data = append(data, buf...)
			c.want("after the data", "\r\n\r\nOK\r\n")
			off += k
		}
		if start+n >= size {
			return data
		}
		c.do("AT+QIOTUPDATE=2", ok())
	}
}
