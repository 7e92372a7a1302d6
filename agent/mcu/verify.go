package mcu

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/atota/atota/agent/plan"
)

// chunkSize is the span of each CRC the MCU keeps of the bytes it
// received, so that a read-back image that differs can be told where.
const chunkSize = 64 << 10

// chunkSums keeps a CRC-32 (IEEE, which the CPU computes fastest) of each
// chunk of the image received in this run, in order. Chunks a resumed
// run did not receive from their start are not known.
type chunkSums struct {
	size  int64
	first int64    // index of the first chunk received whole
	sums  []uint32 // sums[i] is chunk first+i
	cur   uint32
	pos   int64
}

func newChunkSums(from, size int64) *chunkSums {
	return &chunkSums{size: size, first: (from + chunkSize - 1) / chunkSize, pos: from}
}

// add takes the next received bytes.
func (c *chunkSums) add(p []byte) {
	for len(p) > 0 && c.pos < c.size {
		idx := c.pos / chunkSize
		end := min((idx+1)*chunkSize, c.size)
		n := min(int64(len(p)), end-c.pos)
		if idx >= c.first {
			c.cur = crc32.Update(c.cur, crc32.IEEETable, p[:n])
		}
		c.pos += n
		p = p[n:]
		if c.pos == end {
			if idx >= c.first {
				c.sums = append(c.sums, c.cur)
			}
			c.cur = 0
		}
	}
}

// readBack is what the MCU computes over the image the target holds.
type readBack struct {
	plan.Digests        // CRC in the configured variant
	otherCRC     uint32 // the CRC in the other variant, to tell a wrong setting
	chunks       []uint32
}

// otherVariant returns the variant that is not v.
func otherVariant(v plan.CRCVariant) plan.CRCVariant {
	if v == plan.IEEE {
		return plan.MPEG2
	}
	return plan.IEEE
}

// digestImage reads size bytes of r and computes its MD5, SHA-256 and
// CRC-32 in variant v (and the other variant), and the chunk CRCs.
func digestImage(r io.ReaderAt, size int64, v plan.CRCVariant) (readBack, error) {
	m, s := md5.New(), sha256.New()
	c, o := plan.NewCRC32(v), plan.NewCRC32(otherVariant(v))
	var rb readBack
	buf := make([]byte, chunkSize)
	for off := int64(0); off < size; off += chunkSize {
		p := buf[:min(chunkSize, size-off)]
		n, err := r.ReadAt(p, off)
		if n < len(p) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return rb, fmt.Errorf("at byte %d: %w", off+int64(n), err)
		}
		m.Write(p)
		s.Write(p)
		c.Write(p)
		o.Write(p)
		rb.chunks = append(rb.chunks, crc32.ChecksumIEEE(p))
	}
	rb.Size = size
	rb.MD5 = hex.EncodeToString(m.Sum(nil))
	rb.SHA256 = hex.EncodeToString(s.Sum(nil))
	rb.CRC = c.Sum32()
	rb.otherCRC = o.Sum32()
	return rb, nil
}

// mismatch compares what the target holds with the digests of 7,10701:
// size, MD5 and CRC always, SHA-256 when the module sent one. It returns
// "" when they match, else what differs; where says, when the chunk CRCs
// of the received bytes tell, which byte ranges of the target differ from
// what was received.
//
// [INF] spec §5: the CRC variant of the module's <CRC> is uncertain;
// Config.CRC (default plan.DefaultCRC, MPEG-2) is the one place it is
// chosen, and a CRC that matches only in the other variant is named.
func mismatch(st Start, got readBack, v plan.CRCVariant, sums *chunkSums) (what, where string) {
	var bad []string
	if got.Size != st.Size {
		bad = append(bad, fmt.Sprintf("size %d, want %d", got.Size, st.Size))
	}
	if got.MD5 != st.MD5 {
		bad = append(bad, fmt.Sprintf("MD5 %s, want %s", got.MD5, st.MD5))
	}
	if got.CRC != st.CRC {
		msg := fmt.Sprintf("%s %d, want %d", v, got.CRC, st.CRC)
		if got.otherCRC == st.CRC {
			msg += fmt.Sprintf(" (the module's CRC is the %s of the image: set the CRC variant to %s)", otherVariant(v), otherVariant(v))
		}
		bad = append(bad, msg)
	}
	if st.SHA256 != "" && got.SHA256 != st.SHA256 {
		bad = append(bad, fmt.Sprintf("SHA-256 %s, want %s", got.SHA256, st.SHA256))
	}
	if len(bad) == 0 {
		return "", ""
	}
	return strings.Join(bad, "; "), differs(got.chunks, sums)
}

// differs names the byte ranges whose read-back chunk CRCs differ from
// the received ones.
func differs(back []uint32, sums *chunkSums) string {
	if sums == nil || len(sums.sums) == 0 {
		return "not known (no chunk of the image was received whole in this run)"
	}
	var ranges []string
	start := int64(-1)
	flush := func(end int64) {
		if start >= 0 {
			ranges = append(ranges, fmt.Sprintf("[%d, %d)", start, end))
			start = -1
		}
	}
	for i, s := range sums.sums {
		idx := sums.first + int64(i)
		if int(idx) < len(back) && back[idx] != s {
			if start < 0 {
				start = idx * chunkSize
			}
			continue
		}
		flush(min(idx*chunkSize, sums.size))
	}
	flush(min((sums.first+int64(len(sums.sums)))*chunkSize, sums.size))
	known := fmt.Sprintf("[%d, %d)", sums.first*chunkSize, min((sums.first+int64(len(sums.sums)))*chunkSize, sums.size))
	if len(ranges) == 0 {
		return "none: the target holds exactly the bytes received in " + known + "; they and the module's digests disagree"
	}
	return strings.Join(ranges, ", ") + " differ from what was received (of " + known + ")"
}
