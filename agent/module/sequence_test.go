package module_test

import (
	"bytes"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
)

// TestSection9 runs the message sequence of spec §9: components MCU_A in
// two pieces and MCU_B in one, SHA-256 requested, each 7,10700 confirmed
// as it comes, both 10700s before the first 10701, pieces at absolute
// offsets, AT+QIOTUPDATE=2 only between pieces, AT+QIOTUPDATE=3 and the
// version report before the next component.
func TestSection9(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlans(t)
		a, b := firmware(5000, 'A'), firmware(3000, 'B')
		p.plan("two", 0,
			comp{id: "MCU_A", target: "2.0.0", file: p.pkg("a.bin", a)},
			comp{id: "MCU_B", target: "2.0.0", file: p.pkg("b.bin", b)})
		da, _ := plan.Digest(bytes.NewReader(a))
		db, _ := plan.Digest(bytes.NewReader(b))
		h := otaModule(t, p, func(c *module.Config) {
			c.PieceSize = 3000
			c.EventDelay = module.DefaultEventDelay
		})
		h.ok(`AT+QIOTMCUVER="MCU_A","1.0.0"`) // 1
		h.ok(`AT+QIOTMCUVER="MCU_B","1.0.0"`) // 2
		h.ok("AT+QIOTOTAREQ=1")               // 4
		h.expect(`+QIOTEVT: 7,10700,"MCU_A","","2.0.0",30,-113,5000`)
		h.ok("AT+QIOTUPDATE=1") // 8, after each 10700
		h.expect(`+QIOTEVT: 7,10700,"MCU_B","","2.0.0",30,-113,3000`)
		h.ok("AT+QIOTUPDATE=1")
		h.expect( // 9-11
			fmt.Sprintf(`+QIOTEVT: 7,10701,"MCU_A",5000,"%s",%d,"%s"`, da.MD5, da.CRC, da.SHA256),
			"+QIOTEVT: 7,10702",
			`+QIOTEVT: 7,10703,"MCU_A",5000,0,3000`)
		got := readPiece(h, 0, 3000, 974) // 12
		h.ok("AT+QIOTUPDATE=2")           // 13
		h.expect("+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"MCU_A",5000,3000,2000`)
		got = append(got, readPiece(h, 3000, 5000, 974)...) // 15
		if !bytes.Equal(got, a) {
			t.Fatal("MCU_A: the bytes read differ from a.bin")
		}
		h.ok("AT+QIOTUPDATE=3") // 17
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="MCU_A","2.0.0"`) // 18
		h.expect("+QIOTEVT: 7,10705",         // 19
			fmt.Sprintf(`+QIOTEVT: 7,10701,"MCU_B",3000,"%s",%d,"%s"`, db.MD5, db.CRC, db.SHA256), // 20
			"+QIOTEVT: 7,10702",
			`+QIOTEVT: 7,10703,"MCU_B",3000,0,3000`)
		if got := readPiece(h, 0, 3000, 974); !bytes.Equal(got, b) { // 21
			t.Fatal("MCU_B: the bytes read differ from b.bin")
		}
		h.ok("AT+QIOTUPDATE=3") // 22
		h.expect("+QIOTEVT: 7,10704")
		h.ok(`AT+QIOTMCUVER="MCU_B","2.0.0"`) // 24
		h.expect("+QIOTEVT: 7,10705")         // 25
		h.quiet()
		h.ok("AT+QIOTOTAREQ=1")
		h.quiet() // both at their targets
	})
}

// readPiece reads [from, to) in reads of n bytes, as an MCU does.
func readPiece(h *harness, from, to, n int64) []byte {
	h.t.Helper()
	var got []byte
	for off := from; off < to; {
		b := h.readOK(off, n)
		if want := min(n, to-off); int64(len(b)) != want {
			h.t.Fatalf("AT+QIOTOTARD=%d,%d: %d bytes, want %d", off, n, len(b), want)
		}
		got = append(got, b...)
		off += int64(len(b))
	}
	return got
}
