package pack

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
)

// A firmware is a model of a Cortex-M image, rebuilt from its parts the way
// a linker would, so that a change in one function moves everything after
// it and changes every branch and literal that points across it.
type firmware struct {
	funcs   []fwFunc
	strs    []string
	version string
	data    []byte // initial values of .data
}

type fwFunc struct {
	body   []byte // Thumb-like code, halfword aligned
	calls  []int  // body offsets of 4-byte BL slots
	callee []int  // function called from each slot
	lits   []int  // literal pool: function index, or -1-string index
}

const flashBase = 0x08000000

var words = strings.Fields(`error init failed timeout sensor uart spi i2c dma buffer overflow
	underflow ready busy config flash erase write read verify boot update image slot
	battery signal modem network connect retry state invalid value range temperature
	pressure humidity calibration watchdog reset clock pll adc gpio interrupt handler`)

// opcodes is a skewed vocabulary of halfwords, so code compresses the way
// real Thumb-2 does (to about 60 %).
func opcodes(r *rand.Rand) []uint16 {
	ops := make([]uint16, 512)
	for i := range ops {
		ops[i] = uint16(r.Uint32())
	}
	return ops
}

// newFirmware returns a model of about size bytes from seed.
func newFirmware(seed uint64, size int, version string) *firmware {
	r := rand.New(rand.NewPCG(seed, 0x61746f7461))
	ops := opcodes(r)
	fw := &firmware{version: version}
	for range size / 3000 {
		var s []string
		for range 2 + r.IntN(6) {
			s = append(s, words[r.IntN(len(words))])
		}
		fw.strs = append(fw.strs, strings.Join(s, " ")+": %d\n")
	}
	fw.data = make([]byte, size/64)
	for i := range fw.data {
		if r.IntN(3) == 0 {
			fw.data[i] = byte(r.IntN(256))
		}
	}
	// Code fills the rest; callees are drawn from the expected count.
	n := size / 310
	total := 256 + len(fw.data) + 40*len(fw.strs)
	for total < size {
		f := newFunc(r, ops, n, len(fw.strs))
		fw.funcs = append(fw.funcs, f)
		total += align4(len(f.body)) + 4*len(f.lits)
	}
	for i := range fw.funcs {
		f := &fw.funcs[i]
		for k := range f.callee {
			f.callee[k] %= len(fw.funcs)
		}
		for k, l := range f.lits {
			if l >= 0 {
				f.lits[k] = l % len(fw.funcs)
			}
		}
	}
	return fw
}

func newFunc(r *rand.Rand, ops []uint16, nfuncs, nstrs int) fwFunc {
	var f fwFunc
	for range 40 + r.IntN(200) {
		switch k := r.IntN(20); {
		case k == 0:
			f.calls = append(f.calls, len(f.body))
			f.callee = append(f.callee, r.IntN(nfuncs))
			f.body = append(f.body, 0, 0, 0, 0)
		case k < 15:
			// Zipf-like: low indices far more often.
			op := ops[int(float64(len(ops))*r.Float64()*r.Float64()*r.Float64())]
			f.body = binary.LittleEndian.AppendUint16(f.body, op)
		default:
			f.body = binary.LittleEndian.AppendUint16(f.body, uint16(0x2000|r.IntN(256)))
		}
	}
	f.body = binary.LittleEndian.AppendUint16(f.body, 0x4770) // bx lr
	for range r.IntN(6) {
		if r.IntN(2) == 0 && nstrs > 0 {
			f.lits = append(f.lits, -1-r.IntN(nstrs))
		} else {
			f.lits = append(f.lits, r.IntN(nfuncs))
		}
	}
	return f
}

// clone returns a deep copy of fw.
func (fw *firmware) clone() *firmware {
	c := &firmware{strs: slices.Clone(fw.strs), version: fw.version, data: slices.Clone(fw.data)}
	for _, f := range fw.funcs {
		c.funcs = append(c.funcs, fwFunc{body: slices.Clone(f.body), calls: slices.Clone(f.calls), callee: slices.Clone(f.callee), lits: slices.Clone(f.lits)})
	}
	return c
}

// build links the image: vector table, .text (functions with their
// literal pools), .rodata (version and strings), .data.
func (fw *firmware) build() []byte {
	// Layout pass.
	addr := make([]int, len(fw.funcs))
	pos := 256
	for i, f := range fw.funcs {
		addr[i] = pos
		pos += align4(len(f.body)) + 4*len(f.lits)
	}
	vtag := "FWVER=" + fw.version + "\x00"
	pos += align4(len(vtag))
	saddr := make([]int, len(fw.strs))
	for i, s := range fw.strs {
		saddr[i] = pos
		pos += align4(len(s) + 1)
	}
	img := make([]byte, 0, pos+len(fw.data))
	// Vector table: initial SP, then handlers.
	img = binary.LittleEndian.AppendUint32(img, 0x20020000)
	for i := 1; i < 64; i++ {
		img = binary.LittleEndian.AppendUint32(img, uint32(flashBase+addr[i%len(addr)])|1)
	}
	for i, f := range fw.funcs {
		body := slices.Clone(f.body)
		for k, at := range f.calls {
			putBL(body[at:], addr[i]+at, addr[f.callee[k]])
		}
		img = append(img, body...)
		img = pad4(img)
		for _, l := range f.lits {
			a := flashBase + 1
			if l >= 0 {
				a += addr[l]
			} else {
				a += saddr[-1-l] - 1
			}
			img = binary.LittleEndian.AppendUint32(img, uint32(a))
		}
	}
	img = pad4(append(img, vtag...))
	for _, s := range fw.strs {
		img = pad4(append(append(img, s...), 0))
	}
	return append(img, fw.data...)
}

// putBL writes a Thumb BL from pc to target into b.
func putBL(b []byte, pc, target int) {
	off := uint32(target-(pc+4)) >> 1
	binary.LittleEndian.PutUint16(b, uint16(0xF000|(off>>11)&0x7FF))
	binary.LittleEndian.PutUint16(b[2:], uint16(0xF800|off&0x7FF))
}

func align4(n int) int { return (n + 3) &^ 3 }

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// A firmwareChange is a realistic difference between two builds.
type firmwareChange struct {
	name   string
	change func(fw *firmware) *firmware
}

var firmwareChanges = []firmwareChange{
	{"small code change", func(fw *firmware) *firmware {
		// A fix in one function: two changed and three inserted
		// instructions, 40 % into the image.
		c := fw.clone()
		f := &c.funcs[len(c.funcs)*2/5]
		at := len(f.body) / 2 &^ 1
		f.body = slices.Insert(f.body, at, 0x01, 0x28, 0x02, 0xD1, 0x00, 0x20)
		f.body[2], f.body[3] = 0x10, 0xB5
		for k := range f.calls {
			if f.calls[k] >= at {
				f.calls[k] += 6
			}
		}
		return c
	}},
	{"moved section", func(fw *firmware) *firmware {
		// The linker script puts a tenth of the functions last.
		c := fw.clone()
		n := len(c.funcs)
		lo, hi := n/10, n/5
		perm := append(append(slices.Clone(seq(0, lo)), seq(hi, n)...), seq(lo, hi)...)
		funcs := make([]fwFunc, n)
		newIndex := make([]int, n)
		for i, p := range perm {
			funcs[i] = c.funcs[p]
			newIndex[p] = i
		}
		for i := range funcs {
			for k := range funcs[i].callee {
				funcs[i].callee[k] = newIndex[funcs[i].callee[k]]
			}
			for k, l := range funcs[i].lits {
				if l >= 0 {
					funcs[i].lits[k] = newIndex[l]
				}
			}
		}
		c.funcs = funcs
		return c
	}},
	{"version string", func(fw *firmware) *firmware {
		c := fw.clone()
		c.version = "2.4.1"
		return c
	}},
	{"new feature", func(fw *firmware) *firmware {
		// Twenty new functions in the middle, called from existing ones,
		// and a few new messages.
		c := fw.clone()
		r := rand.New(rand.NewPCG(7, 7))
		mid := len(c.funcs) / 2
		var add []fwFunc
		for range 20 {
			add = append(add, newFunc(r, opcodes(r), len(c.funcs), len(c.strs)))
		}
		for i := range c.funcs {
			for k := range c.funcs[i].callee {
				if c.funcs[i].callee[k] >= mid {
					c.funcs[i].callee[k] += len(add)
				}
			}
			for k, l := range c.funcs[i].lits {
				if l >= mid {
					c.funcs[i].lits[k] += len(add)
				}
			}
		}
		c.funcs = slices.Insert(c.funcs, mid, add...)
		for i := range 10 {
			if f := &c.funcs[i*7]; len(f.callee) > 0 {
				f.callee[0] = mid + i
			}
		}
		c.strs = append(c.strs, "feature ready: %d\n", "feature failed: %d\n")
		return c
	}},
	{"different image", func(fw *firmware) *firmware {
		return newFirmware(99, len(fw.build()), "9.9.9")
	}},
}

func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}
