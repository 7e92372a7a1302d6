package module_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/transport"
)

// The tests of spec §13, what real MCU firmware assumes: one test per
// point, each failing if the point were broken. §13.6 (all 7,10700s up
// front) is TestOfferTwoComponents, §13.8 TestStartupSequence.

// TestVerboseFraming (§13.1): every information line, final result and
// event starts with CR LF and ends with CR LF.
func TestVerboseFraming(t *testing.T) {
	for _, md := range module.Models() {
		t.Run(md.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := md.Config()
				cfg.ProductKey, cfg.ProductSecret = product, secret
				cfg.EventDelay, cfg.RegDelay = 10*time.Millisecond, 100*time.Millisecond
				m, err := module.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				c := newWire(t, rawLink(t, m))
				c.do("ATE0", "ATE0\r\r\nOK\r\n")
				c.do("AT+CGMM", "\r\n"+md.Name+"\r\n\r\nOK\r\n")
				var ati strings.Builder
				for _, l := range md.ATI {
					l = strings.NewReplacer("{model}", md.Name, "{revision}", md.Revision).Replace(l)
					ati.WriteString("\r\n" + l + "\r\n")
				}
				c.do("ATI", ati.String()+"\r\nOK\r\n")
				c.do("AT+CEREG?", "\r\n+CEREG: 0,1\r\n\r\nOK\r\n")
				c.do("AT+NOSUCH", "\r\nERROR\r\n")
				c.do("AT+CMEE=1", "\r\nOK\r\n")
				c.do("AT+CFUN=7", "\r\n+CME ERROR: 50\r\n")
				c.do("AT+QIOTREG=9", "\r\nERROR\r\n") // QIOT commands: plain ERROR
				c.do("AT+QIOTREG=1", "\r\nOK\r\n")
				c.want("events", "\r\n+QIOTEVT: 2,10200\r\n\r\n+QIOTEVT: 3,10200\r\n")
			})
		})
	}
}

// TestOTARDInsidePiece (§13.2 to §13.5): a read at any offset inside the
// current piece is answered with a header echoing the start, a length
// clamped to the piece end and to the model's maximum, and exactly that
// many bytes; the firmware's fixed 974-byte reads never get ERROR.
func TestOTARDInsidePiece(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, data := onePlan(t, 5000, 0)
		h := otaModule(t, p, func(c *module.Config) { c.PieceSize = 2100 })
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.ok("AT+QIOTUPDATE=2")
		h.expect("+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",5000,2100,2100`)
		for off := int64(2100); off < 4200; off += 7 {
			got := h.readOK(off, 974) // readOK checks the header
			want := data[off:min(off+974, 4200)]
			if !bytes.Equal(got, want) {
				t.Fatalf("AT+QIOTOTARD=%d,974: %d bytes, want the %d up to the piece end", off, len(got), len(want))
			}
		}
		if got := h.readOK(2100, 5000); len(got) != module.MaxRead {
			t.Errorf("AT+QIOTOTARD=2100,5000: %d bytes, want %d", len(got), module.MaxRead)
		}
	})
}

// TestModelTiming (§13.7): every model's events come at least 10 ms after
// the OK that caused them, its registration events 100 to 500 ms after
// AT+QIOTREG=1.
func TestModelTiming(t *testing.T) {
	for _, md := range module.Models() {
		cfg := md.Config()
		if cfg.EventDelay < 10*time.Millisecond || cfg.RegDelay < 100*time.Millisecond || cfg.RegDelay > 500*time.Millisecond {
			t.Errorf("%s: event delay %v, registration delay %v: want at least 10ms, and 100 to 500ms", md.Name, cfg.EventDelay, cfg.RegDelay)
		}
	}
}

// slowLink is a link whose writes of a final result take 50 ms, as on a
// slow UART: the module must time its events from when the OK is out.
type slowLink struct {
	io.ReadWriteCloser
	okDone chan time.Time // when each write holding OK returned
}

func (l *slowLink) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("\r\nOK\r\n")) {
		time.Sleep(50 * time.Millisecond)
		defer func() { l.okDone <- time.Now() }()
	}
	return l.ReadWriteCloser.Write(p)
}

// TestEventsAfterOKOnTheWire (§13.7): the event delay counts from the
// moment the OK is written, not from when the command was handled; and
// with a delay of 0 the event still comes in a write of its own.
func TestEventsAfterOKOnTheWire(t *testing.T) {
	for _, delay := range []time.Duration{20 * time.Millisecond, 0} {
		t.Run(delay.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := onePlan(t, 100, 0)
				cfg := config(p.dir())
				cfg.EventDelay = delay
				m, err := module.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				a, b := transport.Pipe()
				link := &slowLink{ReadWriteCloser: a, okDone: make(chan time.Time, 100)}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					m.Server().Serve(ctx, link)
				}()
				defer func() {
					b.Close()
					cancel()
					<-done
				}()
				c := newWire(t, b)
				c.do("ATE0", "ATE0\r\r\nOK\r\n")
				c.do(`AT+QIOTMCUVER="STM32","1_0_0"`, "\r\nOK\r\n")
				c.do("AT+QIOTREG=1", "\r\nOK\r\n")
				c.event()
				c.event()
				for range 3 {
					<-link.okDone
				}
				c.send("AT+QIOTOTAREQ")
				c.want("OK", "\r\nOK\r\n")
				okOut := <-link.okDone
				ev := c.event()
				if got := time.Since(okOut); !strings.HasPrefix(ev, "+QIOTEVT: 7,10700,") || got != delay {
					t.Errorf("%q came %v after the OK was written, want 7,10700 after %v", ev, got, delay)
				}
			})
		})
	}
}

// TestOfferAllUpFront (§13.6) is the raw version of TestOfferTwoComponents:
// no 7,10701 before the last 7,10700, whatever the MCU sends between.
func TestOfferAllUpFront(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		var comps []comp
		for i := range 4 {
			id := fmt.Sprintf("C%d", i)
			comps = append(comps, comp{id: id, target: "2", file: p.pkg(id+".bin", firmware(50, byte(i)))})
		}
		p.plan("four", 0, comps...)
		h := otaModule(t, p, func(c *module.Config) { c.EventDelay = 10 * time.Millisecond })
		for i := range 4 {
			h.ok(fmt.Sprintf(`AT+QIOTMCUVER="C%d","1"`, i))
		}
		h.ok("AT+QIOTOTAREQ")
		for i := range 4 {
			h.expect(fmt.Sprintf(`+QIOTEVT: 7,10700,"C%d",…`, i))
			h.ok("AT+QIOTUPDATE=1")
		}
		h.expect(`+QIOTEVT: 7,10701,"C0",…`)
	})
}
