package pack

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
)

// Magic is the first eight bytes of every package.
const Magic = "ATOTAPKG"

// FormatVersion is the package format this package writes and reads.
const FormatVersion = 1

// Limits a header must respect; ReadHeader refuses anything outside them
// before it allocates.
const (
	// FixedHeaderSize is the size of the header before its chunk table.
	FixedHeaderSize = 96
	// MaxExtents bounds the source ranges of one delta chunk's dictionary.
	MaxExtents = 8
	// MinChunkSize and MaxChunkSize bound Header.ChunkSize.
	MinChunkSize = 1 << 10
	MaxChunkSize = 16 << 20
	// MaxChunks bounds the number of chunks of one package.
	MaxChunks = 1 << 16
	// MaxImageSize bounds the source and target image sizes.
	MaxImageSize = 1<<32 - 1
)

const (
	entrySize  = 37 // chunk table entry without its extents
	extentSize = 8
	keyIDSize  = 8
	crcSize    = 4
	sigSize    = 64 // ed25519.SignatureSize
	flagSign   = 1 << 0
)

// Kind says what a package's payload rebuilds the target image from.
type Kind uint8

// Package kinds.
const (
	// Full packages carry the whole target image.
	Full Kind = 1
	// Delta packages carry the target image compressed against a source
	// image the device already has.
	Delta Kind = 2
)

// String returns "full" or "delta".
func (k Kind) String() string {
	switch k {
	case Full:
		return "full"
	case Delta:
		return "delta"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Compression is how each chunk of the payload is encoded.
type Compression uint8

// Compressions.
const (
	// None stores each chunk as is (full packages only).
	None Compression = 0
	// Zstd stores each chunk as one zstd frame; in a delta package the
	// frame uses a range of the source image as its raw dictionary.
	Zstd Compression = 1
)

// String returns "none" or "zstd".
func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Zstd:
		return "zstd"
	}
	return "Compression(" + strconv.Itoa(int(c)) + ")"
}

// ParseCompression returns the Compression named s ("none" or "zstd").
func ParseCompression(s string) (Compression, error) {
	switch s {
	case "none":
		return None, nil
	case "zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("pack: compression %q: want none or zstd", s)
}

// A Header describes a package: what it builds, from what, and how its
// payload is cut into chunks. It is read with [ReadHeader] and written by
// [WriteFull] and [WriteDelta]; change no field of a Header you did not
// build yourself, as [Header.Verify] checks the signature over the bytes
// that were read.
type Header struct {
	Kind        Kind
	Compression Compression
	// ChunkSize is the number of target image bytes per chunk; the last
	// chunk may be shorter.
	ChunkSize int
	// TargetSize and TargetSHA256 describe the image the package builds.
	TargetSize   int64
	TargetSHA256 [32]byte
	// SourceSize and SourceSHA256 describe the image a delta applies to;
	// both are zero for a full package.
	SourceSize   int64
	SourceSHA256 [32]byte
	// Chunks lists the chunks in target order.
	Chunks []Chunk
	// KeyID names the signing key (the first 8 bytes of the SHA-256 of
	// the ed25519 public key); Signature is the ed25519 signature over
	// the header bytes before it. Both are empty when unsigned.
	KeyID     []byte
	Signature []byte

	raw []byte // the encoded header
}

// A Chunk is one independently decodable piece of the payload: it builds
// Size bytes of the target image at TargetOffset from PayloadSize bytes at
// PayloadOffset in the package file. A delta chunk's zstd frame uses the
// source image ranges Dict, concatenated in order, as its raw dictionary.
type Chunk struct {
	Index         int
	TargetOffset  int64
	Size          int
	PayloadOffset int64 // from the start of the package file
	PayloadSize   int
	SHA256        [32]byte // of the chunk's target bytes
	Dict          []Extent
}

// An Extent is a range of the source image.
type Extent struct {
	Offset int64
	Size   int
}

// DictSize returns the size of the chunk's dictionary.
func (c Chunk) DictSize() int {
	n := 0
	for _, e := range c.Dict {
		n += e.Size
	}
	return n
}

// Size returns the encoded size of the header in bytes: where the payload
// starts in the package file.
func (h *Header) Size() int {
	n := FixedHeaderSize + crcSize
	for _, c := range h.Chunks {
		n += entrySize + extentSize*len(c.Dict)
	}
	if h.Signed() {
		n += keyIDSize + sigSize
	}
	return n
}

// PayloadSize returns the number of payload bytes after the header.
func (h *Header) PayloadSize() int64 {
	var n int64
	for _, c := range h.Chunks {
		n += int64(c.PayloadSize)
	}
	return n
}

// Signed reports whether the header carries a signature.
func (h *Header) Signed() bool { return len(h.Signature) != 0 }

// Bytes returns the encoded header: the first h.Size() bytes of the
// package file. The caller must not modify it.
func (h *Header) Bytes() []byte { return h.raw }

// MaxDictSize returns the largest dictionary of any chunk.
func (h *Header) MaxDictSize() int {
	m := 0
	for _, c := range h.Chunks {
		m = max(m, c.DictSize())
	}
	return m
}

// String summarises the header on one line.
func (h *Header) String() string {
	s := fmt.Sprintf("%s package, %s, %d chunks of %d bytes, target %d bytes sha256 %s",
		h.Kind, h.Compression, len(h.Chunks), h.ChunkSize, h.TargetSize, hex.EncodeToString(h.TargetSHA256[:]))
	if h.Kind == Delta {
		s += fmt.Sprintf(", source %d bytes sha256 %s", h.SourceSize, hex.EncodeToString(h.SourceSHA256[:]))
	}
	if h.Signed() {
		s += ", signed by key " + hex.EncodeToString(h.KeyID)
	}
	return s
}

// encode sets h.raw from the fields, with room for a signature when
// signer is set; the signature bytes are filled by the caller.
func (h *Header) encode(keyID []byte) {
	le := binary.LittleEndian
	b := make([]byte, FixedHeaderSize, h.Size()+keyIDSize+sigSize)
	copy(b, Magic)
	b[8] = FormatVersion
	b[9] = byte(h.Kind)
	b[10] = byte(h.Compression)
	if keyID != nil {
		b[11] = flagSign
		h.KeyID = keyID
		h.Signature = make([]byte, sigSize)
	}
	le.PutUint32(b[12:], uint32(h.Size()))
	le.PutUint32(b[16:], uint32(h.ChunkSize))
	le.PutUint32(b[20:], uint32(len(h.Chunks)))
	le.PutUint32(b[24:], uint32(h.TargetSize))
	copy(b[28:], h.TargetSHA256[:])
	le.PutUint32(b[60:], uint32(h.SourceSize))
	copy(b[64:], h.SourceSHA256[:])
	payload := int64(h.Size())
	for i := range h.Chunks {
		c := &h.Chunks[i]
		c.Index = i
		c.PayloadOffset = payload
		payload += int64(c.PayloadSize)
		b = le.AppendUint32(b, uint32(c.PayloadSize))
		b = append(b, c.SHA256[:]...)
		b = append(b, byte(len(c.Dict)))
		for _, x := range c.Dict {
			b = le.AppendUint32(b, uint32(x.Offset))
			b = le.AppendUint32(b, uint32(x.Size))
		}
	}
	b = append(b, keyID...)
	b = le.AppendUint32(b, crc32.ChecksumIEEE(b))
	if keyID != nil {
		b = append(b, make([]byte, sigSize)...)
	}
	h.raw = b
}

// signedBytes returns the header bytes the signature covers.
func (h *Header) signedBytes() []byte { return h.raw[:len(h.raw)-sigSize] }

// errNoRaw is returned for a Header that was neither read nor written.
var errNoRaw = errors.New("pack: header was not read with ReadHeader nor built by WriteFull/WriteDelta")
