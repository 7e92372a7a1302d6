package flashsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// AN3155 framing bytes.
const (
	blACK  = 0x79
	blNACK = 0x1F
	blSync = 0x7F
)

// AN3155 command codes the Bootloader answers.
const (
	cmdGet     = 0x00
	cmdVersion = 0x01
	cmdGetID   = 0x02
	cmdRead    = 0x11
	cmdGo      = 0x21
	cmdWrite   = 0x31
	cmdErase   = 0x43
	cmdExtErs  = 0x44
)

// rom is what the ROM bootloader of a product family says about itself.
type rom struct {
	version byte // Get: 0x22 is v2.2
	erase   byte // cmdErase on older ROMs, cmdExtErs on v3.x
}

// romFor returns the bootloader of the family with product ID pid: the
// F1 ROMs (AN2606) are v2.2 with Erase (0x43); later ones, such as the
// F4's v3.1, use Extended Erase (0x44). The two are never offered
// together (AN3155).
func romFor(pid uint16) rom {
	switch pid {
	case 0x410, 0x412, 0x414, 0x418, 0x420, 0x428, 0x430:
		return rom{version: 0x22, erase: cmdErase}
	}
	return rom{version: 0x31, erase: cmdExtErs}
}

// BootloaderOption configures a Bootloader.
type BootloaderOption func(*Bootloader)

// WithAfterChange sets a function called after every erase and write
// that changed the flash, before the ACK: a Store's Sync, so that what
// the host was told is done survives a crash.
func WithAfterChange(fn func() error) BootloaderOption {
	return func(b *Bootloader) { b.afterChange = fn }
}

// Bootloader is the device side of the STM32 system-memory USART
// bootloader (AN3155) over a Flash of an STM32 part: it answers Get,
// Get Version, Get ID, Read Memory, Write Memory, Go and the Erase or
// Extended Erase of the part's ROM, with the part's flash at Part.Base
// and its SRAM at Part.RAMBase. Page numbers in erase commands are
// sector indexes. Writes obey the flash rules (a write the part refuses
// is NACKed, as the ROM does on a programming error). Readout and write
// protection are not modelled: their commands are not offered.
//
// The link's parity is the caller's business (8E1 on a real port; a pty
// cannot carry it). A Bootloader is not safe for concurrent use.
type Bootloader struct {
	f           *Flash
	part        Part
	rom         rom
	ram         []byte
	synced      bool
	started     uint32
	afterChange func() error
}

// ErrNoBootloader is returned by NewBootloader for a part without an
// STM32 ROM bootloader.
var ErrNoBootloader = errors.New("flashsim: the part has no STM32 ROM bootloader")

// NewBootloader returns a bootloader over f, waiting for the host's 0x7F.
func NewBootloader(f *Flash, opts ...BootloaderOption) (*Bootloader, error) {
	p := f.Part()
	if p.PID == 0 {
		return nil, fmt.Errorf("%w: %s has no product ID; use an STM32 part such as stm32f103c8 or stm32f407vg", ErrNoBootloader, p.Name)
	}
	b := &Bootloader{f: f, part: p, rom: romFor(p.PID)}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// Reset puts the bootloader back to waiting for the 0x7F that starts a
// session, as a reset with BOOT0 high does. RAM is kept.
func (b *Bootloader) Reset() {
	b.synced = false
	b.started = 0
}

// Started returns the address the host's last Go jumped to, or 0.
func (b *Bootloader) Started() uint32 { return b.started }

// Serve answers the host on rw, one command at a time, until a read
// fails (io.EOF when the host has gone), ctx is done (checked between
// commands; close rw to stop a pending read), or the host sends Go: then
// Serve returns nil and Started tells where the host jumped; the ROM
// would stop talking. Bytes before the first 0x7F are ignored, as the
// ROM's autobaud does; after it, a 0x7F is an ordinary byte.
func (b *Bootloader) Serve(ctx context.Context, rw io.ReadWriter) error {
	s := &blSession{b: b, r: bufio.NewReader(rw), w: rw}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		if !b.synced {
			if c == blSync {
				b.synced = true
				if err := s.reply(blACK); err != nil {
					return err
				}
			}
			continue
		}
		x, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		if x != c^0xFF {
			if err := s.reply(blNACK); err != nil {
				return err
			}
			continue
		}
		done, err := s.command(c)
		if err != nil || done {
			return err
		}
	}
}

// blSession is one Serve call: its reader and writer.
type blSession struct {
	b *Bootloader
	r *bufio.Reader
	w io.Writer
}

func (s *blSession) reply(p ...byte) error {
	_, err := s.w.Write(p)
	return err
}

// read reads n bytes.
func (s *blSession) read(n int) ([]byte, error) {
	p := make([]byte, n)
	_, err := io.ReadFull(s.r, p)
	return p, err
}

// nack answers NACK; the command is over.
func (s *blSession) nack() (bool, error) { return false, s.reply(blNACK) }

// command runs one command whose code and complement were good; done
// reports a Go.
func (s *blSession) command(c byte) (done bool, err error) {
	b := s.b
	switch c {
	case cmdGet:
		cmds := []byte{cmdGet, cmdVersion, cmdGetID, cmdRead, cmdGo, cmdWrite, b.rom.erase}
		return false, s.reply(slices.Concat([]byte{blACK, byte(len(cmds)), b.rom.version}, cmds, []byte{blACK})...)
	case cmdVersion:
		return false, s.reply(blACK, b.rom.version, 0, 0, blACK)
	case cmdGetID:
		return false, s.reply(blACK, 1, byte(b.part.PID>>8), byte(b.part.PID), blACK)
	case cmdRead:
		return s.readMemory()
	case cmdGo:
		return s.goCmd()
	case cmdWrite:
		return s.writeMemory()
	case b.rom.erase:
		if c == cmdErase {
			return s.erase()
		}
		return s.extendedErase()
	}
	return s.nack()
}

// address acknowledges the command and reads a 4-byte address with its
// XOR checksum.
func (s *blSession) address() (uint32, bool, error) {
	if err := s.reply(blACK); err != nil {
		return 0, false, err
	}
	p, err := s.read(5)
	if err != nil {
		return 0, false, err
	}
	if p[0]^p[1]^p[2]^p[3] != p[4] {
		return 0, false, nil
	}
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]), true, nil
}

// region says where [addr, addr+n) lies: in flash (offset), in RAM
// (offset), or nowhere.
func (b *Bootloader) region(addr uint32, n int) (flash bool, off int64, ok bool) {
	a, end := int64(addr), int64(addr)+int64(n)
	if base := int64(b.part.Base); a >= base && end <= base+b.f.Size() {
		return true, a - base, true
	}
	if base := int64(b.part.RAMBase); b.part.RAMSize > 0 && a >= base && end <= base+int64(b.part.RAMSize) {
		return false, a - base, true
	}
	return false, 0, false
}

func (b *Bootloader) ramBuf() []byte {
	if b.ram == nil {
		b.ram = make([]byte, b.part.RAMSize)
	}
	return b.ram
}

// readMemory: address, ACK, N-1 and its complement, ACK, N bytes.
func (s *blSession) readMemory() (bool, error) {
	addr, ok, err := s.address()
	if err != nil || !ok {
		return s.nackOr(err)
	}
	if _, _, ok := s.b.region(addr, 1); !ok {
		return s.nack()
	}
	if err := s.reply(blACK); err != nil {
		return false, err
	}
	p, err := s.read(2)
	if err != nil {
		return false, err
	}
	if p[1] != p[0]^0xFF {
		return s.nack()
	}
	n := int(p[0]) + 1
	inFlash, off, ok := s.b.region(addr, n)
	if !ok {
		return s.nack()
	}
	data := make([]byte, n)
	if inFlash {
		if _, err := s.b.f.ReadAt(data, off); err != nil {
			return s.nack()
		}
	} else {
		copy(data, s.b.ramBuf()[off:])
	}
	return false, s.reply(append([]byte{blACK}, data...)...)
}

func (s *blSession) nackOr(err error) (bool, error) {
	if err != nil {
		return false, err
	}
	return s.nack()
}

// goCmd: address, ACK; the ROM jumps.
func (s *blSession) goCmd() (bool, error) {
	addr, ok, err := s.address()
	if err != nil || !ok {
		return s.nackOr(err)
	}
	if _, _, ok := s.b.region(addr, 4); !ok {
		return s.nack()
	}
	s.b.started = addr
	s.b.synced = false
	return true, s.reply(blACK)
}

// writeMemory: address, ACK, N-1, N bytes, checksum; ACK once written.
func (s *blSession) writeMemory() (bool, error) {
	addr, ok, err := s.address()
	if err != nil || !ok {
		return s.nackOr(err)
	}
	if _, _, ok := s.b.region(addr, 1); !ok {
		return s.nack()
	}
	if err := s.reply(blACK); err != nil {
		return false, err
	}
	nb, err := s.r.ReadByte()
	if err != nil {
		return false, err
	}
	n := int(nb) + 1
	p, err := s.read(n + 1)
	if err != nil {
		return false, err
	}
	sum := nb
	for _, c := range p[:n] {
		sum ^= c
	}
	inFlash, off, ok := s.b.region(addr, n)
	if sum != p[n] || !ok {
		return s.nack()
	}
	if !inFlash {
		copy(s.b.ramBuf()[off:], p[:n])
		return false, s.reply(blACK)
	}
	if _, err := s.b.f.WriteAt(p[:n], off); err != nil {
		return s.nack()
	}
	return s.changed()
}

// changed runs the after-change hook and acknowledges.
func (s *blSession) changed() (bool, error) {
	if s.b.afterChange != nil {
		if err := s.b.afterChange(); err != nil {
			s.reply(blNACK)
			return false, err
		}
	}
	return false, s.reply(blACK)
}

// erase (0x43): N-1 and N one-byte page numbers and a checksum, or
// 0xFF 0x00 for a global erase.
func (s *blSession) erase() (bool, error) {
	if err := s.reply(blACK); err != nil {
		return false, err
	}
	nb, err := s.r.ReadByte()
	if err != nil {
		return false, err
	}
	if nb == 0xFF {
		sum, err := s.r.ReadByte()
		if err != nil {
			return false, err
		}
		if sum != 0x00 {
			return s.nack()
		}
		return s.eraseSectors(nil)
	}
	p, err := s.read(int(nb) + 2)
	if err != nil {
		return false, err
	}
	sum := nb
	pages := make([]int, 0, len(p)-1)
	for _, c := range p[:len(p)-1] {
		sum ^= c
		pages = append(pages, int(c))
	}
	if sum != p[len(p)-1] {
		return s.nack()
	}
	return s.eraseSectors(pages)
}

// extendedErase (0x44): a 2-byte count N-1 and N 2-byte page numbers,
// MSB first, and a checksum over them; or a special code: 0xFFFF global
// erase (0xFFFE and 0xFFFD, bank erases, are NACKed: the parts have one
// bank).
func (s *blSession) extendedErase() (bool, error) {
	if err := s.reply(blACK); err != nil {
		return false, err
	}
	hdr, err := s.read(2)
	if err != nil {
		return false, err
	}
	code := int(hdr[0])<<8 | int(hdr[1])
	if code >= 0xFFF0 {
		sum, err := s.r.ReadByte()
		if err != nil {
			return false, err
		}
		if code != 0xFFFF || sum != hdr[0]^hdr[1] {
			return s.nack()
		}
		return s.eraseSectors(nil)
	}
	n := code + 1
	p, err := s.read(2*n + 1)
	if err != nil {
		return false, err
	}
	sum := hdr[0] ^ hdr[1]
	pages := make([]int, n)
	for i := range n {
		sum ^= p[2*i] ^ p[2*i+1]
		pages[i] = int(p[2*i])<<8 | int(p[2*i+1])
	}
	if sum != p[2*n] {
		return s.nack()
	}
	return s.eraseSectors(pages)
}

// eraseSectors erases the listed sectors, or all of them for nil.
func (s *blSession) eraseSectors(pages []int) (bool, error) {
	f := s.b.f
	if pages == nil {
		for i := range f.NumSectors() {
			pages = append(pages, i)
		}
	}
	for _, i := range pages {
		if i < 0 || i >= f.NumSectors() {
			return s.nack()
		}
	}
	for _, i := range pages {
		if err := f.EraseSector(i); err != nil {
			return s.nack()
		}
	}
	return s.changed()
}
