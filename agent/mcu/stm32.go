package mcu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// AN3155 bytes and commands, host side.
const (
	blACK  = 0x79
	blNACK = 0x1F
	blBUSY = 0x76 // newer ROMs: still working, keep waiting
	blSync = 0x7F

	blGet     = 0x00
	blGetID   = 0x02
	blRead    = 0x11
	blGo      = 0x21
	blWrite   = 0x31
	blErase   = 0x43
	blExtEras = 0x44
)

// Timeouts of the host, after stm32flash 0.7 (spec flash-and-targets §2.4).
const (
	blByteTimeout  = time.Second      // any answer
	blWriteTimeout = 2 * time.Second  // Write Memory's final ACK
	blPageTimeout  = 5 * time.Second  // per page erased
	blMassTimeout  = 35 * time.Second // a global erase
	blChunk        = 256              // Read and Write Memory carry at most 256 bytes
)

// errNACK is a NACK from the bootloader.
var errNACK = errors.New("mcu: stm32: the bootloader answered NACK")

// blHost is the host side of the STM32 ROM USART bootloader (AN3155) on
// a link. A goroutine it owns reads the link, so that every wait for the
// device has a timeout; Close stops it.
type blHost struct {
	rw   io.ReadWriteCloser
	log  *slog.Logger
	data chan []byte
	done chan struct{}
	buf  []byte

	mu  sync.Mutex
	err error // why the reader stopped

	version byte   // from Get
	cmds    []byte // commands the ROM offers
	pid     uint16 // from Get ID
}

func newBLHost(rw io.ReadWriteCloser, log *slog.Logger) *blHost {
	h := &blHost{rw: rw, log: log, data: make(chan []byte, 64), done: make(chan struct{})}
	go h.readLoop()
	return h
}

func (h *blHost) readLoop() {
	defer close(h.done)
	defer close(h.data)
	for {
		p := make([]byte, 512)
		n, err := h.rw.Read(p)
		if n > 0 {
			h.data <- p[:n]
		}
		if err != nil {
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
			return
		}
	}
}

// Close closes the link and waits for the reader.
func (h *blHost) Close() error {
	err := h.rw.Close()
	for range h.data { // let the reader finish its last send
	}
	<-h.done
	return err
}

// read returns the next n bytes from the device, waiting at most d for
// each chunk of them.
func (h *blHost) read(ctx context.Context, n int, d time.Duration) ([]byte, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for len(h.buf) < n {
		select {
		case p, ok := <-h.data:
			if !ok {
				h.mu.Lock()
				err := h.err
				h.mu.Unlock()
				return nil, fmt.Errorf("mcu: stm32: the link closed: %w", err)
			}
			h.buf = append(h.buf, p...)
			t.Reset(d)
		case <-t.C:
			return nil, fmt.Errorf("mcu: stm32: no answer from the bootloader within %v (%d of %d bytes): %w", d, len(h.buf), n, context.DeadlineExceeded)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p := slices.Clone(h.buf[:n])
	h.buf = h.buf[n:]
	return p, nil
}

// drop discards what the device sent so far.
func (h *blHost) drop() {
	h.buf = nil
	for {
		select {
		case p, ok := <-h.data:
			if !ok {
				return
			}
			_ = p
		default:
			return
		}
	}
}

func (h *blHost) write(p ...byte) error {
	if _, err := h.rw.Write(p); err != nil {
		return fmt.Errorf("mcu: stm32: write: %w", err)
	}
	return nil
}

// ack waits for ACK; BUSY extends the wait.
func (h *blHost) ack(ctx context.Context, d time.Duration) error {
	for {
		p, err := h.read(ctx, 1, d)
		if err != nil {
			return err
		}
		switch p[0] {
		case blACK:
			return nil
		case blNACK:
			return errNACK
		case blBUSY:
			continue
		}
		return fmt.Errorf("mcu: stm32: got %#02x, want ACK (0x79) or NACK (0x1f): is this an STM32 bootloader, at the right baud rate and parity (8E1)?", p[0])
	}
}

// sync starts a session: 0x7F, ACK. A bootloader already in a session
// takes the 0x7F as half a command: the second 0x7F makes a bad pair and
// it NACKs, which is as good (stm32flash does the same).
func (h *blHost) sync(ctx context.Context) error {
	var err error
	for try := range 5 {
		h.drop()
		if err = h.write(blSync); err != nil {
			return err
		}
		err = h.ack(ctx, 500*time.Millisecond)
		if err == nil || errors.Is(err, errNACK) || ctx.Err() != nil {
			break
		}
		h.log.Debug("stm32: no answer to 0x7F; again", "try", try+1)
	}
	if errors.Is(err, errNACK) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("mcu: stm32: no bootloader answers 0x7F: %w; put the MCU in its ROM bootloader (BOOT0 high, reset) and check the port", err)
	}
	return nil
}

// command sends a command code and its complement and waits for ACK.
func (h *blHost) command(ctx context.Context, code byte) error {
	if err := h.write(code, code^0xFF); err != nil {
		return err
	}
	if err := h.ack(ctx, blByteTimeout); err != nil {
		return fmt.Errorf("mcu: stm32: command %#02x: %w", code, err)
	}
	return nil
}

// address sends an address and its checksum and waits for ACK.
func (h *blHost) address(ctx context.Context, a uint32) error {
	p := []byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
	if err := h.write(append(p, p[0]^p[1]^p[2]^p[3])...); err != nil {
		return err
	}
	if err := h.ack(ctx, blByteTimeout); err != nil {
		return fmt.Errorf("mcu: stm32: address %#08x: %w", a, err)
	}
	return nil
}

// identify runs Get and Get ID.
func (h *blHost) identify(ctx context.Context) error {
	if err := h.command(ctx, blGet); err != nil {
		return err
	}
	n, err := h.read(ctx, 1, blByteTimeout)
	if err != nil {
		return err
	}
	p, err := h.read(ctx, int(n[0])+1, blByteTimeout)
	if err != nil {
		return err
	}
	if err := h.ack(ctx, blByteTimeout); err != nil {
		return err
	}
	h.version, h.cmds = p[0], p[1:]
	if err := h.command(ctx, blGetID); err != nil {
		return err
	}
	if n, err = h.read(ctx, 1, blByteTimeout); err != nil {
		return err
	}
	if p, err = h.read(ctx, int(n[0])+1, blByteTimeout); err != nil {
		return err
	}
	if len(p) < 2 {
		return fmt.Errorf("mcu: stm32: Get ID answered % x", p)
	}
	h.pid = uint16(p[0])<<8 | uint16(p[1])
	return h.ack(ctx, blByteTimeout)
}

func (h *blHost) offers(code byte) bool { return slices.Contains(h.cmds, code) }

// readMemory fills p (at most 256 bytes) from address a.
func (h *blHost) readMemory(ctx context.Context, a uint32, p []byte) error {
	if err := h.command(ctx, blRead); err != nil {
		return err
	}
	if err := h.address(ctx, a); err != nil {
		return err
	}
	n := byte(len(p) - 1)
	if err := h.write(n, n^0xFF); err != nil {
		return err
	}
	if err := h.ack(ctx, blByteTimeout); err != nil {
		return fmt.Errorf("mcu: stm32: read %d bytes at %#08x: %w", len(p), a, err)
	}
	got, err := h.read(ctx, len(p), blByteTimeout)
	if err != nil {
		return err
	}
	copy(p, got)
	return nil
}

// writeMemory writes data (at most 256 bytes, a multiple of 4) at a.
func (h *blHost) writeMemory(ctx context.Context, a uint32, data []byte) error {
	if err := h.command(ctx, blWrite); err != nil {
		return err
	}
	if err := h.address(ctx, a); err != nil {
		return err
	}
	sum := byte(len(data) - 1)
	for _, c := range data {
		sum ^= c
	}
	if err := h.write(slices.Concat([]byte{byte(len(data) - 1)}, data, []byte{sum})...); err != nil {
		return err
	}
	if err := h.ack(ctx, blWriteTimeout); err != nil {
		return fmt.Errorf("mcu: stm32: write %d bytes at %#08x: %w", len(data), a, err)
	}
	return nil
}

// erasePages erases pages (sector indexes) with Extended Erase or Erase,
// whichever the ROM offers, at most 255 at a time.
func (h *blHost) erasePages(ctx context.Context, pages []int) error {
	for len(pages) > 0 {
		n := min(len(pages), 255)
		chunk := pages[:n]
		pages = pages[n:]
		var msg []byte
		var code byte
		switch {
		case h.offers(blExtEras):
			code = blExtEras
			msg = []byte{byte((n - 1) >> 8), byte(n - 1)}
			for _, p := range chunk {
				msg = append(msg, byte(p>>8), byte(p))
			}
		case h.offers(blErase):
			code = blErase
			msg = []byte{byte(n - 1)}
			for _, p := range chunk {
				if p > 0xFF {
					return fmt.Errorf("mcu: stm32: page %d cannot be named with Erase (0x43)", p)
				}
				msg = append(msg, byte(p))
			}
		default:
			return errors.New("mcu: stm32: the bootloader offers neither Erase (0x43) nor Extended Erase (0x44)")
		}
		var sum byte
		for _, c := range msg {
			sum ^= c
		}
		if err := h.command(ctx, code); err != nil {
			return err
		}
		if err := h.write(append(msg, sum)...); err != nil {
			return err
		}
		if err := h.ack(ctx, time.Duration(n)*blPageTimeout); err != nil {
			return fmt.Errorf("mcu: stm32: erase pages %d to %d: %w", chunk[0], chunk[n-1], err)
		}
	}
	return nil
}

// goTo makes the device jump to the program at a.
func (h *blHost) goTo(ctx context.Context, a uint32) error {
	if err := h.command(ctx, blGo); err != nil {
		return err
	}
	return h.address(ctx, a)
}
