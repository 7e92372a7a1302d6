package module_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atota/atota/agent/module"
)

// FuzzModuleLine sends random lines to a module in the middle of a
// transfer and checks it never panics or hangs: a command after the line
// is still answered, and so is AT.
func FuzzModuleLine(f *testing.F) {
	for _, s := range []string{
		"AT", "ATI", "ATE1", "AT+CMEE=2", "AT+CSQ;+CBC;+CGSN",
		"AT+QIOTREG=1;+QIOTOTAREQ=1", "AT+QIOTREG=0", "AT+QIOTSTATE?",
		"AT+QIOTOTARD=1000,1024", "AT+QIOTOTARD=1999,974;+QIOTOTARD=1000,1", "AT+QIOTOTARD=99999999999999999999,1",
		"AT+QIOTUPDATE=2;+QIOTUPDATE=3", "AT+QIOTUPDATE=0", `AT+QIOTMCUVER="STM32","2_0_0"`,
		`AT+QIOTCFG="productinfo","a","b"`, `AT+QIOTCFG="lifetime",65536`, `AT+QIOTMCUVER="A","`,
		"AT+CFUN=0", "AT+CFUN=1,1", "AT+CFUN=4;+CEREG?", "AT+CEREG=2;+CREG=1;+CGATT=0", `AT+QCFG="nwscanmode",3`,
		`AT+CCLK="26/01/01,00:00:00+32"`, `AT+CGDCONT=1,"IP","x"`, "AT+COPS=2", "AT+QIOTINFO?", "AT+CGSN=1;+CIMI;+QCCID",
		"\x00\xff\r\n\rAT\b\x7f", "AT+QIOTOTARD=1000,10\rAT+QIOTOTARD=1010,10\n", strings.Repeat("A", 5000),
	} {
		f.Add([]byte(s))
	}

	// Every run starts from a module half way through piece 1 of a
	// 3000-byte package, with its state in memory only.
	p, _ := onePlan(f, 3000, 3)
	cfg := config(p.dir())
	cfg.PieceSize = 1000
	cfg.RebootDelay = 0 // AT+CFUN=1,1 reboots

	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := module.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		link := rawLink(t, m)
		out := newSink(link)
		defer func() {
			link.Close()
			<-out.done
		}()
		at := 0
		for _, step := range []struct{ cmd, until string }{
			{`AT+QIOTMCUVER="STM32","1_0_0"`, "\r\nOK\r\n"},
			{"AT+QIOTREG=1", "+QIOTEVT: 3,10200\r\n"},
			{"AT+QIOTOTAREQ=1", "+QIOTEVT: 7,10700,"},
			{"AT+QIOTUPDATE=1", `+QIOTEVT: 7,10703,"STM32",3000,0,1000` + "\r\n"},
			{"AT+QIOTUPDATE=2", `+QIOTEVT: 7,10703,"STM32",3000,1000,1000` + "\r\n"},
		} {
			link.Write([]byte(step.cmd + "\r\n"))
			var ok bool
			if at, ok = out.waitFor(at, step.until); !ok {
				t.Fatalf("setup: %s: no %q; the module sent %q", step.cmd, step.until, out.bytes())
			}
		}

		link.Write(line)
		link.Write([]byte("\r\n"))
		// A component id the line cannot know marks the answer.
		id := "N" + rand.Text()
		// Sent until answered: a line that reboots the module makes it
		// answer ERROR for a moment.
		ok := false
		for try := 0; try < 100 && !ok; try++ {
			link.Write([]byte(`AT+QIOTMCUVER="` + id + `","1";+QIOTMCUVER="` + id + "\"\r\n"))
			at, ok = out.waitForWithin(at, `+QIOTMCUVER: "`+id+`","1"`+"\r\n\r\nOK\r\n", 300*time.Millisecond)
		}
		if !ok {
			t.Fatalf("after %q the module stopped answering; it sent %q", line, out.bytes())
		}
		link.Write([]byte("AT\r\n"))
		if _, ok := out.waitFor(at, "\r\nOK\r\n"); !ok {
			t.Fatalf("after %q, AT got no OK; the module sent %q", line, out.bytes())
		}
	})
}

// sink collects what the module sends on a raw link.
type sink struct {
	mu   sync.Mutex
	cond sync.Cond
	buf  []byte
	err  error
	done chan struct{} // closed when the link's Read failed
}

func newSink(r io.Reader) *sink {
	s := &sink{done: make(chan struct{})}
	s.cond.L = &s.mu
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			s.mu.Lock()
			s.buf = append(s.buf, b[:n]...)
			s.err = err
			s.cond.Broadcast()
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitFor waits up to 30 s (a hang, not a timing check) for want to appear at or after offset from and
// returns the offset just past it.
func (s *sink) waitFor(from int, want string) (int, bool) {
	return s.waitForWithin(from, want, 30*time.Second)
}

// waitForWithin is waitFor for up to d; on failure it returns from.
func (s *sink) waitForWithin(from int, want string, d time.Duration) (int, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if i := bytes.Index(s.buf[from:], []byte(want)); i >= 0 {
			return from + i + len(want), true
		}
		if s.err != nil || ctx.Err() != nil {
			return from, false
		}
		s.cond.Wait()
	}
}

func (s *sink) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf)
}
