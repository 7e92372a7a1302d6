package flashsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The flash file format, little-endian:
//
//	magic       [8]byte  "ATOTAFLS"
//	version     uint16   1
//	headerLen   uint32   bytes from the magic to the end of the header CRC
//	nameLen     uint8
//	name        [nameLen]byte   part name, e.g. "stm32f103c8"
//	dataLen     uint64   flash size in bytes
//	sectors     uint32   number of sectors
//	eraseCounts [sectors]uint32
//	headerCRC   uint32   CRC-32 (IEEE) of every header byte before it
//	data        [dataLen]byte   raw flash contents
const (
	fileMagic   = "ATOTAFLS"
	fileVersion = 1
	fixedHeader = 8 + 2 + 4 // magic, version, headerLen
	maxHeader   = 1 << 20
)

// FormatError reports a flash file that Load cannot use.
type FormatError struct {
	Path    string // the file
	Problem string // what is wrong with it
}

// Error names the file, the problem and what to do about it.
func (e *FormatError) Error() string {
	return fmt.Sprintf("flashsim: flash file %s: %s; move it aside to start from an erased flash", e.Path, e.Problem)
}

// Save writes the flash to path atomically: into a temporary file in the
// same directory, fsynced, renamed over path, then the directory fsynced.
// An operation log beside the file (path+".log", see Store) is obsolete
// then and removed. The power state and operation count are not saved.
func (f *Flash) Save(path string) error {
	if err := f.save(path); err != nil {
		return fmt.Errorf("flashsim: save %s: %w", path, err)
	}
	if err := os.Remove(logPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("flashsim: save %s: %w", path, err)
	}
	return nil
}

func (f *Flash) save(path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	err = f.writeFile(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return syncDir(dir)
}

// writeFile writes the flash into tmp and flushes it to disk.
func (f *Flash) writeFile(tmp *os.File) error {
	if _, err := f.WriteTo(tmp); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	return tmp.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteTo writes the flash in the file format Load reads.
func (f *Flash) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(f.header())
	if err != nil {
		return int64(n), err
	}
	m, err := w.Write(f.data)
	return int64(n + m), err
}

func (f *Flash) header() []byte {
	name := f.part.Name
	hlen := fixedHeader + 1 + len(name) + 8 + 4 + 4*len(f.erases) + 4
	h := make([]byte, 0, hlen)
	h = append(h, fileMagic...)
	h = binary.LittleEndian.AppendUint16(h, fileVersion)
	h = binary.LittleEndian.AppendUint32(h, uint32(hlen))
	h = append(h, byte(len(name)))
	h = append(h, name...)
	h = binary.LittleEndian.AppendUint64(h, uint64(len(f.data)))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(f.erases)))
	for _, c := range f.erases {
		h = binary.LittleEndian.AppendUint32(h, uint32(min(c, 1<<32-1)))
	}
	return binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(h))
}

// Load reads a flash saved by Save, with the operations a Store logged
// since (the file path+".log", when there is one). A file that is
// truncated, has a wrong magic or version, a corrupted header, an unknown
// part or a size that does not match its part gives a *FormatError
// naming the file.
func Load(path string) (*Flash, error) {
	f, _, err := load(path)
	return f, err
}

// load reads the flash file at path and replays its log; it returns the
// length of the log's whole records (0 without a log).
func load(path string) (*Flash, int64, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("flashsim: load flash: %w", err)
	}
	defer file.Close()
	f, err := decode(file, path)
	if err != nil {
		return nil, 0, err
	}
	lf, err := os.Open(logPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return f, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("flashsim: load flash: %w", err)
	}
	defer lf.Close()
	n, err := f.replayFile(bufio.NewReaderSize(lf, 64<<10), path)
	if err != nil {
		return nil, 0, err
	}
	return f, n, nil
}

// decode reads the file format from r; name is used in errors.
func decode(r io.Reader, name string) (*Flash, error) {
	bad := func(format string, args ...any) error {
		return &FormatError{Path: name, Problem: fmt.Sprintf(format, args...)}
	}
	fixed := make([]byte, fixedHeader)
	if n, err := io.ReadFull(r, fixed); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, bad("truncated: %d bytes, shorter than the %d-byte header start", n, fixedHeader)
		}
		return nil, fmt.Errorf("flashsim: load %s: %w", name, err)
	}
	if string(fixed[:8]) != fileMagic {
		return nil, bad("not a flashsim flash file (magic %q, want %q)", fixed[:8], fileMagic)
	}
	if v := binary.LittleEndian.Uint16(fixed[8:]); v != fileVersion {
		return nil, bad("format version %d, this program reads version %d", v, fileVersion)
	}
	hlen := binary.LittleEndian.Uint32(fixed[10:])
	if hlen < fixedHeader+1+8+4+4 || hlen > maxHeader {
		return nil, bad("corrupted header: header length %d is impossible", hlen)
	}
	h := make([]byte, hlen)
	copy(h, fixed)
	if n, err := io.ReadFull(r, h[fixedHeader:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, bad("truncated header: %d of %d bytes", fixedHeader+n, hlen)
		}
		return nil, fmt.Errorf("flashsim: load %s: %w", name, err)
	}
	body, sum := h[:hlen-4], binary.LittleEndian.Uint32(h[hlen-4:])
	if got := crc32.ChecksumIEEE(body); got != sum {
		return nil, bad("corrupted header: checksum %#08x, computed %#08x", sum, got)
	}
	f, err := parseHeader(body[fixedHeader:])
	if err != nil {
		return nil, bad("%v", err)
	}
	if n, err := io.ReadFull(r, f.data); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, bad("truncated data: %d of %d bytes", n, len(f.data))
		}
		return nil, fmt.Errorf("flashsim: load %s: %w", name, err)
	}
	var extra [1]byte
	if n, _ := io.ReadFull(r, extra[:]); n != 0 {
		return nil, bad("trailing bytes after the %d data bytes", len(f.data))
	}
	return f, nil
}

// parseHeader parses the header fields after the fixed start and before
// the CRC, and returns an erased flash of the named part carrying the
// saved erase counts.
func parseHeader(b []byte) (*Flash, error) {
	rd := bytes.NewReader(b)
	nlen, err := rd.ReadByte()
	if err != nil {
		return nil, errors.New("header ends before the part name")
	}
	name := make([]byte, nlen)
	if _, err := io.ReadFull(rd, name); err != nil {
		return nil, errors.New("header ends inside the part name")
	}
	part, err := LookupPart(string(name))
	if err != nil {
		return nil, fmt.Errorf("header names part %q, which this program does not know", name)
	}
	var fixed struct {
		Size    uint64
		Sectors uint32
	}
	if err := binary.Read(rd, binary.LittleEndian, &fixed); err != nil {
		return nil, errors.New("header ends before the flash size")
	}
	if fixed.Size != uint64(part.Size()) || fixed.Sectors != uint32(len(part.Sectors)) {
		return nil, fmt.Errorf("header says %d bytes in %d sectors, part %s has %d bytes in %d sectors",
			fixed.Size, fixed.Sectors, part.Name, part.Size(), len(part.Sectors))
	}
	f := New(part)
	for i := range f.erases {
		var c uint32
		if err := binary.Read(rd, binary.LittleEndian, &c); err != nil {
			return nil, errors.New("header ends inside the erase counts")
		}
		f.erases[i] = int(c)
	}
	if rd.Len() != 0 {
		return nil, fmt.Errorf("header has %d unexpected bytes before its checksum", rd.Len())
	}
	return f, nil
}

// Open loads the flash file at path if it exists, else returns a new
// erased flash of the named part (not yet saved). An empty part means
// DefaultPart for a new flash and "any part" for an existing file; a
// non-empty part that differs from the file's part is an error.
func Open(path, part string) (*Flash, error) {
	f, err := Load(path)
	switch {
	case err == nil:
		if part != "" && !strings.EqualFold(part, f.part.Name) {
			return nil, fmt.Errorf("flashsim: flash file %s holds part %s, not %s; use ?part=%s or another file",
				path, f.part.Name, part, f.part.Name)
		}
		return f, nil
	case errors.Is(err, fs.ErrNotExist):
		if part == "" {
			part = DefaultPart
		}
		p, err := LookupPart(part)
		if err != nil {
			return nil, err
		}
		return New(p), nil
	default:
		return nil, err
	}
}
