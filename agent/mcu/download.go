package mcu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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

	committed bool // the image runs: Abort must not touch it
	aborted   bool

	digests     plan.Digests // of the verified image, read back from the target
	sawUpdating bool         // 7,10704 came during the download
}

// abort throws the image away unless it was committed or aborted.
func (d *download) abort() {
	if d.committed || d.aborted {
		return
	}
	d.aborted = true
	if err := d.img.Abort(); err != nil {
		d.s.log.Warn("aborting the image failed", "component", d.start.Component, "err", err)
	}
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
		return false, fmt.Errorf("mcu: %s: the piece does not belong to the download of %s (%d bytes)", e.Line, d.start.Component, d.start.Size)
	}
	if p.Start != d.read {
		return false, fmt.Errorf("mcu: %s: piece at byte %d, want the one at byte %d", e.Line, p.Start, d.read)
	}
	d.pieces++
	for end := p.Start + p.Len; d.read < end; {
		want := min(int64(d.s.cfg.Block), end-d.read)
		data, err := d.readBlock(ctx, d.read, want)
		if err != nil {
			return false, err
		}
		if _, err := d.img.WriteAt(data, d.read); err != nil {
			return false, fmt.Errorf("mcu: %s: writing %d bytes at %d to %s: %w", d.start.Component, len(data), d.read, d.s.cfg.Target, err)
		}
		d.read += int64(len(data))
		d.blocks++
		d.s.progress()
	}
	if d.read == d.start.Size {
		return true, nil
	}
	_, err = d.s.do(ctx, set("+QIOTUPDATE", atcmd.Int(2)))
	return false, err
}

// readBlock reads up to n bytes at off with AT+QIOTOTARD. It asks again,
// up to readTries times in all, after a timeout, an ERROR or an answer
// that does not fit the question (start, length, framing).
func (d *download) readBlock(ctx context.Context, off, n int64) ([]byte, error) {
	cmd := set("+QIOTOTARD", atcmd.Int(off), atcmd.Int(n))
	var lastErr error
	for try := range readTries {
		if try > 0 {
			d.s.log.Warn("block read failed; asking again", "component", d.start.Component, "offset", off, "try", try+1, "err", lastErr)
		}
		rctx, cancel := context.WithTimeout(ctx, d.s.cfg.ReadTimeout)
		resp, err := d.s.c.DoPayload(rctx, cmd, otardPayload)
		cancel()
		if err != nil {
			lastErr = err
			if ctx.Err() != nil || errors.Is(err, atcmd.ErrClosed) {
				break
			}
			continue
		}
		data, err := otardData(resp, off, n)
		if err == nil {
			return data, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("mcu: %s: %s failed %d times: %w", d.start.Component, cmd, readTries, lastErr)
}

// otardData checks the answer to AT+QIOTOTARD=off,n and returns its
// payload: the header must echo off and announce 1 to n bytes, and the
// byte after them must end the payload (otardPayload).
func otardData(resp *atcmd.Response, off, n int64) ([]byte, error) {
	var header string
	for _, l := range resp.Lines {
		if strings.HasPrefix(l, "+QIOTOTARD:") {
			header = l
			break
		}
	}
	start, got, ok := otardHeader(header)
	switch {
	case !ok:
		return nil, fmt.Errorf("no +QIOTOTARD: <start>,<len> header in the answer %.200q", resp.Lines)
	case start != off:
		return nil, fmt.Errorf("the answer %q is for byte %d, asked for byte %d", header, start, off)
	case got == 0 || got > n:
		return nil, fmt.Errorf("the answer %q announces %d bytes, asked for 1 to %d", header, got, n)
	case int64(len(resp.Payload)) != got+1:
		return nil, fmt.Errorf("the answer %q carries %d bytes", header, len(resp.Payload))
	}
	if c := resp.Payload[got]; c != '\r' && c != '\n' {
		return nil, fmt.Errorf("the %d bytes of the answer %q are followed by %q, not CR LF: the module sent more or fewer bytes than announced", got, header, c)
	}
	return resp.Payload[:got], nil
}

// finish verifies a complete image against the digests of 7,10701, read
// back from the target, then reports "updating" (AT+QIOTUPDATE=3),
// commits the image and reports the new version (AT+QIOTMCUVER).
func (s *session) finish(ctx context.Context) error {
	d := s.cur
	comp := d.start.Component
	if err := d.img.Sync(); err != nil {
		return fmt.Errorf("mcu: %s: writing the image to %s: %w", comp, s.cfg.Target, err)
	}
	got, err := plan.Digest(io.NewSectionReader(d.img, 0, d.start.Size))
	if err != nil {
		return fmt.Errorf("mcu: %s: reading the image back from %s: %w", comp, s.cfg.Target, err)
	}
	if err := d.verify(got); err != nil {
		return err
	}
	s.log.Info("image verified", "component", comp, "md5", got.MD5, "crc", got.CRC, "sha256", d.start.SHA256 != "")
	d.digests = got
	_, err = s.do(ctx, set("+QIOTUPDATE", atcmd.Int(3)))
	return err
}

// report makes the verified image the running one and reports its
// version with AT+QIOTMCUVER; 7,10705 is then awaited.
func (s *session) report(ctx context.Context) error {
	d := s.cur
	comp, got := d.start.Component, d.digests
	where, err := d.img.Commit(ctx)
	if err != nil {
		d.abort()
		// The module waits for the version report: the old version
		// tells it the update failed (spec §9, row 25).
		if _, rerr := s.do(ctx, set("+QIOTMCUVER", atcmd.Str(comp), atcmd.Str(d.from))); rerr != nil {
			s.log.Warn("reporting the old version failed", "component", comp, "err", rerr)
		}
		return fmt.Errorf("mcu: %s: the image is verified but could not be made the running one: %w", comp, err)
	}
	d.committed = true
	s.log.Info("image written", "component", comp, "version", d.offer.Target, "where", where)
	s.res.Updated = append(s.res.Updated, Updated{
		Component: comp, From: d.from, To: d.offer.Target, Digests: got,
		SHA256: d.start.SHA256 != "", Blocks: d.blocks, Pieces: d.pieces, Where: where,
		Duration: time.Since(d.began),
	})
	if _, err = s.do(ctx, set("+QIOTMCUVER", atcmd.Str(comp), atcmd.Str(d.offer.Target))); err != nil {
		return err
	}
	s.phase = reporting
	return nil
}

// verify compares what the target holds with the digests of 7,10701:
// size, MD5 and CRC always, SHA-256 when the module sent one. The error
// names every digest that differs.
func (d *download) verify(got plan.Digests) error {
	st := d.start
	var bad []string
	if got.Size != st.Size {
		bad = append(bad, fmt.Sprintf("size %d, want %d", got.Size, st.Size))
	}
	if got.MD5 != st.MD5 {
		bad = append(bad, fmt.Sprintf("MD5 %s, want %s", got.MD5, st.MD5))
	}
	if got.CRC != st.CRC {
		bad = append(bad, fmt.Sprintf("%s %d, want %d", plan.DefaultCRC, got.CRC, st.CRC))
	}
	if st.SHA256 != "" && got.SHA256 != st.SHA256 {
		bad = append(bad, fmt.Sprintf("SHA-256 %s, want %s", got.SHA256, st.SHA256))
	}
	if len(bad) > 0 {
		return fmt.Errorf("mcu: %s %s: %w: the image in %s has %s; nothing was reported and the old image stays; try the update again",
			st.Component, d.offer.Target, ErrVerify, d.s.cfg.Target, strings.Join(bad, "; "))
	}
	return nil
}
