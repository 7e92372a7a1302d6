package mcu

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

// stm32Target programs an STM32 through its ROM USART bootloader
// (AN3155) on a serial port, 8E1: the image is staged in a file of the
// work directory as it arrives (and resumed from there after a restart);
// when it is complete and journaled, and its MD5 (and SHA-256) match what
// the module announced, Complete erases the pages it covers and writes it
// in 256-byte chunks; ReadAt reads it back from the device for the
// verification;
// Commit sends Go. An STM32 has no second slot here: once the pages are
// erased the old program is gone, which is why the staged image is
// checked first.
type stm32Target struct {
	port   string
	baud   int
	even   bool
	addr   uint32
	start  bool           // Go after the commit
	part   *flashsim.Part // from ?part=, else from the device's PID
	dir    string
	log    *slog.Logger
	dialer func(ctx context.Context) (io.ReadWriteCloser, error)
	host   *blHost
}

// openSTM32Target parses PORT[?baud=N&addr=A&go=BOOL&part=NAME&parity=even|none].
func openSTM32Target(spec string, cfg targetConfig) (*stm32Target, error) {
	port, query := spec, ""
	if i := strings.LastIndexByte(spec, '?'); i >= 0 {
		port, query = spec[:i], spec[i+1:]
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mcu: target stm32:%s: %s; use stm32:PORT[?baud=57600&addr=0x08000000&go=true&part=NAME&parity=even]", spec, fmt.Sprintf(format, args...))
	}
	if port == "" {
		return nil, bad("no port")
	}
	if _, err := transport.ParsePort(port); err != nil {
		return nil, bad("%v", err)
	}
	t := &stm32Target{port: port, baud: 57600, even: true, start: true, dir: cfg.workDir, log: slog.New(slog.DiscardHandler)}
	vals, err := url.ParseQuery(query)
	if err != nil {
		return nil, bad("%v", err)
	}
	addrSet := false
	for k, vs := range vals {
		v := vs[len(vs)-1]
		switch k {
		case "baud":
			if t.baud, err = strconv.Atoi(v); err != nil || t.baud < 1200 {
				return nil, bad("baud %q", v)
			}
		case "addr":
			a, err := strconv.ParseUint(v, 0, 32)
			if err != nil || a%4 != 0 {
				return nil, bad("addr %q: want a word-aligned address such as 0x08000000", v)
			}
			t.addr, addrSet = uint32(a), true
		case "go":
			if t.start, err = strconv.ParseBool(v); err != nil {
				return nil, bad("go %q", v)
			}
		case "part":
			p, err := flashsim.LookupPart(v)
			if err != nil || p.PID == 0 {
				return nil, bad("part %q: want an STM32 part (%v)", v, err)
			}
			t.part = &p
		case "parity":
			if v != "even" && v != "none" {
				return nil, bad("parity %q: want even or none", v)
			}
			t.even = v == "even"
		default:
			return nil, bad("unknown parameter %q", k)
		}
	}
	if !addrSet {
		t.addr = 0x08000000
		if t.part != nil {
			t.addr = t.part.Base
		}
	}
	if t.dir == "" {
		t.dir = os.TempDir()
	}
	if t.dir, err = filepath.Abs(t.dir); err != nil {
		return nil, bad("%v", err)
	}
	t.dialer = func(ctx context.Context) (io.ReadWriteCloser, error) {
		return transport.Dial(ctx, t.port, transport.WithBaud(t.baud), transport.WithParity(t.even))
	}
	return t, nil
}

func (t *stm32Target) Spec() string   { return "stm32:" + t.port }
func (t *stm32Target) String() string { return "stm32:" + t.port }

func (t *stm32Target) Close() error {
	if t.host == nil {
		return nil
	}
	err := t.host.Close()
	t.host = nil
	return err
}

// connect opens the port and starts a bootloader session, once.
func (t *stm32Target) connect(ctx context.Context) (*blHost, error) {
	if t.host != nil {
		return t.host, nil
	}
	rw, err := t.dialer(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcu: target %s: %w", t, err)
	}
	h := newBLHost(rw, t.log)
	if err := h.sync(ctx); err != nil {
		h.Close()
		return nil, fmt.Errorf("mcu: target %s: %w", t, err)
	}
	if err := h.identify(ctx); err != nil {
		h.Close()
		return nil, fmt.Errorf("mcu: target %s: %w", t, err)
	}
	t.log.Info("stm32 bootloader", "port", t.port, "version", fmt.Sprintf("%d.%d", h.version>>4, h.version&0xF), "pid", fmt.Sprintf("%#03x", h.pid))
	t.host = h
	return h, nil
}

// drop ends a session that failed.
func (t *stm32Target) drop() {
	if t.host != nil {
		t.host.Close()
		t.host = nil
	}
}

// geometry returns the flash part: the one named, or the largest of the
// device's product ID.
func (t *stm32Target) geometry(ctx context.Context) (flashsim.Part, error) {
	if t.part != nil {
		return *t.part, nil
	}
	h, err := t.connect(ctx)
	if err != nil {
		return flashsim.Part{}, err
	}
	ps := flashsim.PartsWithPID(h.pid)
	if len(ps) == 0 {
		return flashsim.Part{}, fmt.Errorf("mcu: target %s: product ID %#03x is not in the part table; name the part with ?part=NAME", t, h.pid)
	}
	return ps[0], nil
}

// Capacity is the flash from addr to the end of the part.
func (t *stm32Target) Capacity(ctx context.Context) (int64, error) {
	p, err := t.geometry(ctx)
	if err != nil {
		return 0, err
	}
	end := int64(p.Base) + p.Size()
	if int64(t.addr) < int64(p.Base) || int64(t.addr) >= end {
		return 0, fmt.Errorf("mcu: target %s: address %#08x is outside the %s flash [%#08x, %#08x)", t, t.addr, p.Name, p.Base, end)
	}
	return end - int64(t.addr), nil
}

func (t *stm32Target) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	sum := sha256.Sum256([]byte(t.port))
	path := filepath.Join(t.dir, "atota-stm32-"+hex.EncodeToString(sum[:6])+".img")
	partial := filepath.Join(t.dir, "."+filepath.Base(path)+".atota-partial")
	im, err := openFileImage(path, partial, spec, t)
	if err != nil {
		return nil, err
	}
	return &stm32Image{fileImage: im, t: t, spec: spec}, nil
}

// stm32Image stages the image in a file and programs the device once it
// is complete.
type stm32Image struct {
	*fileImage
	t          *stm32Target
	spec       ImageSpec
	programmed bool
}

// Complete checks the staged image, once whole, and programs the device
// with it. Sync only makes the staged bytes durable: the device's old
// program is erased here, after the MCU has journaled the whole image,
// so that a reset during programming finds the staged image again.
func (im *stm32Image) Complete(ctx context.Context) error {
	if im.programmed {
		return nil
	}
	if im.written < im.spec.Size {
		return fmt.Errorf("mcu: target %s: %d of %d bytes staged; write the rest before completing", im.t, im.written, im.spec.Size)
	}
	if err := im.checkStaged(); err != nil {
		return err
	}
	if err := im.program(ctx); err != nil {
		im.t.drop()
		return err
	}
	im.programmed = true
	return nil
}

// checkStaged compares the staged image with the module's digests before
// the device's old program is erased.
func (im *stm32Image) checkStaged() error {
	m, s := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(m, s), io.NewSectionReader(im.fileImage, 0, im.spec.Size)); err != nil {
		return fmt.Errorf("mcu: target %s: reading the staged image: %w", im.t, err)
	}
	d := im.spec.Digests
	if got := hex.EncodeToString(m.Sum(nil)); d.MD5 != "" && got != d.MD5 {
		return fmt.Errorf("mcu: target %s: %w: the staged image has MD5 %s, want %s; the device was not touched", im.t, ErrVerify, got, d.MD5)
	}
	if got := hex.EncodeToString(s.Sum(nil)); d.SHA256 != "" && got != d.SHA256 {
		return fmt.Errorf("mcu: target %s: %w: the staged image has SHA-256 %s, want %s; the device was not touched", im.t, ErrVerify, got, d.SHA256)
	}
	return nil
}

// program erases the pages the image covers and writes it, 256 bytes at
// a time, padded with 0xFF to whole words.
func (im *stm32Image) program(ctx context.Context) error {
	t := im.t
	size := im.spec.Size
	p, err := t.geometry(ctx)
	if err != nil {
		return err
	}
	if c, err := t.Capacity(ctx); err != nil || c < size {
		return fmt.Errorf("mcu: target %s: %w: image of %d bytes at %#08x, %d bytes of %s flash there (%v)", t, flashsim.ErrTooLarge, size, t.addr, c, p.Name, err)
	}
	h, err := t.connect(ctx)
	if err != nil {
		return err
	}
	var pages []int
	first, end := int64(t.addr-p.Base), int64(t.addr-p.Base)+size
	var off int64
	for i, s := range p.Sectors {
		if off < end && off+s > first {
			pages = append(pages, i)
		}
		off += s
	}
	t.log.Info("stm32: erasing", "pages", len(pages), "first", pages[0])
	if err := h.erasePages(ctx, pages); err != nil {
		return fmt.Errorf("mcu: target %s: %w", t, err)
	}
	buf := make([]byte, blChunk)
	for off := int64(0); off < size; off += blChunk {
		n := min(int64(blChunk), size-off)
		if _, err := im.fileImage.ReadAt(buf[:n], off); err != nil && !(err == io.EOF && n > 0) {
			return fmt.Errorf("mcu: target %s: staged image: %w", t, err)
		}
		chunk := buf[:n]
		for len(chunk)%4 != 0 {
			chunk = append(chunk, 0xFF)
		}
		if err := h.writeMemory(ctx, t.addr+uint32(off), chunk); err != nil {
			return fmt.Errorf("mcu: target %s: %w", t, err)
		}
	}
	t.log.Info("stm32: written", "bytes", size, "addr", fmt.Sprintf("%#08x", t.addr))
	return nil
}

// ReadAt reads the staged image until the device is programmed, and the
// device after that (the read-back of the verification).
func (im *stm32Image) ReadAt(p []byte, off int64) (int, error) {
	if !im.programmed {
		return im.fileImage.ReadAt(p, off)
	}
	if off >= im.spec.Size {
		return 0, io.EOF
	}
	var err error
	if int64(len(p)) > im.spec.Size-off {
		p, err = p[:im.spec.Size-off], io.EOF
	}
	h, cerr := im.t.connect(context.Background())
	if cerr != nil {
		return 0, cerr
	}
	for done := 0; done < len(p); done += blChunk {
		chunk := p[done:min(done+blChunk, len(p))]
		if rerr := h.readMemory(context.Background(), im.t.addr+uint32(off)+uint32(done), chunk); rerr != nil {
			im.t.drop()
			return done, fmt.Errorf("mcu: target %s: reading back: %w", im.t, rerr)
		}
	}
	return len(p), err
}

// Commit starts the program with Go, unless go=false.
func (im *stm32Image) Commit(ctx context.Context) (string, error) {
	where := fmt.Sprintf("%s, %d bytes at %#08x", im.t.port, im.spec.Size, im.t.addr)
	if !im.programmed {
		return "", fmt.Errorf("mcu: target %s: the image is not on the device", im.t)
	}
	if !im.t.start {
		return where + " (not started: go=false)", nil
	}
	h, err := im.t.connect(ctx)
	if err != nil {
		return "", err
	}
	if err := h.goTo(ctx, im.t.addr); err != nil {
		im.t.drop()
		return "", fmt.Errorf("mcu: target %s: go: %w", im.t, err)
	}
	im.t.drop() // the ROM stops talking after Go
	return where + ", started", nil
}

// Confirm removes the staged image.
func (im *stm32Image) Confirm() error {
	im.fileImage.Close()
	if err := os.Remove(im.partial); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("mcu: target %s: %w", im.t, err)
	}
	return nil
}

func (im *stm32Image) Abort() error {
	im.t.drop()
	return im.fileImage.Abort()
}

func (im *stm32Image) Close() error {
	im.t.drop()
	return im.fileImage.Close()
}

// RunningImage returns the program the device holds from addr to the end
// of its flash, read through the bootloader: the image a delta applies
// to. The bootloader reads 256 bytes a command, so what is read is kept
// in a file of the work directory and read from there again (a delta
// reads its source once whole, to check it, and then in ranges); the new
// image is staged in another file and only programmed once it is
// complete, so the device keeps the old program while the delta is
// applied.
func (t *stm32Target) RunningImage(ctx context.Context) (sourceImage, int64, error) {
	size, err := t.Capacity(ctx)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.CreateTemp(t.dir, ".atota-stm32-running-*")
	if err != nil {
		return nil, 0, fmt.Errorf("mcu: target %s: %w", t, err)
	}
	os.Remove(f.Name()) // a cache: gone when closed
	return &deviceImage{t: t, ctx: ctx, cache: f, size: size}, size, nil
}

// deviceImage reads the device's flash from addr through the bootloader,
// in order, keeping what it read in cache.
type deviceImage struct {
	t     *stm32Target
	ctx   context.Context
	cache *os.File
	size  int64
	have  int64 // bytes [0, have) are in cache
}

func (d *deviceImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > d.size-off {
		p, eof = p[:d.size-off], io.EOF
	}
	if err := d.fill(off + int64(len(p))); err != nil {
		return 0, err
	}
	n, err := d.cache.ReadAt(p, off)
	if err == nil {
		err = eof
	}
	return n, err
}

// fill reads the device up to end into the cache.
func (d *deviceImage) fill(end int64) error {
	if end <= d.have {
		return nil
	}
	h, err := d.t.connect(d.ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, blChunk)
	for d.have < end {
		b := buf[:min(int64(blChunk), d.size-d.have)]
		if err := h.readMemory(d.ctx, d.t.addr+uint32(d.have), b); err != nil {
			d.t.drop()
			return fmt.Errorf("mcu: target %s: reading the running program at %#08x: %w", d.t, d.t.addr+uint32(d.have), err)
		}
		if _, err := d.cache.WriteAt(b, d.have); err != nil {
			return fmt.Errorf("mcu: target %s: %w", d.t, err)
		}
		d.have += int64(len(b))
	}
	return nil
}

// Close removes the cache.
func (d *deviceImage) Close() error { return d.cache.Close() }
