package module_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
)

// otaModule starts a registered module on the plans p with the STM32
// component at 1_0_0.
func otaModule(t testing.TB, p *plans, change func(*module.Config)) *harness {
	t.Helper()
	cfg := config(p.dir())
	if change != nil {
		change(&cfg)
	}
	h := start(t, cfg)
	h.ok("ATE0")
	h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
	h.register()
	return h
}

// onePlan writes the plan stm32-2.0.0 for a package of size bytes.
func onePlan(t testing.TB, size, retries int) (*plans, []byte) {
	t.Helper()
	p := newPlans(t)
	data := firmware(size, 1)
	p.plan("stm32-2.0.0", retries, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", data)})
	return p, data
}

func TestOTAREQBeforeRegistration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 100, 0)
		h := start(t, config(p.dir()))
		h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
		h.fail("AT+QIOTOTAREQ")
		h.fail("AT+QIOTOTAREQ=1")
		h.register()
		h.ok("AT+QIOTREG=0")
		h.expect("+QIOTEVT: 6,10200")
		h.fail("AT+QIOTOTAREQ")
		h.quiet()
	})
}

func TestOffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 27954, 2)
		h := otaModule(t, p, nil)
		h.okLine("AT+QIOTOTAREQ=?", "+QIOTOTAREQ: (0,1)")
		h.fail("AT+QIOTOTAREQ=2")
		h.fail("AT+QIOTOTAREQ=0,1")
		h.quiet()
		h.ok("AT+QIOTOTAREQ")
		h.expect(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`)
		h.quiet()
		h.ok("AT+QIOTOTAREQ=0") // asking again offers again
		h.expect(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`)
	})
}

func TestOfferNothing(t *testing.T) {
	tests := []struct {
		name    string
		plan    bool   // write the STM32 plan
		version string // STM32's version
		product string
	}{
		{name: "no plan", version: "1_0_0", product: product},
		{name: "already at target", plan: true, version: "2_0_0", product: product},
		{name: "other product", plan: true, version: "1_0_0", product: "p2other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPlans(t)
				if tt.plan {
					p.plan("stm32-2.0.0", 0, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", firmware(100, 1))})
				}
				cfg := config(p.dir())
				cfg.ProductKey = tt.product
				h := start(t, cfg)
				h.ok(`AT+QIOTMCUVER="STM32","` + tt.version + `"`)
				h.register()
				h.ok("AT+QIOTOTAREQ")
				h.quiet()
				h.fail("AT+QIOTUPDATE=1")
			})
		})
	}
}

// twoComponents writes a plan for MCU_A and MCU_B, from 1.0 to 2.0.
func twoComponents(t *testing.T) (p *plans, a, b []byte) {
	t.Helper()
	p = newPlans(t)
	a, b = firmware(1000, 'a'), firmware(2000, 'b')
	p.plan("two", 0,
		comp{id: "MCU_A", target: "2.0", file: p.pkg("a.bin", a)},
		comp{id: "MCU_B", target: "2.0", file: p.pkg("b.bin", b)})
	return p, a, b
}

// TestOfferTwoComponents checks that both 7,10700s come back to back
// before the first 7,10701, even when the MCU confirms each one as it
// comes (spec §13.6).
func TestOfferTwoComponents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, a, b := twoComponents(t)
		h := otaModule(t, p, func(c *module.Config) { c.EventDelay = 10e6 })
		h.ok(`AT+QIOTMCUVER="MCU_A","1.0"`)
		h.ok(`AT+QIOTMCUVER="MCU_B","1.0"`)
		h.ok("AT+QIOTOTAREQ")
		h.expect(`+QIOTEVT: 7,10700,"MCU_A","","2.0",30,-113,1000`)
		h.ok("AT+QIOTUPDATE=1")
		h.expect(`+QIOTEVT: 7,10700,"MCU_B","","2.0",30,-113,2000`)
		h.ok("AT+QIOTUPDATE=1") // confirms the second: changes nothing
		h.expect(`+QIOTEVT: 7,10701,"MCU_A",1000,…`, "+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"MCU_A",1000,0,1000`)
		h.quiet()
		if got := h.readOK(0, 1024); !bytes.Equal(got, a) {
			t.Errorf("MCU_A: read %d bytes, want the %d of a.bin", len(got), len(a))
		}
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="MCU_A","2.0"`)
		h.expect("+QIOTEVT: 7,10705", `+QIOTEVT: 7,10701,"MCU_B",2000,…`, "+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"MCU_B",2000,0,2000`)
		got := append(h.readOK(0, 1024), h.readOK(1024, 1024)...)
		if !bytes.Equal(got, b) {
			t.Errorf("MCU_B: read %d bytes, want the %d of b.bin", len(got), len(b))
		}
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="MCU_B","2.0"`)
		h.expect("+QIOTEVT: 7,10705")
		h.quiet()
		h.fail("AT+QIOTUPDATE=1") // the task is over
		h.ok("AT+QIOTOTAREQ")
		h.quiet() // nothing left to do
	})
}

// TestOfferSkipsDoneComponents checks that a component already at its
// target version gets no 7,10700, nor one the device is not eligible for
// yet.
func TestOfferSkipsDoneComponents(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string // versions of MCU_A and MCU_B
		want     []string
		deltaOfB string // make MCU_B a delta from this version
	}{
		{name: "second done", a: "1.0", b: "2.0", want: []string{`+QIOTEVT: 7,10700,"MCU_A","","2.0",30,-113,1000`}},
		{name: "first done", a: "2.0", b: "1.0", want: []string{`+QIOTEVT: 7,10700,"MCU_B","","2.0",30,-113,2000`}},
		{name: "second not eligible", a: "1.0", b: "0.9", deltaOfB: "1.0", want: []string{`+QIOTEVT: 7,10700,"MCU_A","","2.0",30,-113,1000`}},
		{name: "delta eligible", a: "1.0", b: "1.0", deltaOfB: "1.0", want: []string{
			`+QIOTEVT: 7,10700,"MCU_A","","2.0",30,-113,1000`, `+QIOTEVT: 7,10700,"MCU_B","1.0","2.0",30,-113,2000`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPlans(t)
				p.plan("two", 0,
					comp{id: "MCU_A", target: "2.0", file: p.pkg("a.bin", firmware(1000, 'a'))},
					comp{id: "MCU_B", target: "2.0", file: p.pkg("b.bin", firmware(2000, 'b')), source: tt.deltaOfB})
				h := otaModule(t, p, nil)
				h.ok(`AT+QIOTMCUVER="MCU_A","` + tt.a + `"`)
				h.ok(`AT+QIOTMCUVER="MCU_B","` + tt.b + `"`)
				h.ok("AT+QIOTOTAREQ")
				h.expect(tt.want...)
				h.quiet()
			})
		})
	}
}

// TestStartEvent checks the 7,10701 fields against plan.Digest of the
// package, with the SHA-256 only after AT+QIOTOTAREQ=1.
func TestStartEvent(t *testing.T) {
	tests := []struct {
		name    string
		request string
		sha     bool
	}{
		{name: "bare", request: "AT+QIOTOTAREQ"},
		{name: "=0", request: "AT+QIOTOTAREQ=0"},
		{name: "=1", request: "AT+QIOTOTAREQ=1", sha: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, data := onePlan(t, 5000, 0)
				d, err := plan.Digest(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				h := otaModule(t, p, nil)
				h.ok(tt.request)
				h.expect("+QIOTEVT: 7,10700,…")
				h.ok("AT+QIOTUPDATE=1")
				got := h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
				want := fmt.Sprintf(`+QIOTEVT: 7,10701,"STM32",%d,"%s",%d`, d.Size, d.MD5, d.CRC)
				if tt.sha {
					want += `,"` + d.SHA256 + `"`
				}
				if got[0] != want {
					t.Errorf("got  %s\nwant %s", got[0], want)
				}
				if got, want := got[2], `+QIOTEVT: 7,10703,"STM32",5000,0,5000`; got != want {
					t.Errorf("got %s, want %s", got, want)
				}
			})
		})
	}
}

// TestDownload reads a package in pieces: clamped reads at the end of a
// piece and of the file, 7,10703 with absolute offsets, UPDATE=3 and the
// version report.
func TestDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, data := onePlan(t, 2500, 0)
		h := otaModule(t, p, func(c *module.Config) { c.PieceSize = 1000 })
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.fail("AT+QIOTUPDATE=2") // not confirmed yet
		h.fail("AT+QIOTUPDATE=3")
		if _, err := h.read(0, 10); err == nil {
			t.Error("AT+QIOTOTARD before AT+QIOTUPDATE=1: got OK, want ERROR")
		}
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",2500,0,1000`)

		var got []byte
		for piece := int64(0); piece < 3; piece++ {
			start, end := piece*1000, min(piece*1000+1000, 2500)
			for off := start; off < end; {
				b := h.readOK(off, 300) // always 300: the last read of a piece is clamped
				if want := min(300, end-off); int64(len(b)) != want {
					t.Fatalf("AT+QIOTOTARD=%d,300: %d bytes, want %d", off, len(b), want)
				}
				got = append(got, b...)
				off += int64(len(b))
			}
			if _, err := h.read(end, 10); err == nil && piece < 2 {
				t.Errorf("AT+QIOTOTARD=%d,10 beyond piece %d: got OK, want ERROR", end, piece)
			}
			if piece < 2 {
				h.ok("AT+QIOTUPDATE=2")
				next := end
				h.expect("+QIOTEVT: 7,10702", fmt.Sprintf(`+QIOTEVT: 7,10703,"STM32",2500,%d,%d`, next, min(1000, 2500-next)))
				if _, err := h.read(start, 10); err == nil {
					t.Errorf("AT+QIOTOTARD=%d,10 in the piece before: got OK, want ERROR", start)
				}
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes that differ from the %d-byte package", len(got), len(data))
		}
		if b := h.readOK(2400, 1024); len(b) != 100 {
			t.Errorf("AT+QIOTOTARD=2400,1024: %d bytes, want the 100 left", len(b))
		}
		h.ok("AT+QIOTUPDATE=2") // after the last piece: ignored
		h.quiet()
		h.ok("AT+QIOTUPDATE=3")
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="STM32","2_0_0"`)
		h.expect("+QIOTEVT: 7,10705")
		h.quiet()
		if _, err := h.read(2400, 10); err == nil {
			t.Error("AT+QIOTOTARD after the plan ended: got OK, want ERROR")
		}
	})
}

func TestOTARDBounds(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		start   int64 // of the header
		n       int   // payload bytes; -1 for ERROR
		lines   []string
		onPiece int // read after this many AT+QIOTUPDATE=2
	}{
		{name: "max read", line: "AT+QIOTOTARD=0,1024", start: 0, n: 1024},
		{name: "clamped to MaxRead", line: "AT+QIOTOTARD=10,5000", start: 10, n: module.MaxRead},
		{name: "clamped to piece end", line: "AT+QIOTOTARD=4000,1024", start: 4000, n: 96},
		{name: "last byte of piece", line: "AT+QIOTOTARD=4095,1", start: 4095, n: 1},
		{name: "next piece", line: "AT+QIOTOTARD=4096,10", n: -1},
		{name: "negative start", line: "AT+QIOTOTARD=-1,10", n: -1},
		{name: "length 0", line: "AT+QIOTOTARD=0,0", n: -1},
		{name: "negative length", line: "AT+QIOTOTARD=0,-5", n: -1},
		{name: "one argument", line: "AT+QIOTOTARD=0", n: -1},
		{name: "quoted", line: `AT+QIOTOTARD="0","10"`, n: -1},
		{name: "huge", line: "AT+QIOTOTARD=99999999999999999999,1", n: -1},
		{name: "exec form", line: "AT+QIOTOTARD", n: -1},
		{name: "test form", line: "AT+QIOTOTARD=?", lines: []string{"+QIOTOTARD: <start>,(1-1024)"}},
		{name: "second piece", onPiece: 1, line: "AT+QIOTOTARD=4096,1024", start: 4096, n: 904},
		{name: "short at end of file", onPiece: 1, line: "AT+QIOTOTARD=4900,1024", start: 4900, n: 100},
		{name: "at end of file", onPiece: 1, line: "AT+QIOTOTARD=5000,1", n: -1},
		{name: "first piece after UPDATE=2", onPiece: 1, line: "AT+QIOTOTARD=0,10", n: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, data := onePlan(t, 5000, 0)
				h := otaModule(t, p, func(c *module.Config) { c.PieceSize = 4096 })
				h.ok("AT+QIOTOTAREQ")
				h.expect("+QIOTEVT: 7,10700,…")
				h.ok("AT+QIOTUPDATE=1")
				h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
				for range tt.onPiece {
					h.ok("AT+QIOTUPDATE=2")
					h.expect("+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
				}
				cmd, err := atcmd.ParseCommand(tt.line)
				if err != nil {
					t.Fatal(err)
				}
				ctx := t.Context()
				resp, err := h.c.DoPayload(ctx, cmd, otardLen)
				switch {
				case tt.n < 0 && err == nil:
					t.Fatalf("%s: got OK %q, want ERROR", tt.line, resp.Lines)
				case tt.n < 0:
					return
				case err != nil:
					t.Fatalf("%s: %v", tt.line, err)
				}
				if tt.lines != nil {
					if strings.Join(resp.Lines, "\n") != strings.Join(tt.lines, "\n") {
						t.Errorf("%s: got %q, want %q", tt.line, resp.Lines, tt.lines)
					}
					return
				}
				wantHeader := fmt.Sprintf("+QIOTOTARD: %d,%d", tt.start, tt.n)
				if len(resp.Lines) != 1 || resp.Lines[0] != wantHeader {
					t.Errorf("%s: lines %q, want [%q]", tt.line, resp.Lines, wantHeader)
				}
				if want := data[tt.start : tt.start+int64(tt.n)]; !bytes.Equal(resp.Payload, want) {
					t.Errorf("%s: payload of %d bytes differs from the package at %d", tt.line, len(resp.Payload), tt.start)
				}
			})
		})
	}
}

// TestPayloadBytes checks that bytes a line reader would trip on come
// through AT+QIOTOTARD unchanged.
func TestPayloadBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		data := []byte("\r\nOK\r\n\x00\x00\r\r\n\n\rERROR\r\n+QIOTEVT: 7,10706\r\n\x08\x7f\xff" + "OK\r\n")
		p := newPlans(t)
		p.plan("stm32-2.0.0", 0, comp{id: "STM32", target: "2_0_0", file: p.pkg("stm32.bin", data)})
		h := otaModule(t, p, nil)
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		if got := h.readOK(0, 1024); !bytes.Equal(got, data) {
			t.Errorf("payload %q, want %q", got, data)
		}
		if got := h.readOK(2, 4); !bytes.Equal(got, data[2:6]) {
			t.Errorf("payload %q, want %q", got, data[2:6])
		}
		h.ok("AT") // the link is still in step
	})
}

// TestUpdateFailure checks that a wrong version after AT+QIOTUPDATE=3 is
// 7,10706 and counts as a failed attempt: with retries 0 the plan is not
// offered again, with retries 1 once more.
func TestUpdateFailure(t *testing.T) {
	for _, retries := range []int{0, 1} {
		t.Run(fmt.Sprintf("retries %d", retries), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := onePlan(t, 100, retries)
				h := otaModule(t, p, nil)
				for attempt := 0; attempt <= retries; attempt++ {
					h.ok("AT+QIOTOTAREQ")
					h.expect("+QIOTEVT: 7,10700,…")
					h.ok("AT+QIOTUPDATE=1")
					h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
					h.readOK(0, 100)
					h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`) // the old version again while downloading: no failure yet
					h.quiet()
					h.ok("AT+QIOTUPDATE=3")
					h.expect("+QIOTEVT: 7,10704")
					h.ok(`AT+QIOTMCUVER="STM32","1_5_0"`)
					h.expect("+QIOTEVT: 7,10706")
					if _, err := h.read(0, 10); err == nil {
						t.Error("AT+QIOTOTARD after 7,10706: got OK, want ERROR")
					}
					h.fail("AT+QIOTUPDATE=3")
				}
				h.ok("AT+QIOTOTAREQ")
				h.quiet()
			})
		})
	}
}

// TestRefuse checks AT+QIOTUPDATE=0: the task is dropped, before or
// during the download, and a later request offers the plan again.
func TestRefuse(t *testing.T) {
	for _, during := range []bool{false, true} {
		t.Run(fmt.Sprintf("during download %v", during), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, _ := onePlan(t, 100, 0)
				h := otaModule(t, p, nil)
				h.ok("AT+QIOTOTAREQ")
				h.expect("+QIOTEVT: 7,10700,…")
				if during {
					h.ok("AT+QIOTUPDATE=1")
					h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
				}
				h.ok("AT+QIOTUPDATE=0")
				h.quiet()
				h.fail("AT+QIOTUPDATE=1")
				h.fail("AT+QIOTUPDATE=0")
				if _, err := h.read(0, 10); err == nil {
					t.Error("AT+QIOTOTARD after a refusal: got OK, want ERROR")
				}
				h.ok("AT+QIOTOTAREQ")
				h.expect("+QIOTEVT: 7,10700,…")
			})
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 100, 0)
		h := otaModule(t, p, nil)
		h.okLine("AT+QIOTUPDATE=?", "+QIOTUPDATE: (0-3)")
		for _, line := range []string{"AT+QIOTUPDATE=1", "AT+QIOTUPDATE=2", "AT+QIOTUPDATE=3", "AT+QIOTUPDATE=0"} {
			h.fail(line) // no plan
		}
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		for _, line := range []string{"AT+QIOTUPDATE=4", "AT+QIOTUPDATE=-1", "AT+QIOTUPDATE", "AT+QIOTUPDATE?", "AT+QIOTUPDATE=1,1", `AT+QIOTUPDATE="1"`} {
			h.fail(line)
		}
		h.quiet()
		h.ok("AT+QIOTUPDATE=1") // the offer is still there
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
	})
}

// TestRequestDuringTransfer checks that AT+QIOTOTAREQ in the middle of a
// download starts over from the offer, and fails the transfer with
// 7,10706 when the plan is gone.
func TestRequestDuringTransfer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, data := onePlan(t, 3000, 5)
		h := otaModule(t, p, func(c *module.Config) { c.PieceSize = 1000 })
		h.ok("AT+QIOTOTAREQ=1")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.ok("AT+QIOTUPDATE=2")
		h.expect("+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",3000,1000,1000`)

		h.ok("AT+QIOTOTAREQ") // the MCU was reset
		h.expect(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,3000`)
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",3000,0,1000`)
		if got := h.readOK(0, 1000); !bytes.Equal(got, data[:1000]) {
			t.Error("piece 0 after the new offer differs from the package")
		}

		if err := os.Remove(filepath.Join(p.path, "stm32-2.0.0.json")); err != nil {
			t.Fatal(err)
		}
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10706")
		h.quiet()
		if _, err := h.read(0, 10); err == nil {
			t.Error("AT+QIOTOTARD after the plan went: got OK, want ERROR")
		}
	})
}

// TestBadPlanBesideGood checks that a bad plan file does not hide a good
// one.
func TestBadPlanBesideGood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 100, 0)
		p.write("aaa-broken.json", []byte(`{"name": "broken", "product": `))
		p.write("bbb-bad.json", []byte(`{"name": "bad", "product": "p1demo", "timezone": "+00:00",
			"window": {"start": "2026-01-01 00:00", "end": "2027-01-01 00:00"}, "mode": "silent",
			"components": [{"type": "mcu", "id": "STM32", "package": "full", "target_version": "3", "file": "../x.bin"}]}`))
		h := otaModule(t, p, nil)
		h.ok("AT+QIOTOTAREQ")
		h.expect(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,100`)
	})
}
