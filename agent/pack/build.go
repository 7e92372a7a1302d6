package pack

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/klauspost/compress/zstd"
)

// Defaults of the package builder.
const (
	// DefaultChunkSize is the target bytes per chunk: the applier holds
	// one decoded chunk and one encoded chunk at a time.
	DefaultChunkSize = 64 << 10
	// DefaultDictSize is the largest range of the source image one delta
	// chunk refers to: the applier holds one such range at a time.
	DefaultDictSize = 256 << 10
)

// dictID is the zstd dictionary ID of every delta frame. The dictionary is
// not identified by it but by the chunk's source range in the header.
const dictID = 0

// An Option changes how WriteFull and WriteDelta build a package.
type Option func(*config)

type config struct {
	chunkSize   int
	dictSize    int
	compression Compression
	priv        ed25519.PrivateKey
	level       zstd.EncoderLevel
}

// WithChunkSize sets the number of target bytes per chunk (default
// [DefaultChunkSize]). Smaller chunks need less memory to apply and
// compress slightly worse.
func WithChunkSize(n int) Option { return func(c *config) { c.chunkSize = n } }

// WithDictSize sets how many source bytes a delta chunk may use as its
// dictionary (default [DefaultDictSize]); 0 sets no limit. The applier
// holds one chunk's dictionary at a time.
func WithDictSize(n int) Option { return func(c *config) { c.dictSize = n } }

// WithCompression sets the compression of a full package (default Zstd).
// A delta is always Zstd.
func WithCompression(comp Compression) Option { return func(c *config) { c.compression = comp } }

// WithSigner signs the header with priv.
func WithSigner(priv ed25519.PrivateKey) Option { return func(c *config) { c.priv = priv } }

// WithFastEncoder trades package size for build speed (tests, CI).
func WithFastEncoder() Option { return func(c *config) { c.level = zstd.SpeedDefault } }

func newConfig(opts []Option) (*config, error) {
	c := &config{chunkSize: DefaultChunkSize, dictSize: DefaultDictSize, compression: Zstd, level: zstd.SpeedBestCompression}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.chunkSize < MinChunkSize || c.chunkSize > MaxChunkSize:
		return nil, fmt.Errorf("pack: chunk size %d outside %d..%d", c.chunkSize, MinChunkSize, MaxChunkSize)
	case c.dictSize < 0:
		return nil, fmt.Errorf("pack: dictionary size %d is negative", c.dictSize)
	case c.compression != None && c.compression != Zstd:
		return nil, fmt.Errorf("pack: unknown %s", c.compression)
	case c.priv != nil && len(c.priv) != ed25519.PrivateKeySize:
		return nil, fmt.Errorf("pack: signing key of %d bytes, want %d", len(c.priv), ed25519.PrivateKeySize)
	}
	return c, nil
}

// WriteFull writes a full package of image to w and returns its header.
func WriteFull(w io.Writer, image []byte, opts ...Option) (*Header, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	h := &Header{Kind: Full, Compression: c.compression}
	return write(w, h, c, nil, image)
}

// WriteDelta writes a delta package to w that rebuilds target from source
// and returns its header. Each chunk of target is one zstd frame whose raw
// dictionary is the range of source that matches it best (see
// [WithDictSize]).
func WriteDelta(w io.Writer, source, target []byte, opts ...Option) (*Header, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if int64(len(source)) > MaxImageSize {
		return nil, fmt.Errorf("pack: source image of %d bytes, at most %d", len(source), int64(MaxImageSize))
	}
	if len(source) == 0 {
		return nil, errors.New("pack: delta from an empty source image: build a full package")
	}
	h := &Header{Kind: Delta, Compression: Zstd, SourceSize: int64(len(source)), SourceSHA256: sha256.Sum256(source)}
	return write(w, h, c, source, target)
}

func write(w io.Writer, h *Header, c *config, source, target []byte) (*Header, error) {
	if int64(len(target)) > MaxImageSize {
		return nil, fmt.Errorf("pack: target image of %d bytes, at most %d", len(target), int64(MaxImageSize))
	}
	if len(target) == 0 {
		return nil, errors.New("pack: the image is empty: a package must build at least one byte")
	}
	h.ChunkSize = c.chunkSize
	h.TargetSize = int64(len(target))
	h.TargetSHA256 = sha256.Sum256(target)
	if n := (len(target) + c.chunkSize - 1) / c.chunkSize; n > MaxChunks {
		return nil, fmt.Errorf("pack: %d chunks of %d bytes, at most %d: use a larger chunk size", n, c.chunkSize, MaxChunks)
	}
	payloads, err := encodeChunks(h, c, source, target)
	if err != nil {
		return nil, err
	}
	var keyID []byte
	if c.priv != nil {
		keyID = KeyID(c.priv.Public().(ed25519.PublicKey))
	}
	h.encode(keyID)
	if c.priv != nil {
		h.sign(c.priv)
	}
	if _, err := w.Write(h.raw); err != nil {
		return nil, fmt.Errorf("pack: write header: %w", err)
	}
	for i, p := range payloads {
		if _, err := w.Write(p); err != nil {
			return nil, fmt.Errorf("pack: write chunk %d: %w", i, err)
		}
	}
	return h, nil
}

// encodeChunks fills h.Chunks and returns each chunk's payload.
func encodeChunks(h *Header, c *config, source, target []byte) ([][]byte, error) {
	var enc *zstd.Encoder
	if h.Compression == Zstd {
		window := c.chunkSize // matches reach back through the dictionary too
		if source != nil {
			window += dictLimit(c.dictSize, len(source))
		}
		var err error
		enc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(c.level),
			zstd.WithWindowSize(pow2(window)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(false),
			zstd.WithSingleSegment(true))
		if err != nil {
			return nil, fmt.Errorf("pack: zstd encoder: %w", err)
		}
		defer enc.Close()
	}
	var idx *sourceIndex
	var dictBuf []byte
	if source != nil {
		idx = newSourceIndex(source)
		dictBuf = make([]byte, 0, dictLimit(c.dictSize, len(source)))
	}
	var payloads [][]byte
	for off := 0; off < len(target); off += c.chunkSize {
		data := target[off:min(off+c.chunkSize, len(target))]
		ch := Chunk{TargetOffset: int64(off), Size: len(data), SHA256: sha256.Sum256(data)}
		var p []byte
		switch {
		case h.Compression == None:
			p = data
		case idx != nil:
			ch.Dict = idx.pick(data, dictLimit(c.dictSize, len(source)))
			dict := dictBuf[:0]
			for _, x := range ch.Dict {
				dict = append(dict, source[x.Offset:x.Offset+int64(x.Size)]...)
			}
			if err := enc.ResetWithOptions(nil, zstd.WithEncoderDictRaw(dictID, dict)); err != nil {
				return nil, fmt.Errorf("pack: zstd dictionary for chunk %d: %w", len(payloads), err)
			}
			p = enc.EncodeAll(data, nil)
		default:
			p = enc.EncodeAll(data, nil)
		}
		ch.PayloadSize = len(p)
		h.Chunks = append(h.Chunks, ch)
		payloads = append(payloads, p)
	}
	return payloads, nil
}

// dictLimit returns the dictionary size limit for a source of n bytes.
func dictLimit(dictSize, n int) int {
	if dictSize == 0 || dictSize > n {
		return n
	}
	return dictSize
}

// pow2 returns the smallest power of two at least n and zstd's minimum
// window.
func pow2(n int) int {
	return max(zstd.MinWindowSize, 1<<bits.Len(uint(n-1)))
}
