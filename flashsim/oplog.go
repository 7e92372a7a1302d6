package flashsim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The operation log of a Store, kept next to the flash file as FILE.log,
// holds what every write and erase since the last Save left in the flash,
// so that the flash file plus its log is the flash as it was at the last
// Sync. Little-endian:
//
//	header   magic [8]byte "ATOTAFLG", version uint16 1, flash size uint64
//	record   kind byte, payload, CRC-32 (IEEE) of kind and payload uint32
//	  'D'    offset uint64, n uint32, [n]byte: the bytes now at offset
//	  'E'    sector uint32, erase count uint32, erased uint8 (1: all 0xFF)
//
// Records hold results, not requests, so replaying a record twice, or a
// log already folded into the file, changes nothing. Replay stops at the
// first record that is short or fails its CRC: the remains of a write the
// host did not finish, which no Sync reported done.
const (
	logMagic   = "ATOTAFLG"
	logVersion = 1
	logHeader  = 8 + 2 + 8
	recData    = 'D'
	recErase   = 'E'
)

// recordData logs that [off, off+len(b)) now holds b.
func (f *Flash) recordData(off int64, b []byte) {
	if !f.recording {
		return
	}
	start := len(f.oplog)
	f.oplog = append(f.oplog, recData)
	f.oplog = binary.LittleEndian.AppendUint64(f.oplog, uint64(off))
	f.oplog = binary.LittleEndian.AppendUint32(f.oplog, uint32(len(b)))
	f.oplog = append(f.oplog, b...)
	f.oplog = binary.LittleEndian.AppendUint32(f.oplog, crc32.ChecksumIEEE(f.oplog[start:]))
}

// recordErase logs sector i's erase count and, when erased, that it reads
// all 0xFF.
func (f *Flash) recordErase(i int, erased bool) {
	if !f.recording {
		return
	}
	start := len(f.oplog)
	f.oplog = append(f.oplog, recErase)
	f.oplog = binary.LittleEndian.AppendUint32(f.oplog, uint32(i))
	f.oplog = binary.LittleEndian.AppendUint32(f.oplog, uint32(min(f.erases[i], 1<<32-1)))
	var e byte
	if erased {
		e = 1
	}
	f.oplog = append(f.oplog, e)
	f.oplog = binary.LittleEndian.AppendUint32(f.oplog, crc32.ChecksumIEEE(f.oplog[start:]))
}

// logFileHeader returns the header of f's operation log.
func (f *Flash) logFileHeader() []byte {
	h := append([]byte(logMagic), 0, 0)
	binary.LittleEndian.PutUint16(h[8:], logVersion)
	return binary.LittleEndian.AppendUint64(h, uint64(f.Size()))
}

// errLogHeader reports a log that does not belong to the flash.
var errLogHeader = errors.New("not an operation log of this flash")

// replay applies the log in r to f and returns how many bytes of it were
// whole records (header included); what follows them is ignored.
func (f *Flash) replay(r io.Reader) (int64, error) {
	br := &countReader{r: r}
	h := make([]byte, logHeader)
	if _, err := io.ReadFull(br, h); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil // torn while being created: nothing in it
		}
		return 0, err
	}
	if !bytes.Equal(h, f.logFileHeader()) {
		return 0, errLogHeader
	}
	good := br.n
	for {
		kind := make([]byte, 1)
		if _, err := io.ReadFull(br, kind); err != nil {
			return good, ignoreShort(err)
		}
		var body []byte
		switch kind[0] {
		case recData:
			hdr := make([]byte, 12)
			if _, err := io.ReadFull(br, hdr); err != nil {
				return good, ignoreShort(err)
			}
			off, n := int64(binary.LittleEndian.Uint64(hdr)), int64(binary.LittleEndian.Uint32(hdr[8:]))
			if off < 0 || off > f.Size() || n > f.Size()-off {
				return good, nil
			}
			data := make([]byte, n+4)
			if _, err := io.ReadFull(br, data); err != nil {
				return good, ignoreShort(err)
			}
			body = append(append(kind, hdr...), data[:n]...)
			if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[n:]) {
				return good, nil
			}
			copy(f.data[off:], data[:n])
		case recErase:
			rec := make([]byte, 9+4)
			if _, err := io.ReadFull(br, rec); err != nil {
				return good, ignoreShort(err)
			}
			body = append(kind, rec[:9]...)
			i := int(binary.LittleEndian.Uint32(rec))
			if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(rec[9:]) || i >= len(f.erases) {
				return good, nil
			}
			f.erases[i] = int(binary.LittleEndian.Uint32(rec[4:]))
			if rec[8] == 1 {
				fill(f.data[f.starts[i]:f.starts[i+1]], 0xFF)
			}
		default:
			return good, nil
		}
		good = br.n
	}
}

func ignoreShort(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// logPath returns the operation log's path for the flash file at path.
func logPath(path string) string { return path + ".log" }

// replayFile applies the log of the flash file at path, if there is one.
func (f *Flash) replayFile(r io.Reader, path string) (int64, error) {
	n, err := f.replay(r)
	if err != nil {
		return 0, fmt.Errorf("flashsim: operation log %s: %w; move it aside to use %s as last saved", logPath(path), err, path)
	}
	return n, nil
}
