package mcu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/atota/atota/agent/pack"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
)

// download is one component being read from the module.
type download struct {
	s       *session
	start   Start
	offer   Offer
	from    string
	img     Image
	rec     record // what the journal says of it
	read    int64  // bytes written to the image (pieces arrive in order)
	resumed int64  // bytes already in the target when this run took it up
	// nextPiece is where the next piece must start: the module announces
	// them in order from 0, also to a resumed download, which skips the
	// bytes it has.
	nextPiece int64
	blocks    int
	pieces    int
	began     time.Time
	sums      *chunkSums
	// head gathers the first bytes of a download that has no image yet,
	// until they tell a package (then its whole header) from a raw image.
	head []byte
	pkg  *pkgApply // the package being applied; nil for a raw image
	// resume is the journal's record of a package this download goes on
	// with once its header has been read again; nil otherwise.
	resume *record

	committed bool // the image runs: it is not aborted or kept
	digests   plan.Digests
	// sawUpdating: 7,10704 came during the download.
	sawUpdating bool
}

// onDownload takes a 7,10701 event: it opens the target for the image,
// resuming the journal's if it is this one.
func (s *session) onDownload(ctx context.Context, e Event) error {
	st, err := e.Start()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.offers, func(o Offer) bool { return o.Component == st.Component })
	switch {
	case i < 0:
		return fmt.Errorf("mcu: %s: download of %s, which was not offered with 7,10700 or not confirmed", e.Line, st.Component)
	case slices.Contains(s.finished, st.Component):
		return fmt.Errorf("mcu: %s: download of %s, which is already updated in this cycle", e.Line, st.Component)
	}
	if s.cfg.SHA256 && st.SHA256 == "" {
		s.log.Warn("SHA-256 asked for but not sent; verifying MD5 and CRC only", "component", st.Component)
	}
	from, _ := s.component(st.Component)
	d := &download{s: s, start: st, offer: s.offers[i], from: s.version(from), began: time.Now()}
	d.rec = record{
		Component: st.Component, From: d.from, To: d.offer.Target, Size: st.Size,
		MD5: st.MD5, SHA256: st.SHA256, CRC: st.CRC, CRCVariant: s.cfg.CRC.String(), Phase: recDownloading,
	}
	spec := ImageSpec{Component: st.Component, Size: st.Size, Digests: st, Checkpoint: d.noteRepair}
	if old := s.j.transfer(); old != nil {
		switch {
		case !s.trusted(old):
			s.log.Warn("the journal's transfer was not verified with the key now required (--verify-key); starting over", "journal", old.Component+" "+old.To)
		case old.Phase == recDownloading && old.Image != "" && old.matches(st, d.offer.Target):
			spec.Resume, spec.Done = old.Image, old.Committed
			d.rec.From = old.From
		default:
			s.log.Info("the journal's transfer is not this image; starting over", "journal", old.Component+" "+old.To, "component", st.Component)
		}
	}
	s.cur = d
	if spec.Resume == "" {
		// The first bytes tell a package from a raw image: the image
		// is opened when they have come (take).
		s.log.Info("download starts", "component", st.Component, "size", st.Size, "md5", st.MD5, "crc", st.CRC, "sha256", st.SHA256 != "")
		s.progress()
		return nil
	}
	if old := s.j.transfer(); old.Package != nil {
		// A package goes on once its header has been read again.
		d.resume = old
		s.log.Info("package download resumes: reading its header again", "component", st.Component, "chunks_done", old.Package.Chunks, "at", old.Committed, "size", st.Size)
		s.progress()
		return nil
	}
	img, at, err := s.openImage(ctx, d, spec)
	if err != nil {
		return err
	}
	d.img, d.read, d.resumed = img, at, at
	d.sums = newChunkSums(at, st.Size)
	if at > 0 {
		s.log.Info("download resumes", "component", st.Component, "at", at, "size", st.Size)
	} else {
		s.log.Info("download starts", "component", st.Component, "size", st.Size, "md5", st.MD5, "crc", st.CRC, "sha256", st.SHA256 != "")
	}
	s.progress()
	return nil
}

// openRaw opens the image of a raw download, which starts at byte 0.
func (d *download) openRaw(ctx context.Context) error {
	st := d.start
	img, _, err := d.s.openImage(ctx, d, ImageSpec{Component: st.Component, Size: st.Size, Digests: st, Checkpoint: d.noteRepair})
	if err != nil {
		return err
	}
	d.img = img
	d.sums = newChunkSums(0, st.Size)
	return nil
}

// openImage opens the image of spec and journals it; it returns the
// image and the byte it goes on from. A resume the target refuses starts
// the image over.
func (s *session) openImage(ctx context.Context, d *download, spec ImageSpec) (Image, int64, error) {
	if spec.Resume != "" {
		img, err := s.cfg.Target.Open(ctx, spec)
		if err == nil {
			d.mark(spec.Done, img.State())
			return img, spec.Done, s.j.setTransfer(&d.rec)
		}
		if !errors.Is(err, ErrResume) {
			return nil, 0, err
		}
		s.log.Warn("the journal's image cannot be resumed; starting over", "component", spec.Component, "err", err)
		spec.Resume, spec.Done = "", 0
	}
	// The journal forgets the old image before the target may reuse its
	// place.
	d.mark(0, "")
	if err := s.j.setTransfer(&d.rec); err != nil {
		return nil, 0, err
	}
	img, err := s.cfg.Target.Open(ctx, spec)
	if err != nil {
		return nil, 0, err
	}
	d.mark(0, img.State())
	return img, 0, s.j.setTransfer(&d.rec)
}

// mark records in the journal record that the image holds its first done
// bytes durably in the given state.
func (d *download) mark(done int64, state string) {
	if d.pkg != nil {
		d.pkg.mark(d, done, state)
		return
	}
	d.rec.Committed, d.rec.Image = done, state
}

// noteRepair is the image's ImageSpec.Checkpoint: the journal takes what
// the target needs to restore bytes it is about to erase.
func (d *download) noteRepair(done int64, state string) error {
	d.s.log.Warn("repairing a write torn by a power cut: a sector is erased and written again", "component", d.start.Component, "at", done)
	d.mark(done, state)
	return d.s.j.setTransfer(&d.rec)
}

// checkpoint makes what was written durable and journals it.
func (d *download) checkpoint() error {
	if d.img == nil {
		return nil // nothing written yet
	}
	n, err := d.img.Sync()
	if err != nil {
		return err
	}
	committed, image := d.rec.Committed, d.rec.Image
	if d.mark(n, d.img.State()); d.rec.Committed != committed || d.rec.Image != image {
		return d.s.j.setTransfer(&d.rec)
	}
	return nil
}

// cleanup handles an image left by an error: after a power loss nothing
// more happens (the MCU is off); an image that failed verification is
// aborted and forgotten; otherwise, when a later run can resume it (there
// is a journal file, or the link failed and an Agent will run again), the
// image is made durable and kept, else aborted.
func (s *session) cleanup(err error) {
	d := s.cur
	defer d.release()
	switch {
	case powerLost(err):
		return
	case d.img == nil:
		// Nothing written: a resumable record stays as it was.
		if errors.Is(err, ErrVerify) && d.resume != nil {
			if jerr := s.j.setTransfer(nil); jerr != nil {
				s.log.Warn("clearing the journal failed", "err", jerr)
			}
		}
		return
	case !errors.Is(err, ErrVerify) && (s.j.path != "" || s.keep && errors.Is(err, ErrLink)):
		if cerr := d.checkpoint(); cerr != nil && !powerLost(cerr) {
			s.log.Warn("keeping the image for a resume failed", "component", d.start.Component, "err", cerr)
		}
		d.img.Close()
		return
	}
	if aerr := d.img.Abort(); aerr != nil {
		s.log.Warn("aborting the image failed", "component", d.start.Component, "err", aerr)
	}
	if jerr := s.j.setTransfer(nil); jerr != nil {
		s.log.Warn("clearing the journal failed", "err", jerr)
	}
}

// piece reads one piece announced by 7,10703 with AT+QIOTOTARD and writes
// it to the image; the bytes a resumed image already holds are not read
// again. It reports whether the component is complete; if not, it asks
// for the next piece with AT+QIOTUPDATE=2.
func (d *download) piece(ctx context.Context, e Event) (bool, error) {
	p, err := e.Piece()
	if err != nil {
		return false, err
	}
	if p.Component != d.start.Component || p.Size != d.start.Size {
		return false, fmt.Errorf("mcu: %s: the piece does not belong to the download of %s (%d bytes)", e.Line, d.start.Component, d.start.Size)
	}
	if p.Start != d.nextPiece {
		return false, fmt.Errorf("mcu: %s: piece at byte %d, want the one at byte %d", e.Line, p.Start, d.nextPiece)
	}
	d.pieces++
	d.rec.PieceStart, d.rec.PieceLen = p.Start, p.Len
	end := p.Start + p.Len
	d.nextPiece = end
	if end <= d.read {
		d.s.log.Debug("piece already in the target", "component", p.Component, "start", p.Start, "len", p.Len)
	}
	durable := d.s.j.path != ""
	for d.read < end {
		want := min(int64(d.s.cfg.Block), end-d.read)
		data, err := d.readBlock(ctx, d.read, want)
		if err != nil {
			return false, err
		}
		next, err := d.take(ctx, data)
		if err != nil {
			return false, err
		}
		d.read = next
		d.blocks++
		if durable && d.pkg == nil {
			if err := d.checkpoint(); err != nil {
				return false, fmt.Errorf("mcu: %s: %w", d.start.Component, err)
			}
		}
		d.s.progress()
	}
	if d.read == d.start.Size {
		return true, nil
	}
	_, err = d.s.do(ctx, set("+QIOTUPDATE", atcmd.Int(2)))
	return false, err
}

// take passes the bytes read at d.read on, and returns where the next
// read starts: a raw image's bytes go to the image; a package's to its
// header, then to the Applier. The first bytes of a download wait in head
// until they tell which it is.
func (d *download) take(ctx context.Context, data []byte) (int64, error) {
	end := d.read + int64(len(data))
	switch {
	case d.pkg != nil:
		return end, d.pkg.write(d, data)
	case d.img != nil:
		if _, err := d.img.WriteAt(data, d.read); err != nil {
			return 0, fmt.Errorf("mcu: %s: writing %d bytes at %d to %s: %w", d.start.Component, len(data), d.read, d.s.cfg.Target, err)
		}
		d.sums.add(data)
		return end, nil
	}
	d.head = append(d.head, data...)
	if int64(len(d.head)) < min(int64(len(pack.Magic)), d.start.Size) {
		return end, nil
	}
	if pack.IsPackage(d.head) {
		return d.takeHeader(ctx, end)
	}
	if d.resume != nil {
		return 0, fmt.Errorf("mcu: %s: %w: the journal holds a package being applied, but the same download now starts with %q", d.start.Component, ErrVerify, d.head[:len(pack.Magic)])
	}
	if d.s.cfg.VerifyKey != nil {
		return 0, fmt.Errorf("mcu: %s %s: %w: %w: it is a raw image, not an atota package, and a signed package is required (--verify-key); nothing was written",
			d.start.Component, d.offer.Target, ErrVerify, pack.ErrUnsigned)
	}
	if err := d.openRaw(ctx); err != nil {
		return 0, err
	}
	head := d.head
	d.head, d.read = nil, 0
	return d.take(ctx, head)
}

// release frees what the download holds besides its image.
func (d *download) release() {
	if d.pkg != nil {
		d.pkg.close()
	}
}

// errReadTimeout ends an AT+QIOTOTARD that did not answer in time.
var errReadTimeout = errors.New("no answer in time")

// readBlock reads up to n bytes at off with AT+QIOTOTARD. The header must
// come within ReadTimeout and the payload within PayloadTimeout after it
// (spec §1). It asks again, up to readTries times in all, after a
// timeout, an ERROR or an answer that does not fit the question (start,
// length, framing).
func (d *download) readBlock(ctx context.Context, off, n int64) ([]byte, error) {
	cmd := set("+QIOTOTARD", atcmd.Int(off), atcmd.Int(n))
	var lastErr error
	for try := range readTries {
		if try > 0 {
			d.s.log.Warn("block read failed; asking again", "component", d.start.Component, "offset", off, "try", try+1, "err", lastErr)
		}
		rctx, cancel := context.WithCancelCause(ctx)
		timer := time.AfterFunc(d.s.cfg.ReadTimeout, func() { cancel(fmt.Errorf("header: %w: %w", errReadTimeout, context.DeadlineExceeded)) })
		length := func(line string) (int, bool) {
			n, ok := otardPayload(line)
			if ok {
				timer.Reset(d.s.cfg.PayloadTimeout)
			}
			return n, ok
		}
		resp, err := d.s.c.DoPayload(rctx, cmd, length)
		timer.Stop()
		cancel(nil)
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
	return nil, fmt.Errorf("mcu: %s: %s failed %d times: %w", d.start.Component, cmd, readTries, linkErr(ctx, lastErr))
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

// finish completes the image in the target (for a package, once the
// package read checks out), reads it back and checks it (a raw image
// against the digests of 7,10701, a package's against its header), then
// reports "updating" (AT+QIOTUPDATE=3).
func (s *session) finish(ctx context.Context) error {
	d := s.cur
	if d.pkg != nil {
		if err := d.pkg.checkRead(d); err != nil {
			return err
		}
	}
	if err := d.complete(ctx); err != nil {
		return err
	}
	var got readBack
	var err error
	if d.pkg != nil {
		got, err = d.pkg.verify(ctx, d)
	} else {
		got, err = d.verifyRaw()
	}
	if err != nil {
		return err
	}
	d.digests = got.Digests
	d.rec.Phase = recVerified
	if err := s.j.setTransfer(&d.rec); err != nil {
		return err
	}
	_, err = s.do(ctx, set("+QIOTUPDATE", atcmd.Int(3)))
	return err
}

// complete makes the whole image durable and journaled, then puts it in
// place in the target (complete), before it is read back.
func (d *download) complete(ctx context.Context) error {
	if err := d.checkpoint(); err != nil {
		return fmt.Errorf("mcu: %s: writing the image to %s: %w", d.start.Component, d.s.cfg.Target, err)
	}
	if err := complete(ctx, d.img); err != nil {
		return fmt.Errorf("mcu: %s: writing the image to %s: %w", d.start.Component, d.s.cfg.Target, err)
	}
	return nil
}

// verifyRaw reads a raw image back from the target and checks it against
// the digests of 7,10701.
func (d *download) verifyRaw() (readBack, error) {
	s, comp := d.s, d.start.Component
	got, err := digestImage(d.img, d.start.Size, s.cfg.CRC)
	if err != nil {
		return readBack{}, fmt.Errorf("mcu: %s: reading the image back from %s: %w", comp, s.cfg.Target, err)
	}
	if what, where := mismatch(d.start, got, s.cfg.CRC, d.sums); what != "" {
		s.log.Error("image verification failed", "component", comp, "version", d.offer.Target, "target", s.cfg.Target.String(),
			"mismatch", what, "differing_bytes", where)
		return readBack{}, fmt.Errorf("mcu: %s %s: %w: the image in %s has %s; differing bytes: %s; nothing was reported and the old image stays; try the update again",
			comp, d.offer.Target, ErrVerify, s.cfg.Target, what, where)
	}
	s.log.Info("image verified", "component", comp, "md5", got.MD5, "crc", got.CRC, "crc_variant", s.cfg.CRC, "sha256", d.start.SHA256 != "")
	return got, nil
}

// report makes the verified image the running one (on trial), reports
// its version with AT+QIOTMCUVER and confirms it; 7,10705 is then awaited.
func (s *session) report(ctx context.Context) error {
	d := s.cur
	comp := d.start.Component
	d.rec.Phase = recCommitting
	if err := s.j.setTransfer(&d.rec); err != nil {
		return err
	}
	where, err := d.img.Commit(ctx)
	if err != nil {
		if powerLost(err) {
			return err
		}
		d.img.Abort()
		d.committed = true // nothing left to clean up
		if jerr := s.j.setTransfer(nil); jerr != nil {
			s.log.Warn("clearing the journal failed", "err", jerr)
		}
		// The module waits for the version report: the old version
		// tells it the update failed (spec §9, row 25).
		if _, rerr := s.do(ctx, set("+QIOTMCUVER", atcmd.Str(comp), atcmd.Str(d.from))); rerr != nil {
			s.log.Warn("reporting the old version failed", "component", comp, "err", rerr)
		}
		return fmt.Errorf("mcu: %s: the image is verified but could not be made the running one: %w", comp, err)
	}
	d.committed = true
	d.rec.Phase = recCommitted
	if err := s.j.setTransfer(&d.rec); err != nil {
		return err
	}
	s.log.Info("image written", "component", comp, "version", d.offer.Target, "where", where)
	if _, err = s.do(ctx, set("+QIOTMCUVER", atcmd.Str(comp), atcmd.Str(d.offer.Target))); err != nil {
		return err // the journal reports it after a restart
	}
	if err := s.confirm(ctx, d.img, d.rec); err != nil {
		return err
	}
	if err := s.j.finish(comp, d.offer.Target); err != nil {
		return err
	}
	s.res.Updated = append(s.res.Updated, Updated{
		Component: comp, From: d.from, To: d.offer.Target, Digests: d.digests,
		SHA256: d.start.SHA256 != "", Blocks: d.blocks, Pieces: d.pieces, Resumed: d.resumed, Where: where,
		Package: d.rec.Package.kind(), PackageSize: d.rec.Package.fileSize(d.rec.Size), Signed: d.rec.Package.signed(),
		Duration: time.Since(d.began),
	})
	s.phase = reporting
	return nil
}
