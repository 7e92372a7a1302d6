package plan

import (
	"encoding/binary"
	"hash"
	"hash/crc32"
	"strconv"
)

// CRCVariant names a CRC-32 variant.
type CRCVariant int

// CRC-32 variants.
const (
	// MPEG2 is CRC-32/MPEG-2: polynomial 0x04C11DB7, initial value
	// 0xFFFFFFFF, not reflected, no final xor. Check value 0x0376E6E7.
	MPEG2 CRCVariant = iota
	// IEEE is CRC-32/ISO-HDLC, as in zip, PNG and hash/crc32. Check
	// value 0xCBF43926.
	IEEE
)

// DefaultCRC is the variant of the <CRC> field of the 7,10701 event and of
// [Digests.CRC].
//
// [INF] spec/quecthing-at.md §5: QuecPython's documentation names the
// platform's value "CRC32 (MPEG-2)". This is the only place that choice is
// made.
const DefaultCRC = MPEG2

func (v CRCVariant) String() string {
	switch v {
	case MPEG2:
		return "CRC-32/MPEG-2"
	case IEEE:
		return "CRC-32/IEEE"
	}
	return "CRCVariant(" + strconv.Itoa(int(v)) + ")"
}

// NewCRC32 returns a new CRC-32 hash of variant v. Its Sum appends the
// checksum big-endian. It panics if v is not a known variant.
func NewCRC32(v CRCVariant) hash.Hash32 {
	switch v {
	case MPEG2:
		return &msbCRC{crc: mpeg2Init}
	case IEEE:
		return crc32.NewIEEE()
	}
	panic("plan: NewCRC32: unknown " + v.String())
}

// Checksum returns the CRC-32 of data in variant v.
func Checksum(v CRCVariant, data []byte) uint32 {
	if v == IEEE {
		return crc32.ChecksumIEEE(data)
	}
	h := NewCRC32(v)
	h.Write(data)
	return h.Sum32()
}

const (
	mpeg2Poly = 0x04C11DB7
	mpeg2Init = 0xFFFFFFFF
)

// mpeg2Tables are slicing-by-8 tables for the MSB-first polynomial:
// mpeg2Tables[k][b] is the CRC contribution of byte b followed by k zero
// bytes.
var mpeg2Tables = makeMSBTables(mpeg2Poly)

func makeMSBTables(poly uint32) *[8][256]uint32 {
	t := new([8][256]uint32)
	for i := range 256 {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ poly
			} else {
				c <<= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range 256 {
			prev := t[k-1][i]
			t[k][i] = prev<<8 ^ t[0][prev>>24]
		}
	}
	return t
}

// updateMSB feeds p into an MSB-first CRC register, eight bytes at a time.
func updateMSB(crc uint32, t *[8][256]uint32, p []byte) uint32 {
	for len(p) >= 8 {
		crc ^= binary.BigEndian.Uint32(p)
		crc = t[7][crc>>24] ^ t[6][crc>>16&0xff] ^ t[5][crc>>8&0xff] ^ t[4][crc&0xff] ^
			t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]
		p = p[8:]
	}
	for _, b := range p {
		crc = crc<<8 ^ t[0][byte(crc>>24)^b]
	}
	return crc
}

// msbCRC is CRC-32/MPEG-2 as a hash.Hash32.
type msbCRC struct{ crc uint32 }

func (h *msbCRC) Write(p []byte) (int, error) {
	h.crc = updateMSB(h.crc, mpeg2Tables, p)
	return len(p), nil
}

func (h *msbCRC) Sum32() uint32 { return h.crc }

func (h *msbCRC) Sum(b []byte) []byte { return binary.BigEndian.AppendUint32(b, h.crc) }

func (h *msbCRC) Reset() { h.crc = mpeg2Init }

func (h *msbCRC) Size() int { return 4 }

func (h *msbCRC) BlockSize() int { return 1 }
