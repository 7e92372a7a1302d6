package mcu

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/atota/atota/agent/pack"
	"github.com/atota/atota/agent/plan"
)

// A download whose first bytes are pack.Magic is an atota package
// (agent/pack): a full image or a delta against the image the device
// runs. The MCU applies it while it reads it: the header first (checked,
// its signature verified against Config.VerifyKey, a delta's source
// checked against the running image), then each chunk decoded as soon as
// its last byte is read and written to the image the target opens for
// the image the package builds. Nothing is written before the header,
// the signature and the source check out. The journal holds how many
// chunks are applied and durable; after a reset the header is read
// again and the apply goes on at the next chunk (pack.ResumeAt), or
// starts over when the target no longer holds what the journal says.

// runningTarget is a Target that can read the image the device runs, to
// which a delta applies.
type runningTarget interface {
	// RunningImage returns the image the device runs, read only, and
	// how many bytes of it can be read.
	RunningImage(ctx context.Context) (sourceImage, int64, error)
}

// sourceImage is the running image a delta reads.
type sourceImage interface {
	io.ReaderAt
	io.Closer
}

// pkgApply is a package being applied.
type pkgApply struct {
	h   *pack.Header
	w   *pack.Applier
	src sourceImage // nil for a full package
	// sums digests the package file as it is read, to compare with
	// 7,10701; nil when this run did not read it all (a resume).
	sums *fileSums
}

// takeHeader goes on with a package once head holds its first bytes up
// to end: it gathers the header, checks it, opens the image and starts
// the Applier. It returns where the next read starts.
func (d *download) takeHeader(ctx context.Context, end int64) (int64, error) {
	comp := d.start.Component
	if len(d.head) < pack.FixedHeaderSize {
		if end >= d.start.Size {
			return 0, d.refuse(fmt.Errorf("the package is %d bytes, shorter than a package header", d.start.Size))
		}
		return end, nil
	}
	n, err := pack.HeaderSize(d.head)
	if err != nil {
		return 0, d.refuse(err)
	}
	if int64(n) > d.start.Size {
		return 0, d.refuse(fmt.Errorf("the package header claims %d bytes, the package is %d", n, d.start.Size))
	}
	if len(d.head) < n {
		return end, nil
	}
	h, err := pack.ParseHeader(d.head[:n])
	if err != nil {
		return 0, d.refuse(err)
	}
	if want := int64(h.Size()) + h.PayloadSize(); want != d.start.Size {
		return 0, d.refuse(fmt.Errorf("the header describes a %d-byte package, the module announced %d bytes", want, d.start.Size))
	}
	d.s.log.Info("package", "component", comp, "header", h.String(), "signed", h.Signed())
	var keyID string
	if key := d.s.cfg.VerifyKey; key != nil {
		if err := h.Verify(key); err != nil {
			return 0, d.refuse(err)
		}
		keyID = keyIDOf(key)
		d.s.log.Info("package signature verified", "component", comp, "key", keyID)
	}
	// The plan's space minimum was checked against the package; the
	// image it builds is what the target must hold.
	if c, err := d.s.cfg.Target.Capacity(ctx); err != nil {
		return 0, err
	} else if c < h.TargetSize {
		return 0, &PolicyError{Component: comp, What: "space", Have: c, Need: h.TargetSize, Unit: " bytes",
			Detail: fmt.Sprintf("the package builds a %d-byte image, the target holds %d bytes; nothing was written", h.TargetSize, c)}
	}
	p := &pkgApply{h: h}
	d.pkg = p
	if h.Kind == pack.Delta {
		if err := p.openSource(ctx, d); err != nil {
			return 0, err
		}
	}
	from, err := p.start(ctx, d, keyID)
	if err != nil {
		return 0, err
	}
	// Payload bytes read with the header go to the Applier; bytes of
	// chunks the image already holds are skipped. An apply from chunk 0
	// reads the whole package file, whose digests 7,10701 gives.
	at := payloadAt(h, from)
	head := d.head
	d.head = nil
	if from == 0 {
		p.sums = newFileSums(d.s.cfg.CRC)
		p.sums.Write(head[:min(at, end)])
	}
	if at < end {
		if err := p.write(d, head[at:]); err != nil {
			return 0, err
		}
	}
	if from > 0 {
		d.resumed = at
		d.s.log.Info("package apply resumes", "component", comp, "chunk", from, "of", len(h.Chunks), "at", at)
	}
	return max(end, at), nil
}

// refuse returns why a package is refused before anything was written.
func (d *download) refuse(why error) error {
	return fmt.Errorf("mcu: %s %s: %w: package refused: %w; nothing was written and the old image stays", d.start.Component, d.offer.Target, ErrVerify, why)
}

// openSource opens the running image a delta applies to.
func (p *pkgApply) openSource(ctx context.Context, d *download) error {
	t := d.s.cfg.Target
	rt, ok := t.(runningTarget)
	if !ok {
		return d.refuse(fmt.Errorf("it is a delta, and target %s cannot read the image the device runs: send a full package, or use a flashsim:, file: or stm32: target", t))
	}
	src, size, err := rt.RunningImage(ctx)
	if err != nil {
		return fmt.Errorf("mcu: %s: the running image, which the delta applies to: %w", d.start.Component, err)
	}
	p.src = src
	if size < p.h.SourceSize {
		return d.refuse(fmt.Errorf("the delta is for a source image of %d bytes (sha256 %s), the running image in %s has %d",
			p.h.SourceSize, hex.EncodeToString(p.h.SourceSHA256[:]), t, size))
	}
	// The Applier checks that src is the delta's source before anything
	// is written.
	return nil
}

// start opens the image the package builds and the Applier: at the
// journal's chunk when resuming and the target still holds those chunks,
// else from chunk 0. It returns the chunk the Applier waits for. Only a
// delta for another source image is a refusal; an error reading the
// source or the image (a cancel, an I/O error) keeps the journal as it is.
func (p *pkgApply) start(ctx context.Context, d *download, keyID string) (int, error) {
	h := p.h
	d.rec.Package = &pkgRecord{Kind: h.Kind.String(), TargetSize: h.TargetSize, TargetSHA256: hex.EncodeToString(h.TargetSHA256[:]), Key: keyID}
	spec := ImageSpec{Component: d.start.Component, Size: h.TargetSize, Digests: d.rec.image(), Checkpoint: d.noteRepair}
	if r := d.resume; r != nil {
		switch {
		case r.Package.TargetSHA256 != d.rec.Package.TargetSHA256 || r.Package.TargetSize != h.TargetSize || r.Package.Chunks > len(h.Chunks):
			d.s.log.Warn("the journal's package is not this one; starting over", "component", d.start.Component)
		case r.Package.Chunks > 0 && chunkEnd(h, r.Package.Chunks) == r.Package.Applied:
			spec.Resume, spec.Done = r.Image, r.Package.Applied
		}
	}
	onChunk := pack.OnChunk(func(pack.Chunk) error { return p.chunkDone(d) })
	for {
		img, at, err := d.s.openImage(ctx, d, spec)
		if err != nil {
			return 0, err
		}
		d.img = img
		opts := []pack.ApplyOption{onChunk}
		from := d.rec.Package.Chunks // as openImage marked it: 0 unless resumed
		if from > 0 {
			opts = append(opts, pack.ResumeAt(from, img))
		}
		w, err := pack.NewApplier(ctx, h, p.src, &imageWriter{img: img, off: at}, opts...)
		var sm *pack.SourceMismatchError
		switch {
		case err == nil:
			if h.Kind == pack.Delta && from < len(h.Chunks) {
				d.s.log.Info("delta source checked: it is the running image", "component", d.start.Component, "sha256", hex.EncodeToString(h.SourceSHA256[:]))
			}
			p.w = w
			return from, nil
		case from > 0 && errors.Is(err, pack.ErrResumeMismatch):
			d.s.log.Warn("the image does not hold the chunks the journal says; the apply starts over", "component", d.start.Component, "err", err)
			img.Close()
			spec.Resume, spec.Done = "", 0
		case errors.As(err, &sm):
			return 0, d.refuse(err)
		default:
			return 0, fmt.Errorf("mcu: %s: applying the package to %s: %w", d.start.Component, d.s.cfg.Target, err)
		}
	}
}

// write passes payload bytes to the Applier.
func (p *pkgApply) write(d *download, b []byte) error {
	if p.sums != nil {
		p.sums.Write(b)
	}
	if _, err := p.w.Write(b); err != nil {
		if errors.Is(err, pack.ErrCorrupt) {
			return fmt.Errorf("mcu: %s %s: %w: %w; the module's package is damaged or was altered; the old image stays", d.start.Component, d.offer.Target, ErrVerify, err)
		}
		return fmt.Errorf("mcu: %s: applying the package to %s: %w", d.start.Component, d.s.cfg.Target, err)
	}
	return nil
}

// chunkDone is the Applier's OnChunk: with a journal file the chunk is
// made durable and journaled.
func (p *pkgApply) chunkDone(d *download) error {
	if d.s.j.path == "" {
		return nil
	}
	return d.checkpoint()
}

// mark records in the journal record that the image holds its first n
// bytes durably in the given state: the whole chunks they are, since a
// chunk is applied whole. Bytes that are not whole chunks cannot be
// resumed from: the record then forgets the image and a reset starts the
// apply over.
func (p *pkgApply) mark(d *download, n int64, state string) {
	k := 0
	for k < len(p.h.Chunks) && chunkEnd(p.h, k+1) <= n {
		k++
	}
	if chunkEnd(p.h, k) != n {
		k, state = 0, ""
	}
	pr := d.rec.Package
	pr.Chunks, pr.Applied = k, chunkEnd(p.h, k)
	d.rec.Committed, d.rec.Image = payloadAt(p.h, k), state
}

// checkRead checks, once every chunk is applied, the whole image the
// Applier built and the package read against 7,10701 (when this run read
// all of it): before the image is put in place.
func (p *pkgApply) checkRead(d *download) error {
	comp := d.start.Component
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("mcu: %s %s: %w: %w; the old image stays", comp, d.offer.Target, ErrVerify, err)
	}
	if p.sums != nil {
		if what, _ := mismatch(d.start, p.sums.readBack(), d.s.cfg.CRC, nil); what != "" {
			return fmt.Errorf("mcu: %s %s: %w: the package read has %s; nothing was reported and the old image stays; try the update again",
				comp, d.offer.Target, ErrVerify, what)
		}
	}
	return nil
}

// verify reads the image the package built back from the target, checks
// it against the header's SHA-256 and returns its digests.
func (p *pkgApply) verify(ctx context.Context, d *download) (readBack, error) {
	s, comp, h := d.s, d.start.Component, p.h
	got, err := digestImage(d.img, h.TargetSize, s.cfg.CRC)
	if err != nil {
		return readBack{}, fmt.Errorf("mcu: %s: reading the image back from %s: %w", comp, s.cfg.Target, err)
	}
	if got.SHA256 != hex.EncodeToString(h.TargetSHA256[:]) {
		// Name the chunk that differs.
		err := pack.VerifyTarget(ctx, h, d.img)
		s.log.Error("image verification failed", "component", comp, "version", d.offer.Target, "target", s.cfg.Target.String(), "err", err)
		return readBack{}, fmt.Errorf("mcu: %s %s: %w: the image the package built in %s has sha256 %s, the header says %x: %v; nothing was reported and the old image stays; try the update again",
			comp, d.offer.Target, ErrVerify, s.cfg.Target, got.SHA256, h.TargetSHA256, err)
	}
	d.rec.Package.MD5, d.rec.Package.CRC = got.MD5, got.CRC
	s.log.Info("package applied and image verified", "component", comp, "kind", h.Kind, "image_size", h.TargetSize,
		"sha256", got.SHA256, "package_size", d.start.Size, "package_digests_checked", p.sums != nil)
	p.close()
	return got, nil
}

// close releases the Applier and the running image.
func (p *pkgApply) close() {
	if p.w != nil {
		p.w.Close()
	}
	if p.src != nil {
		p.src.Close()
		p.src = nil
	}
}

// kind returns the package kind of a record, "" for a raw image.
func (p *pkgRecord) kind() string {
	if p == nil {
		return ""
	}
	return p.Kind
}

// fileSize returns n, the record's size, for a package; 0 for a raw
// image.
func (p *pkgRecord) fileSize(n int64) int64 {
	if p == nil {
		return 0
	}
	return n
}

// signed reports whether the package's signature was verified.
func (p *pkgRecord) signed() bool { return p != nil && p.Key != "" }

// keyIDOf returns the ID of a verify key as the journal records it.
func keyIDOf(key ed25519.PublicKey) string { return hex.EncodeToString(pack.KeyID(key)) }

// chunkEnd returns the image bytes the first k chunks of h build.
func chunkEnd(h *pack.Header, k int) int64 {
	if k <= 0 {
		return 0
	}
	c := h.Chunks[k-1]
	return c.TargetOffset + int64(c.Size)
}

// payloadAt returns the package byte chunk k starts at (the package size
// after the last chunk).
func payloadAt(h *pack.Header, k int) int64 {
	if k < len(h.Chunks) {
		return h.Chunks[k].PayloadOffset
	}
	return int64(h.Size()) + h.PayloadSize()
}

// imageWriter writes the Applier's chunks to an image in order.
type imageWriter struct {
	img Image
	off int64
}

func (w *imageWriter) Write(p []byte) (int, error) {
	n, err := w.img.WriteAt(p, w.off)
	w.off += int64(n)
	return n, err
}

// fileSums digests a package file as it is read, as digestImage digests
// an image read back, so that verify.go's mismatch compares it with
// 7,10701.
type fileSums struct {
	n          int64
	v          plan.CRCVariant
	md5, sha   hash.Hash
	crc, other hash.Hash32
}

func newFileSums(v plan.CRCVariant) *fileSums {
	return &fileSums{v: v, md5: md5.New(), sha: sha256.New(), crc: plan.NewCRC32(v), other: plan.NewCRC32(otherVariant(v))}
}

func (f *fileSums) Write(b []byte) {
	f.n += int64(len(b))
	for _, h := range []hash.Hash{f.md5, f.sha, f.crc, f.other} {
		h.Write(b)
	}
}

// readBack returns the digests of what was written.
func (f *fileSums) readBack() readBack {
	return readBack{
		Digests:  plan.Digests{Size: f.n, MD5: hex.EncodeToString(f.md5.Sum(nil)), SHA256: hex.EncodeToString(f.sha.Sum(nil)), CRC: f.crc.Sum32()},
		otherCRC: f.other.Sum32(),
	}
}
