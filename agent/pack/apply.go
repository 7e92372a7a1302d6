package pack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Apply errors a caller decides on; errors.Is finds them in what Apply,
// CheckSource and VerifyTarget return.
var (
	// ErrCorrupt means a chunk of the payload does not decode to the bytes
	// the header promises: the package is damaged; fetch it again.
	ErrCorrupt = errors.New("pack: package payload is damaged")
	// ErrResumeMismatch means a chunk that a resumed apply expected in
	// the target is not there: restart the apply from chunk 0.
	ErrResumeMismatch = errors.New("pack: target does not hold the chunks the resume expects")
	// ErrTargetMismatch means VerifyTarget found other bytes than the
	// package builds.
	ErrTargetMismatch = errors.New("pack: target image does not match the package")
)

// A SourceMismatchError means a delta was offered an image it was not built
// from. Nothing has been written when Apply returns it.
type SourceMismatchError struct {
	Size      int64    // the source image size the delta names
	Want, Got [32]byte // SHA-256 the delta names, SHA-256 of the current image's first Size bytes
}

// Error names both hashes and what to do.
func (e *SourceMismatchError) Error() string {
	return fmt.Sprintf("pack: delta is for the source image with sha256 %s, but the current image's first %d bytes have sha256 %s: build the delta from the image the device runs, or send a full package",
		hex.EncodeToString(e.Want[:]), e.Size, hex.EncodeToString(e.Got[:]))
}

// An ApplyOption changes how Apply runs.
type ApplyOption func(*applyConfig)

type applyConfig struct {
	from    int
	written io.ReaderAt
	onChunk func(Chunk) error
}

// OnChunk calls fn after each chunk has been written to out, in order. An
// MCU journals c.Index+1 as the number of chunks done there, once what it
// wrote is durable. An error from fn stops Apply and is returned.
func OnChunk(fn func(c Chunk) error) ApplyOption {
	return func(a *applyConfig) { a.onChunk = fn }
}

// ResumeAt makes Apply start at chunk from: written holds the target bytes
// of the chunks before it (the slot being written), which Apply reads back
// and checks against their SHA-256 before going on, so a journal ahead of
// the flash is caught ([ErrResumeMismatch]). The payload reader must start
// at h.Chunks[from].PayloadOffset and out at h.Chunks[from].TargetOffset.
func ResumeAt(from int, written io.ReaderAt) ApplyOption {
	return func(a *applyConfig) { a.from, a.written = from, written }
}

// Apply rebuilds the target image described by h and writes it to out in
// order, chunk by chunk. payload yields the package bytes after the header
// (at h.Chunks[0].PayloadOffset). For a delta, old is the image the device
// runs, read at offsets [0, h.SourceSize); for a full package old is not
// used and may be nil.
//
// Before writing any byte Apply checks old's SHA-256 against the header
// (a *SourceMismatchError names both hashes). Each chunk is decoded into
// memory and written only when its SHA-256 matches the header, so out only
// ever receives bytes of the target; at the end the whole image's SHA-256
// is checked. If h was verified with [Header.Verify], every byte written is
// authenticated.
//
// Apply holds one source range (h.MaxDictSize()), one encoded and one
// decoded chunk at a time: see [ApplyMemory]. It is deterministic and never
// writes to old, so after a crash the caller may start again from the
// beginning, or resume with [ResumeAt] from the chunk count it journaled
// with [OnChunk].
func Apply(ctx context.Context, h *Header, payload io.Reader, old io.ReaderAt, out io.Writer, opts ...ApplyOption) error {
	w, err := NewApplier(ctx, h, old, out, opts...)
	if err != nil {
		return err
	}
	defer w.release()
	for w.next < len(h.Chunks) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pack: apply stopped before chunk %d: %w", w.next, err)
		}
		c := h.Chunks[w.next]
		if n, err := io.ReadFull(payload, w.a.in[:c.PayloadSize]); err != nil {
			return fmt.Errorf("pack: read chunk %d: package bytes %d..%d, got %d: %w", c.Index, c.PayloadOffset, c.PayloadOffset+int64(c.PayloadSize), n, err)
		}
		w.have = c.PayloadSize
		if err := w.chunkDone(); err != nil {
			return err
		}
	}
	return w.Close()
}

// An Applier applies a package whose payload arrives in pieces, as an MCU
// reads it block by block between the module's events: Write takes the
// payload bytes in order, and each chunk is decoded, checked and written
// to out as soon as its last byte arrives. It holds what Apply holds (see
// [ApplyMemory]), never the whole payload.
//
// Create it with [NewApplier], feed it exactly the payload from
// h.Chunks[from].PayloadOffset on, and call Close, which checks that every
// chunk came and the whole image's SHA-256.
type Applier struct {
	h       *Header
	a       *applier
	old     io.ReaderAt
	out     io.Writer
	onChunk func(Chunk) error
	sum     hash.Hash
	next    int   // the chunk being received
	have    int   // bytes of it in a.in
	err     error // the first error; Write and Close return it again
}

// NewApplier returns an Applier for the package h, which writes the target
// image to out and, for a delta, reads the source image from old. Like
// Apply it checks old's SHA-256 against the header before anything is
// written (a *SourceMismatchError), unless a resume leaves no chunk to
// decode, and with [ResumeAt] reads back the chunks already written. The
// options are those of Apply.
func NewApplier(ctx context.Context, h *Header, old io.ReaderAt, out io.Writer, opts ...ApplyOption) (*Applier, error) {
	var cfg applyConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.from < 0 || cfg.from > len(h.Chunks) {
		return nil, fmt.Errorf("pack: resume at chunk %d of %d", cfg.from, len(h.Chunks))
	}
	if cfg.from > 0 && cfg.written == nil {
		return nil, errors.New("pack: resume without the written target to check")
	}
	a, err := newApplier(h)
	if err != nil {
		return nil, err
	}
	w := &Applier{h: h, a: a, old: old, out: out, onChunk: cfg.onChunk, sum: sha256.New(), next: cfg.from}
	// A resume with every chunk written decodes nothing: the source is
	// not read (it may already be gone, overwritten by the new image).
	if h.Kind == Delta && cfg.from < len(h.Chunks) {
		if old == nil {
			a.close()
			return nil, errors.New("pack: a delta needs the source image")
		}
		if err := checkSource(ctx, h, old, a.out[:cap(a.out)]); err != nil {
			a.close()
			return nil, err
		}
	}
	if err := a.rehash(ctx, cfg.written, cfg.from, w.sum); err != nil {
		a.close()
		return nil, err
	}
	return w, nil
}

// Next returns the index of the chunk the Applier waits for: the number
// of chunks written so far, counting those a resume started after.
func (w *Applier) Next() int { return w.next }

// Write takes the next payload bytes. It writes every chunk they complete
// to out (and calls the OnChunk function) before it returns; an error
// (a damaged chunk, a failed write, bytes past the payload's end) stops
// the Applier, and Write and Close return it from then on.
func (w *Applier) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && w.err == nil {
		if w.next >= len(w.h.Chunks) {
			w.err = fmt.Errorf("pack: %d bytes past the end of the payload (package size %d)", len(p), int64(w.h.Size())+w.h.PayloadSize())
			break
		}
		c := w.h.Chunks[w.next]
		k := copy(w.a.in[w.have:c.PayloadSize], p)
		w.have += k
		n += k
		p = p[k:]
		if w.have == c.PayloadSize {
			w.err = w.chunkDone()
		}
	}
	return n, w.err
}

// chunkDone decodes, checks and writes the chunk whose payload is in a.in.
func (w *Applier) chunkDone() error {
	c := w.h.Chunks[w.next]
	data, err := w.a.decode(c, w.a.in[:c.PayloadSize], w.old)
	if err != nil {
		return err
	}
	if _, err := w.out.Write(data); err != nil {
		return fmt.Errorf("pack: write chunk %d at target offset %d: %w", c.Index, c.TargetOffset, err)
	}
	w.sum.Write(data)
	w.next++
	w.have = 0
	if w.onChunk != nil {
		return w.onChunk(c)
	}
	return nil
}

// Close releases the decoder and reports whether the whole image was
// written: every chunk, with the SHA-256 the header names.
func (w *Applier) Close() error {
	w.release()
	if w.err != nil {
		return w.err
	}
	if w.next < len(w.h.Chunks) {
		c := w.h.Chunks[w.next]
		w.err = fmt.Errorf("pack: the payload ended in chunk %d of %d, at package byte %d of %d", c.Index, len(w.h.Chunks), c.PayloadOffset+int64(w.have), int64(w.h.Size())+w.h.PayloadSize())
		return w.err
	}
	if got := w.sum.Sum(nil); string(got) != string(w.h.TargetSHA256[:]) {
		w.err = fmt.Errorf("%w: target sha256 %x, header says %x", ErrCorrupt, got, w.h.TargetSHA256)
	}
	return w.err
}

func (w *Applier) release() {
	if w.a != nil {
		w.a.close()
	}
}

// ApplyMemory returns the bytes of memory Apply needs for h: one source
// range, one encoded and one decoded chunk, and an estimate of the zstd
// decoder's state (a literals buffer and a block buffer of up to one
// chunk each, and tables), which TestApplyMemory checks against the
// measured live heap. A C decoder on an MCU whose old image is
// memory-mapped flash needs no copy of the source range. A resumed apply
// of an uncompressed package needs one more chunk.
func ApplyMemory(h *Header) int64 {
	n := int64(maxPayloadSize(h)) + 4<<10 // and small objects
	if h.Compression == Zstd {
		block := int64(min(h.ChunkSize, 128<<10))
		n += int64(h.MaxDictSize()) + int64(h.ChunkSize) + 2*block + 64<<10
	}
	return n
}

func maxPayloadSize(h *Header) int {
	m := 0
	for _, c := range h.Chunks {
		m = max(m, c.PayloadSize)
	}
	return m
}

// CheckSource checks that the first h.SourceSize bytes of old are the
// source image of the delta h; for a full package it returns nil.
func CheckSource(ctx context.Context, h *Header, old io.ReaderAt) error {
	if h.Kind != Delta {
		return nil
	}
	return checkSource(ctx, h, old, make([]byte, 32<<10))
}

func checkSource(ctx context.Context, h *Header, old io.ReaderAt, buf []byte) error {
	s := sha256.New()
	if err := hashRange(ctx, s, old, 0, h.SourceSize, buf); err != nil {
		return fmt.Errorf("pack: read the source image: %w", err)
	}
	var got [32]byte
	s.Sum(got[:0])
	if got != h.SourceSHA256 {
		return &SourceMismatchError{Size: h.SourceSize, Want: h.SourceSHA256, Got: got}
	}
	return nil
}

// VerifyTarget checks that the first h.TargetSize bytes of target are the
// image h builds, chunk by chunk, and names the first chunk that differs.
func VerifyTarget(ctx context.Context, h *Header, target io.ReaderAt) error {
	whole := sha256.New()
	buf := make([]byte, h.ChunkSize)
	for _, c := range h.Chunks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pack: verify stopped at chunk %d: %w", c.Index, err)
		}
		b := buf[:c.Size]
		if err := readFullAt(target, b, c.TargetOffset); err != nil {
			return fmt.Errorf("pack: verify: read chunk %d at offset %d: %w", c.Index, c.TargetOffset, err)
		}
		if got := sha256.Sum256(b); got != c.SHA256 {
			return fmt.Errorf("%w: chunk %d (offset %d, %d bytes) has sha256 %x, want %x", ErrTargetMismatch, c.Index, c.TargetOffset, c.Size, got, c.SHA256)
		}
		whole.Write(b)
	}
	if got := whole.Sum(nil); string(got) != string(h.TargetSHA256[:]) {
		return fmt.Errorf("%w: sha256 %x, want %x", ErrTargetMismatch, got, h.TargetSHA256)
	}
	return nil
}

// applier holds the buffers and decoder of one Apply.
type applier struct {
	h    *Header
	in   []byte
	out  []byte
	dict []byte
	dec  *zstd.Decoder
}

func newApplier(h *Header) (*applier, error) {
	if h.Kind == Delta && h.Compression != Zstd {
		return nil, fmt.Errorf("pack: a delta compressed with %s", h.Compression)
	}
	a := &applier{h: h, in: make([]byte, maxPayloadSize(h))}
	if h.Compression != Zstd {
		return a, nil
	}
	a.out = make([]byte, 0, h.ChunkSize+64)
	a.dict = make([]byte, h.MaxDictSize())
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(uint64(pow2(h.ChunkSize))),
		zstd.WithDecoderMaxMemory(uint64(h.ChunkSize)))
	if err != nil {
		return nil, fmt.Errorf("pack: zstd decoder: %w", err)
	}
	a.dec = dec
	return a, nil
}

func (a *applier) close() {
	if a.dec != nil {
		a.dec.Close()
		a.dec = nil
	}
}

// decode returns chunk c's verified target bytes from its payload in,
// valid until the next call.
func (a *applier) decode(c Chunk, in []byte, old io.ReaderAt) ([]byte, error) {
	data := in
	if a.h.Compression == Zstd {
		dict := a.dict[:0]
		for _, x := range c.Dict {
			b := dict[len(dict) : len(dict)+x.Size]
			if err := readFullAt(old, b, x.Offset); err != nil {
				return nil, fmt.Errorf("pack: chunk %d: read source bytes %d..%d: %w", c.Index, x.Offset, x.Offset+int64(x.Size), err)
			}
			dict = dict[:len(dict)+x.Size]
		}
		if err := a.dec.ResetWithOptions(nil, zstd.WithDecoderDictRaw(dictID, dict)); err != nil {
			return nil, fmt.Errorf("pack: chunk %d: zstd dictionary: %w", c.Index, err)
		}
		var err error
		data, err = a.dec.DecodeAll(in, a.out[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: chunk %d (package bytes %d..%d) does not decode: %v", ErrCorrupt, c.Index, c.PayloadOffset, c.PayloadOffset+int64(c.PayloadSize), err)
		}
	}
	if len(data) != c.Size {
		return nil, fmt.Errorf("%w: chunk %d decodes to %d bytes, want %d", ErrCorrupt, c.Index, len(data), c.Size)
	}
	if got := sha256.Sum256(data); got != c.SHA256 {
		return nil, fmt.Errorf("%w: chunk %d (package bytes %d..%d) decodes to sha256 %x, header says %x", ErrCorrupt, c.Index, c.PayloadOffset, c.PayloadOffset+int64(c.PayloadSize), got, c.SHA256)
	}
	return data, nil
}

// rehash reads back the first n chunks from written, checks each and adds
// them to sum.
func (a *applier) rehash(ctx context.Context, written io.ReaderAt, n int, sum hash.Hash) error {
	if n == 0 {
		return nil
	}
	buf := a.out[:0]
	if cap(buf) < a.h.ChunkSize {
		buf = make([]byte, a.h.ChunkSize)
	}
	for _, c := range a.h.Chunks[:n] {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pack: resume stopped at chunk %d: %w", c.Index, err)
		}
		b := buf[:c.Size]
		if err := readFullAt(written, b, c.TargetOffset); err != nil {
			return fmt.Errorf("pack: resume: read back chunk %d at offset %d: %w", c.Index, c.TargetOffset, err)
		}
		if got := sha256.Sum256(b); got != c.SHA256 {
			return fmt.Errorf("%w: chunk %d at offset %d has sha256 %x, want %x: restart from chunk 0", ErrResumeMismatch, c.Index, c.TargetOffset, got, c.SHA256)
		}
		sum.Write(b)
	}
	return nil
}

// hashRange writes r's bytes [off, off+n) to w through buf.
func hashRange(ctx context.Context, w io.Writer, r io.ReaderAt, off, n int64, buf []byte) error {
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), n)]
		if err := readFullAt(r, b, off); err != nil {
			return fmt.Errorf("offset %d: %w", off, err)
		}
		w.Write(b)
		off += int64(len(b))
		n -= int64(len(b))
	}
	return nil
}

// readFullAt fills b from r at off; io.EOF with a full b is no error.
func readFullAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
