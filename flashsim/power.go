package flashsim

// Power loss follows the embedded-storage NorFlash contract (spec §3.5):
// a torn write leaves only the units being written undefined, and within
// them only the bits being cleared; a torn erase leaves the whole sector
// undefined. "Undefined" here is a deterministic pseudo-random choice
// seeded by the operation number, so a failing sweep step replays exactly.

// PowerCutAfter arms a power cut: the n-th following write or erase
// operation (1 = the next one) is torn and returns ErrPowerCut, and the
// device stays off until PowerOn. n <= 0 disarms a pending cut.
func (f *Flash) PowerCutAfter(n int) {
	if n <= 0 {
		f.cutAt = 0
		return
	}
	f.cutAt = f.ops + n
}

// PowerOff cuts the power now, between operations: nothing is torn, and
// every read, write and erase fails with ErrPowerCut until PowerOn.
func (f *Flash) PowerOff() { f.cut() }

// PowerOn turns the device back on after a cut and disarms any pending
// cut. The contents stay as the cut left them.
func (f *Flash) PowerOn() {
	f.off = false
	f.cutAt = 0
}

// Powered reports whether the device is on.
func (f *Flash) Powered() bool { return !f.off }

func (f *Flash) cut() {
	f.off = true
	f.cutAt = 0
}

// tearWrite applies a torn program of p onto dst: a subset of the bits
// being cleared is cleared, chosen by the operation number. Half of the
// seeds model a sequential programmer (units before a point done, one
// unit partial, the rest untouched), the other half a bitwise random
// subset over all units.
func tearWrite(dst, p []byte, op, unit int) {
	r := newRNG(uint64(op))
	if r.next()&1 == 0 {
		units := len(p) / unit
		stop := int(r.next() % uint64(units))
		for i := 0; i < stop*unit; i++ {
			dst[i] &= p[i]
		}
		for i := stop * unit; i < (stop+1)*unit; i++ {
			dst[i] &^= (dst[i] &^ p[i]) & r.byte()
		}
		return
	}
	for i := range p {
		dst[i] &^= (dst[i] &^ p[i]) & r.byte()
	}
}

// tearErase applies a torn erase to sec: each 32-byte run is left
// erased, left as it was, or partly erased (some 0 bits read as 1),
// chosen by the operation number.
func tearErase(sec []byte, op int) {
	const run = 32
	r := newRNG(uint64(op) ^ 0xE4A5E)
	for i := 0; i < len(sec); i += run {
		chunk := sec[i:min(i+run, len(sec))]
		switch r.next() % 3 {
		case 0:
			fill(chunk, 0xFF)
		case 1:
			// untouched
		case 2:
			for j := range chunk {
				chunk[j] |= r.byte()
			}
		}
	}
}

// rng is splitmix64: tiny, fast and fully determined by its seed.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (r *rng) byte() byte { return byte(r.next()) }
