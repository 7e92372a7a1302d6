package mcu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
)

// download is one component being read from the module.
type download struct {
	s      *session
	start  Start
	offer  Offer
	from   string
	img    Image
	read   int64 // bytes read so far (pieces arrive in order)
	blocks int
	pieces int
	began  time.Time
}

// piece reads one piece announced by 7,10703 with AT+QIOTOTARD and writes
// it to the image. It reports whether the component is complete; if not,
// it asks for the next piece with AT+QIOTUPDATE=2.
func (d *download) piece(ctx context.Context, e Event) (bool, error) {
	p, err := e.Piece()
	if err != nil {
		return false, err
	}
	if p.Component != d.start.Component || p.Size != d.start.Size {
		return false, fmt.Errorf("mcu: piece %s does not belong to the download of %s (%d bytes)", e.Line, d.start.Component, d.start.Size)
	}
	if p.Start != d.read {
		return false, fmt.Errorf("mcu: piece at %d, want %d", p.Start, d.read)
	}
	d.pieces++
	for off, end := p.Start, p.Start+p.Len; off < end; {
		want := min(int64(d.s.cfg.Block), end-off)
		data, err := d.readBlock(ctx, off, want)
		if err != nil {
			return false, err
		}
		if _, err := d.img.WriteAt(data, off); err != nil {
			return false, err
		}
		off += int64(len(data))
		d.read = off
		d.blocks++
		if d.s.cfg.Progress != nil {
			d.s.cfg.Progress(Progress{Component: d.start.Component, Done: d.read, Total: d.start.Size})
		}
	}
	if d.read >= d.start.Size {
		return true, nil
	}
	_, err = d.s.do(ctx, set("+QIOTUPDATE", atcmd.Int(2)))
	return false, err
}

// readBlock reads up to n bytes at off, trying again after a timeout or an
// ERROR.
func (d *download) readBlock(ctx context.Context, off, n int64) ([]byte, error) {
	var lastErr error
	for try := range 3 {
		if try > 0 {
			d.s.log.Warn("block read failed; trying again", "offset", off, "err", lastErr)
		}
		rctx, cancel := context.WithTimeout(ctx, d.s.cfg.ReadTimeout)
		resp, err := d.s.c.DoPayload(rctx, set("+QIOTOTARD", atcmd.Int(off), atcmd.Int(n)), otardLength)
		cancel()
		if err != nil {
			lastErr = err
			if ctx.Err() != nil || errors.Is(err, atcmd.ErrClosed) {
				break
			}
			continue
		}
		start, got, ok := otardHeader(firstLine(resp.Lines, "+QIOTOTARD:"))
		switch {
		case !ok:
			lastErr = fmt.Errorf("no +QIOTOTARD header in %q", resp.Lines)
		case start != off:
			lastErr = fmt.Errorf("header start %d, asked for %d", start, off)
		case got == 0 || got > n || int64(len(resp.Payload)) != got:
			lastErr = fmt.Errorf("header length %d with %d payload bytes, asked for %d", got, len(resp.Payload), n)
		default:
			return resp.Payload, nil
		}
	}
	return nil, fmt.Errorf("mcu: AT+QIOTOTARD=%d,%d: %w", off, n, lastErr)
}

func firstLine(lines []string, prefix string) string {
	for _, l := range lines {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			return l
		}
	}
	return ""
}

// verify compares what the target holds with the digests of 7,10701:
// MD5 and CRC always, SHA-256 when the module sent one.
func (d *download) verify(got plan.Digests) error {
	st := d.start
	var bad []string
	if got.Size != st.Size {
		bad = append(bad, fmt.Sprintf("size %d, want %d", got.Size, st.Size))
	}
	if got.MD5 != st.MD5 {
		bad = append(bad, fmt.Sprintf("MD5 %s, want %s", got.MD5, st.MD5))
	}
	if st.SHA256 != "" && got.SHA256 != st.SHA256 {
		bad = append(bad, fmt.Sprintf("SHA-256 %s, want %s", got.SHA256, st.SHA256))
	}
	if got.CRC != st.CRC {
		bad = append(bad, fmt.Sprintf("CRC-32/%s %d, want %d", plan.DefaultCRC, got.CRC, st.CRC))
	}
	if len(bad) > 0 {
		return fmt.Errorf("mcu: %s: %w: %v; the old image stays", st.Component, ErrVerify, bad)
	}
	return nil
}
