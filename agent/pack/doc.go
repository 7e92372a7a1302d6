// Package pack builds, checks and applies update packages: a full image, or
// a delta that rebuilds the new image from the image the device already
// runs, each behind a small header that names what it builds, from what,
// and optionally an ed25519 signature.
//
// A plan component's file (spec/plan-format.md, `package: full|delta`) is a
// package file; the module serves it like any file, and the size, MD5,
// SHA-256 and CRC of the 7,10701 event are those of the package file
// (plan.DigestFile). A file that does not start with [Magic] is a raw image
// ([IsPackage]).
//
// # Format
//
// All integers are little-endian; sizes and offsets are uint32.
//
//	offset  size  field
//	0       8     magic "ATOTAPKG"
//	8       1     format version (1)
//	9       1     kind: 1 full, 2 delta
//	10      1     compression: 0 none (full only), 1 zstd
//	11      1     flags: bit 0 signed; other bits 0
//	12      4     header size in bytes (where the payload starts)
//	16      4     chunk size (1 KiB to 16 MiB)
//	20      4     chunk count = ceil(target size / chunk size)
//	24      4     target image size
//	28      32    target image SHA-256
//	60      4     source image size (delta; 0 for full)
//	64      32    source image SHA-256 (delta; zeros for full)
//	96            chunk table, one entry per chunk in target order:
//	              4 payload size, 32 SHA-256 of the chunk's target bytes,
//	              1 extent count n (0..8, 0 for full), n × (4 offset, 4 size)
//	              of source ranges forming the chunk's dictionary
//	...     8     key ID (signed only): first 8 bytes of SHA-256(public key)
//	...     4     CRC-32 (IEEE) of the header bytes before it
//	...     64    ed25519 signature of the header bytes before it (signed only)
//
// The payload follows: each chunk's encoded bytes, in order. With
// compression none a chunk is its target bytes; with zstd it is one zstd
// frame (klauspost/compress, no checksum, single segment so the frame's
// window is the chunk). A delta chunk's frame uses the concatenated source
// ranges of its entry as a raw zstd dictionary (no dictionary ID, as with
// zstd --patch-from; the reference zstd -d -D decodes it): zstd does the
// diffing, the builder only chooses which parts of the source image each
// chunk of the target repeats ([WriteDelta]).
//
// # Applying
//
// [ReadHeader] reads and checks the header from any io.Reader, such as
// AT+QIOTOTARD reads from offset 0; [Header.Verify] checks the signature
// when the device requires one; [Apply] rebuilds the image. Apply reads the
// old image through io.ReaderAt (the active slot, never written) and writes
// the new one in order through io.Writer (the inactive slot). It refuses a
// wrong source image before writing any byte ([SourceMismatchError], with
// both hashes), decodes each chunk into memory and writes it only when its
// SHA-256 matches the header, and checks the whole image's SHA-256 at the
// end. A verified header therefore authenticates every byte written.
//
// Memory: one source range (at most [DefaultDictSize] by default), one
// encoded and one decoded chunk, and the zstd decoder's state; see
// [ApplyMemory]. For a 1 MiB image with the defaults that is about 330 KiB,
// never both images nor the whole delta.
//
// # MCU integration
//
// agent/mcu applies packages this way; the sequence, for a component
// whose plan says `package: delta` (or whose file starts with [Magic]):
//
//  1. Gather the first [FixedHeaderSize] bytes, [HeaderSize] says how many
//     make the header, [ParseHeader] them (or [ReadHeader] from a reader
//     over AT+QIOTOTARD reads from offset 0).
//  2. With a trusted key: h.Verify(pub); an error refuses the update
//     (ErrUnsigned, ErrBadSignature), nothing written.
//  3. pack.CheckSource(ctx, h, activeSlot): a *SourceMismatchError refuses
//     the update, nothing written. (NewApplier checks it again.)
//  4. Journal "applying package <h.TargetSHA256>, 0 chunks done", erase the
//     inactive slot.
//  5. w := pack.NewApplier(ctx, h, activeSlot, inactiveSlotWriter,
//     pack.OnChunk(func(c pack.Chunk) error { flush; journal c.Index+1 })),
//     then w.Write each block of payload as it is read, and w.Close; or
//     [Apply] with a reader of the whole payload.
//  6. pack.VerifyTarget(ctx, h, inactiveSlot), then set the slot pending.
//
// # Restarting after a reset
//
// Apply is deterministic and never writes the source, so the simplest
// recovery is to start again from step 3 (erase the inactive slot, apply
// from chunk 0). To save the transfer, resume instead: with k chunks
// journaled done, erase the inactive slot from h.Chunks[k].TargetOffset
// on, position the payload reader at h.Chunks[k].PayloadOffset (an
// AT+QIOTOTARD offset) and the slot writer at h.Chunks[k].TargetOffset, and
// call Apply with [ResumeAt](k, inactiveSlot). Apply reads back chunks
// 0..k-1, checks them against their SHA-256 (a journal ahead of the flash
// gives [ErrResumeMismatch]: restart from chunk 0) and goes on; the end
// check still covers the whole image. Chunk boundaries are target offsets
// multiples of h.ChunkSize: with flash erased sector by sector, resume at
// the last journaled chunk that starts on a sector boundary (every chunk
// does when the chunk size is a multiple of the sector size, as the 64 KiB
// default is of 1, 2, 16 and 64 KiB sectors).
package pack
