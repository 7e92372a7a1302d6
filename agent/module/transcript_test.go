package module_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/atcmd/atcmdtest"
	"github.com/atota/atota/transport"
)

// recorded connects a client to m's server through an atcmdtest.Recorder
// on the MCU's end, for golden transcripts.
func recorded(t *testing.T, m *module.Module) (*harness, *atcmdtest.Recorder) {
	t.Helper()
	a, b := transport.Pipe()
	rec := atcmdtest.NewRecorder(b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Server().Serve(t.Context(), a)
	}()
	c := atcmd.NewClient(rec)
	h := &harness{t: t, m: m, c: c, evs: c.Subscribe("+QIOTEVT:")}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			c.Close()
			a.Close()
			<-done
		})
	}
	t.Cleanup(h.stop)
	return h, rec
}

// TestReferenceTranscript replays the MCU's side of Quectel's SOTA example
// (../shared/reference/quectel-sota-example.txt) against the module,
// with a package of the example's size (27954 bytes), and compares what
// the module answers with the example, its digests replaced by our
// package's, and byte for byte with testdata/sota-example.golden.
func TestReferenceTranscript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		data := firmware(27954, 'q')
		p.plan("stm32-2_0_0", 0, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32-2_0_0.bin", data)})
		d, err := plan.Digest(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		cfg := config(p.dir())
		cfg.EventDelay, cfg.RegDelay = module.DefaultEventDelay, module.DefaultRegDelay
		m, err := module.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		h, rec := recorded(t, m)

		// The example's MCU lines, in its order; echo is on, as there.
		h.ok("AT+QIOTREG=1")
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
		h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
		h.ok("AT+QIOTOTAREQ=1")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		var got []byte
		// The example elides the reads between 1024 and the last, which it
		// starts at 27649, a typo for 27648 (spec §11.12).
		for off := int64(0); off < 27954; off += 1024 {
			got = append(got, h.readOK(off, 1024)...)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("the bytes read differ from the package")
		}
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="STM32","2_0_0"`)
		h.expect("+QIOTEVT: 7,10705")
		h.quiet()
		h.stop()

		// Every line the example shows the module sending, in order.
		want := []string{
			"AT+QIOTREG=1", "OK", "+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200",
			"OK",
			"OK", `+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`,
			"AT+QIOTUPDATE=1", "OK",
			fmt.Sprintf(`+QIOTEVT: 7,10701,"STM32",27954,"%s",%d,"%s"`, d.MD5, d.CRC, d.SHA256),
			"+QIOTEVT: 7,10702",
			`+QIOTEVT: 7,10703,"STM32",27954,0,27954`,
			"+QIOTOTARD: 0,1024", "OK",
			"+QIOTOTARD: 1024,1024", "OK",
			"+QIOTOTARD: 27648,306", "OK",
			"AT+QIOTUPDATE=3", "OK", "+QIOTEVT: 7,10704",
			"OK", "+QIOTEVT: 7,10705",
		}
		transcript := rec.Transcript(otardLen)
		lines := receivedLines(transcript)
		i := 0
		for _, l := range lines {
			if i < len(want) && l == want[i] {
				i++
			}
		}
		if i < len(want) {
			t.Errorf("the module's answers lack the example's line %q (after %q)", want[i], want[max(i-1, 0)])
		}
		atcmdtest.Golden(t, filepath.Join("testdata", "sota-example.golden"), transcript)
	})
}

// receivedLines returns the received lines of a transcript, unquoted,
// without CR LF, empty ones left out.
func receivedLines(transcript string) []string {
	var out []string
	for l := range strings.Lines(transcript) {
		q, ok := strings.CutPrefix(strings.TrimSuffix(l, "\n"), "< ")
		if !ok || !strings.HasPrefix(q, `"`) {
			continue
		}
		s, err := strconv.Unquote(q)
		if err != nil {
			continue
		}
		if s = strings.TrimRight(s, "\r\n"); s != "" {
			out = append(out, s)
		}
	}
	return out
}
