package scenario

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"testing"
	"time"

	"github.com/atota/atota/transport"
)

// moduleOutput returns what a module sends for a download of pkg in
// answers of block bytes, with events around them.
func moduleOutput(comp string, pkg []byte, block int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\r\n+QIOTEVT: 7,10701,\"%s\",%d,\"md5\",1\r\n", comp, len(pkg))
	fmt.Fprintf(&b, "\r\n+QIOTEVT: 7,10703,\"%s\",%d,0,%d\r\n", comp, len(pkg), len(pkg))
	for off := 0; off < len(pkg); off += block {
		n := min(block, len(pkg)-off)
		fmt.Fprintf(&b, "AT+QIOTOTARD=%d,%d\r\n", off, block) // the echo
		fmt.Fprintf(&b, "\r\n+QIOTOTARD: %d,%d\r\n", off, n)
		b.Write(pkg[off : off+n])
		b.WriteString("\r\n\r\nOK\r\n")
	}
	return b.Bytes()
}

func TestTap(t *testing.T) {
	pkg := Firmware("STM32", "2", 5000) // binary: holds CR, LF and "+QIOTEVT" look-alikes by chance
	copy(pkg[100:], "\r\n+QIOTEVT: 7,10706\r\n")
	stream := moduleOutput("STM32", pkg, 1024)
	offset := Size(2100)
	tests := []struct {
		name      string
		chunk     int
		corrupt   *Fault
		wantFlips int
		flipAt    int64 // package offset of the flipped byte; -1 any
	}{
		{name: "whole", chunk: len(stream), flipAt: -1},
		{name: "bytes one at a time", chunk: 1, flipAt: -1},
		{name: "odd chunks", chunk: 37, flipAt: -1},
		{name: "corrupt block 3", chunk: 100, corrupt: &Fault{Type: FaultCorruptBlock, Block: 3}, wantFlips: 1, flipAt: -1},
		{name: "corrupt offset", chunk: 1, corrupt: &Fault{Type: FaultCorruptBlock, Offset: &offset}, wantFlips: 1, flipAt: 2100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTap(9)
			var urcs []string
			var reads [][2]int64
			var flips []int64
			tp.onURC = func(l string) { urcs = append(urcs, l) }
			tp.onRead = func(_ string, start, n int64) { reads = append(reads, [2]int64{start, n}) }
			tp.onFlip = func(_ string, at int64) { flips = append(flips, at) }
			if tt.corrupt != nil {
				tp.corrupt = []*corruptor{{f: tt.corrupt, active: true}}
			}
			var out []byte
			for off := 0; off < len(stream); off += tt.chunk {
				out = append(out, tp.process(stream[off:min(off+tt.chunk, len(stream))])...)
			}
			if len(urcs) != 2 {
				t.Errorf("URCs %q, want the 10701 and the 10703 only (not the look-alike in the payload)", urcs)
			}
			if len(reads) != 5 || reads[4] != [2]int64{4096, 904} {
				t.Errorf("reads %v, want 5 ending with [4096 904]", reads)
			}
			_, served, reach, sizes := tp.stats()
			if served["STM32"] != 5000 || reach["STM32"] != 5000 || sizes["STM32"] != 5000 {
				t.Errorf("served %d, reach %d, size %d; want 5000 each", served["STM32"], reach["STM32"], sizes["STM32"])
			}
			diff := 0
			for i := range out {
				diff += bits.OnesCount8(out[i] ^ stream[i])
			}
			if diff != tt.wantFlips || len(flips) != tt.wantFlips {
				t.Fatalf("%d bits flipped, %d flips reported; want %d", diff, len(flips), tt.wantFlips)
			}
			if tt.flipAt >= 0 && tt.wantFlips > 0 && flips[0] != tt.flipAt {
				t.Errorf("flipped byte %d of the package, want %d", flips[0], tt.flipAt)
			}
			if tt.wantFlips > 0 && tt.corrupt.Block == 3 && (flips[0] < 2048 || flips[0] >= 3072) {
				t.Errorf("flipped byte %d, want one of block 3 (2048 to 3071)", flips[0])
			}
		})
	}
}

func TestCmdTap(t *testing.T) {
	a, b := transport.Pipe()
	defer b.Close()
	var lines []string
	c := &cmdTap{rw: a, onLine: func(l string) { lines = append(lines, l) }}
	defer c.Close()
	for _, s := range []string{"AT+QIOTMCU", "VER=\"STM32\",\"2_0_0\"\r", "\nAT\r\n"} {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{`AT+QIOTMCUVER="STM32","2_0_0"`, "AT"}; fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}

func TestSocket(t *testing.T) {
	a, b := transport.Pipe()
	s := newSocket(b)
	defer s.close()
	read := func(t *testing.T, r io.Reader, n int) string {
		t.Helper()
		buf := make([]byte, n)
		done := make(chan error, 1)
		go func() { _, err := io.ReadFull(r, buf); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("read: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("read: nothing came")
		}
		return string(buf)
	}

	p1 := s.attach()
	a.Write([]byte("one"))
	if got := read(t, p1, 3); got != "one" {
		t.Errorf("first device read %q, want %q", got, "one")
	}
	p1.Write([]byte("back"))
	if got := read(t, a, 4); got != "back" {
		t.Errorf("the other end read %q, want %q", got, "back")
	}

	// The device detaches: its read ends, its writes fail, the link stays.
	p1.Close()
	if _, err := p1.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if _, err := p1.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	a.Write([]byte("lost"))
	time.Sleep(10 * time.Millisecond) // let the pump drop it; nothing asserts on time
	p2 := s.attach()
	a.Write([]byte("two"))
	got := read(t, p2, 3)
	if got != "two" && got != "los" {
		t.Errorf("second device read %q", got)
	}

	// A new attach detaches the old device.
	p3 := s.attach()
	if _, err := p2.Read(make([]byte, 16)); err == nil {
		// p2 may still hold bytes; its next read must end.
		if _, err := p2.Read(make([]byte, 16)); err == nil {
			t.Error("the replaced device's reads do not end")
		}
	}
	a.Close()
	if _, err := p3.Read(make([]byte, 1)); err == nil {
		t.Error("Read after the link closed succeeded")
	}
}
