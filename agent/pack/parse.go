package pack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// A FormatError reports a package header that cannot be read: the field,
// its byte offset in the package file and what is wrong with it.
type FormatError struct {
	Field  string
	Offset int64
	Msg    string
	Err    error // the underlying read error, if any
}

// Error returns the message with the field and its offset.
func (e *FormatError) Error() string {
	s := fmt.Sprintf("pack: header field %s at byte %d: %s", e.Field, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying read error, if any.
func (e *FormatError) Unwrap() error { return e.Err }

// IsPackage reports whether b (the first bytes of a file) starts with the
// package magic; anything else is a raw image.
func IsPackage(b []byte) bool { return bytes.HasPrefix(b, []byte(Magic)) }

// ReadHeader reads and checks a package header from r, leaving r at the
// first payload byte. It checks the structure and the header checksum, not
// the signature: call [Header.Verify] for that. Errors are *FormatError.
func ReadHeader(r io.Reader) (*Header, error) {
	var buf bytes.Buffer
	fixed := make([]byte, FixedHeaderSize)
	if n, err := io.ReadFull(r, fixed); err != nil {
		return nil, &FormatError{Field: "header", Offset: int64(n), Msg: fmt.Sprintf("truncated: %d of %d bytes", n, FixedHeaderSize), Err: err}
	}
	buf.Write(fixed)
	h, size, err := parseFixed(fixed)
	if err != nil {
		return nil, err
	}
	// Read the rest as it arrives, so a lying size costs no allocation.
	if n, err := io.CopyN(&buf, r, int64(size-FixedHeaderSize)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, &FormatError{Field: "header", Offset: FixedHeaderSize + n, Msg: fmt.Sprintf("truncated: %d of %d bytes", FixedHeaderSize+n, size), Err: err}
	}
	if err := h.parseRest(buf.Bytes()); err != nil {
		return nil, err
	}
	return h, nil
}

// ParseHeader is ReadHeader on a byte slice holding at least the header.
func ParseHeader(b []byte) (*Header, error) { return ReadHeader(bytes.NewReader(b)) }

// HeaderSize checks the fixed part of a header, the first
// [FixedHeaderSize] bytes of a package file, and returns the size of the
// whole header: how many bytes a reader that receives the package in
// pieces must gather before it calls [ParseHeader]. Errors are
// *FormatError.
func HeaderSize(fixed []byte) (int, error) {
	if len(fixed) < FixedHeaderSize {
		return 0, &FormatError{Field: "header", Offset: int64(len(fixed)), Msg: fmt.Sprintf("truncated: %d of %d bytes", len(fixed), FixedHeaderSize)}
	}
	_, size, err := parseFixed(fixed[:FixedHeaderSize])
	return size, err
}

// parseFixed checks the fixed part and returns the header size it claims.
func parseFixed(b []byte) (*Header, int, error) {
	le := binary.LittleEndian
	ferr := func(field string, off int, format string, args ...any) error {
		return &FormatError{Field: field, Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
	}
	if string(b[:8]) != Magic {
		return nil, 0, ferr("magic", 0, "%q is not %q: not an atota package", b[:8], Magic)
	}
	if b[8] != FormatVersion {
		return nil, 0, ferr("version", 8, "format version %d, this atota reads version %d: use a matching atota", b[8], FormatVersion)
	}
	h := &Header{Kind: Kind(b[9]), Compression: Compression(b[10])}
	switch {
	case h.Kind != Full && h.Kind != Delta:
		return nil, 0, ferr("kind", 9, "unknown kind %d", b[9])
	case h.Compression != None && h.Compression != Zstd:
		return nil, 0, ferr("compression", 10, "unknown compression %d", b[10])
	case h.Kind == Delta && h.Compression != Zstd:
		return nil, 0, ferr("compression", 10, "a delta must be zstd, not %s", h.Compression)
	case b[11]&^flagSign != 0:
		return nil, 0, ferr("flags", 11, "unknown flags %#x", b[11])
	}
	signed := b[11]&flagSign != 0
	size := int64(le.Uint32(b[12:]))
	h.ChunkSize = int(le.Uint32(b[16:]))
	count := int64(le.Uint32(b[20:]))
	h.TargetSize = int64(le.Uint32(b[24:]))
	copy(h.TargetSHA256[:], b[28:60])
	h.SourceSize = int64(le.Uint32(b[60:]))
	copy(h.SourceSHA256[:], b[64:96])
	if h.TargetSize == 0 {
		return nil, 0, ferr("target_size", 24, "an empty target image")
	}
	if h.ChunkSize < MinChunkSize || h.ChunkSize > MaxChunkSize {
		return nil, 0, ferr("chunk_size", 16, "%d outside %d..%d", h.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if want := (h.TargetSize + int64(h.ChunkSize) - 1) / int64(h.ChunkSize); count != want {
		return nil, 0, ferr("chunk_count", 20, "%d chunks, want %d for %d target bytes in chunks of %d", count, want, h.TargetSize, h.ChunkSize)
	}
	if count > MaxChunks {
		return nil, 0, ferr("chunk_count", 20, "%d chunks, at most %d", count, MaxChunks)
	}
	if h.Kind == Full && (h.SourceSize != 0 || h.SourceSHA256 != [32]byte{}) {
		return nil, 0, ferr("source_size", 60, "a full package names no source image")
	}
	if h.Kind == Delta && h.SourceSize == 0 {
		return nil, 0, ferr("source_size", 60, "a delta from an empty source image")
	}
	least := FixedHeaderSize + entrySize*count + crcSize
	most := least + extentSize*MaxExtents*count
	if signed {
		least += keyIDSize + sigSize
		most += keyIDSize + sigSize
	}
	if size < least || size > most {
		return nil, 0, ferr("header_size", 12, "%d bytes, want %d to %d for %d chunks", size, least, most, count)
	}
	h.Chunks = make([]Chunk, 0, min(count, 1024))
	if signed {
		h.KeyID = make([]byte, keyIDSize)
		h.Signature = make([]byte, sigSize)
	}
	return h, int(size), nil
}

// parseRest decodes the chunk table, checksum and signature of the whole
// encoded header b, whose fixed part parseFixed has checked.
func (h *Header) parseRest(b []byte) error {
	le := binary.LittleEndian
	count := int(le.Uint32(b[20:]))
	off := FixedHeaderSize
	payload := int64(len(b))
	var target int64
	short := func(field string) error {
		return &FormatError{Field: field, Offset: int64(off), Msg: fmt.Sprintf("beyond the %d-byte header", len(b))}
	}
	for i := range count {
		field := "chunks[" + strconv.Itoa(i) + "]"
		if off+entrySize > len(b) {
			return short(field)
		}
		e := b[off:]
		c := Chunk{
			Index:         i,
			TargetOffset:  target,
			Size:          int(min(int64(h.ChunkSize), h.TargetSize-target)),
			PayloadOffset: payload,
			PayloadSize:   int(le.Uint32(e[0:])),
		}
		copy(c.SHA256[:], e[4:36])
		n := int(e[36])
		switch {
		case c.PayloadSize == 0 || c.PayloadSize > maxPayload(h.Compression, c.Size):
			return &FormatError{Field: field + ".payload_size", Offset: int64(off), Msg: fmt.Sprintf("%d bytes for a chunk of %d", c.PayloadSize, c.Size)}
		case h.Kind == Full && n != 0:
			return &FormatError{Field: field + ".extents", Offset: int64(off + 36), Msg: "a full package has no dictionary"}
		case n > MaxExtents:
			return &FormatError{Field: field + ".extents", Offset: int64(off + 36), Msg: fmt.Sprintf("%d source ranges, at most %d", n, MaxExtents)}
		}
		off += entrySize
		if off+extentSize*n > len(b) {
			return short(field + ".extents")
		}
		if n > 0 {
			c.Dict = make([]Extent, n)
		}
		for k := range c.Dict {
			x := Extent{Offset: int64(le.Uint32(b[off:])), Size: int(le.Uint32(b[off+4:]))}
			if x.Size == 0 || x.Offset+int64(x.Size) > h.SourceSize {
				return &FormatError{Field: fmt.Sprintf("%s.extents[%d]", field, k), Offset: int64(off), Msg: fmt.Sprintf("source range %d+%d empty or beyond the %d-byte source", x.Offset, x.Size, h.SourceSize)}
			}
			c.Dict[k] = x
			off += extentSize
		}
		h.Chunks = append(h.Chunks, c)
		target += int64(c.Size)
		payload += int64(c.PayloadSize)
	}
	tail := crcSize
	if h.Signed() {
		tail += keyIDSize + sigSize
	}
	if off+tail != len(b) {
		return &FormatError{Field: "header_size", Offset: 12, Msg: fmt.Sprintf("%d bytes, the chunk table ends at %d", len(b), off+tail)}
	}
	if h.Signed() {
		copy(h.KeyID, b[off:off+keyIDSize])
		off += keyIDSize
	}
	if got, want := crc32.ChecksumIEEE(b[:off]), le.Uint32(b[off:]); got != want {
		return &FormatError{Field: "crc", Offset: int64(off), Msg: fmt.Sprintf("header checksum %08x, computed %08x: the package is damaged, fetch it again", want, got)}
	}
	off += crcSize
	if h.Signed() {
		copy(h.Signature, b[off:off+sigSize])
	}
	h.raw = b
	return nil
}

// maxPayload bounds the encoded size of a chunk of n bytes.
func maxPayload(c Compression, n int) int {
	if c == None {
		return n
	}
	return n + n/16 + 1024
}
