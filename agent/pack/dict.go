package pack

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
)

// A sourceIndex finds where pieces of a target chunk occur in the source
// image, to pick the source ranges a delta chunk uses as its dictionary.
// It only chooses the dictionary; zstd finds the matches.
type sourceIndex struct {
	src   []byte
	shift uint
	table []int32 // hash of 8 bytes → last source position + 1; 0 = none
}

// Tuning of the dictionary choice. A chunk of a rebuilt image mostly
// repeats one or a few source ranges, shifted; the ranges with the most
// matched bytes are kept, up to the size limit and maxPicked of them.
const (
	hashLen    = 8    // bytes hashed per position
	sampleStep = 4    // target positions probed
	minMatch   = 16   // a shorter match is noise
	clusterGap = 4096 // matches closer than this form one range
	margin     = 1024 // bytes kept around a range
	minWeight  = 256  // a range with fewer matched bytes is not worth it
	maxPicked  = 4    // ranges per chunk (MaxExtents allows more)
)

func newSourceIndex(src []byte) *sourceIndex {
	logSize := max(10, min(24, bits.Len(uint(len(src)))+1))
	x := &sourceIndex{src: src, shift: uint(64 - logSize), table: make([]int32, 1<<logSize)}
	for p := 0; p+hashLen <= len(src); p++ {
		x.table[x.hash(src[p:])] = int32(p + 1)
	}
	return x
}

func (x *sourceIndex) hash(b []byte) uint64 {
	return binary.LittleEndian.Uint64(b) * 0x9E3779B185EBCA87 >> x.shift
}

// span is a run of source bytes that a target chunk repeats, or a group of
// nearby runs (weight: the bytes matched in it).
type span struct{ lo, hi, weight int }

// pick returns the source ranges, at most limit bytes in all, that data
// repeats most, or none when it repeats nothing worth a dictionary.
func (x *sourceIndex) pick(data []byte, limit int) []Extent {
	n := len(x.src)
	var picked []span
	budget := limit
	for _, c := range x.clusters(data) {
		if len(picked) == maxPicked || c.weight < minWeight || budget < 2*margin {
			break
		}
		lo, hi := max(0, c.lo-margin), min(n, c.hi+margin)
		if hi-lo > budget {
			// Keep the middle of an oversized range.
			mid := (c.lo + c.hi) / 2
			lo = max(0, min(mid-budget/2, n-budget))
			hi = lo + budget
		}
		picked = append(picked, span{lo: lo, hi: hi})
		budget -= hi - lo
	}
	if len(picked) == 0 {
		return nil // nothing worth a dictionary: plain zstd
	}
	// Source order, overlaps merged (margins may touch).
	slices.SortFunc(picked, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	var ext []Extent
	for _, s := range picked {
		if k := len(ext) - 1; k >= 0 && int(ext[k].Offset)+ext[k].Size >= s.lo {
			ext[k].Size = max(ext[k].Size, s.hi-int(ext[k].Offset))
			continue
		}
		ext = append(ext, Extent{int64(s.lo), s.hi - s.lo})
	}
	return ext
}

// clusters returns the source ranges data repeats, heaviest first.
func (x *sourceIndex) clusters(data []byte) []span {
	var runs []span
	for q := 0; q+hashLen <= len(data); {
		p := int(x.table[x.hash(data[q:])]) - 1
		l := 0
		if p >= 0 {
			for p+l < len(x.src) && q+l < len(data) && x.src[p+l] == data[q+l] {
				l++
			}
		}
		if l < minMatch {
			q += sampleStep
			continue
		}
		runs = append(runs, span{lo: p, hi: p + l, weight: l})
		q += l
	}
	slices.SortFunc(runs, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	var cs []span
	for _, r := range runs {
		if k := len(cs) - 1; k >= 0 && r.lo-cs[k].hi < clusterGap {
			cs[k].hi = max(cs[k].hi, r.hi)
			cs[k].weight += r.weight
			continue
		}
		cs = append(cs, r)
	}
	slices.SortStableFunc(cs, func(a, b span) int { return cmp.Compare(b.weight, a.weight) })
	return cs
}
