package main

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/flashsim"
	"github.com/atota/atota/transport"
)

func (a *app) flashCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flash",
		Short: "Inspect, create and serve simulated flash (incl. the STM32 UART bootloader)",
		Long: `atota flash works on the simulated NOR flash files that atota mcu writes with
--target flashsim:FILE: inspect shows the slots, the boot record and the
images; create makes a flash file, optionally with a first image; serve plays
an STM32's ROM bootloader (AN3155) over such a flash on a serial port, so that
stm32flash, or atota mcu --target stm32:PORT, can program it.`,
		Example: `  atota flash create flash.bin?part=stm32f103c8 --image app-1.0.bin
  atota flash inspect flash.bin
  atota flash serve --port pty:/tmp/stm32 --image flash.bin?part=stm32f103c8
  stm32flash -m 8n1 -w app.bin -v -g 0x0 /tmp/stm32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("flash: give a subcommand: inspect, create or serve")
		},
	}
	cmd.AddCommand(a.flashInspectCommand(), a.flashCreateCommand(), a.flashServeCommand())
	return cmd
}

// slotReport is what inspect says of a slot.
type slotReport struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	State  string `json:"state"` // active, pending, inactive
	// Image is the image the boot record describes when it lies in this
	// slot; otherwise the bytes up to the last one that is not 0xFF.
	Image      int64  `json:"image_bytes"`
	FromRecord bool   `json:"image_from_record"`
	MD5        string `json:"md5,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	CRC        uint32 `json:"crc_mpeg2"`
	Matches    *bool  `json:"matches_record,omitempty"`
}

// flashReport is what inspect prints.
type flashReport struct {
	File       string       `json:"file"`
	Part       string       `json:"part"`
	Size       int64        `json:"size"`
	Sectors    int          `json:"sectors"`
	WriteUnit  int          `json:"write_unit"`
	Base       uint32       `json:"base"`
	Slots      []slotReport `json:"slots"`
	Record     recordReport `json:"record"`
	MaxErases  int          `json:"max_erases"`
	Endurance  int          `json:"endurance"`
	Worn       []int        `json:"worn_sectors,omitempty"`
	LogPending int64        `json:"log_bytes"`
}

type recordReport struct {
	Offset      int64  `json:"offset"`
	Size        int64  `json:"size"`
	Seq         uint32 `json:"seq"`
	Active      string `json:"active"`
	Pending     string `json:"pending"`
	Tries       int    `json:"tries"`
	MaxTries    int    `json:"max_tries"`
	ImageSize   int64  `json:"image_size"`
	ImageSHA256 string `json:"image_sha256,omitempty"`
	Reverted    bool   `json:"reverted"`
}

func (a *app) flashInspectCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show a flash file's part, slots, boot record, images and wear",
		Long: `atota flash inspect reads a flash file (with the operation log beside it, if
any) without changing it, and shows the part, the two image slots (which is
active, which pending), the boot record in force, and for each slot the size,
MD5, SHA-256 and CRC-32/MPEG-2 of its image: the size from the boot record for
the slot it describes, else the bytes up to the last one that is not 0xFF.`,
		Example: `  atota flash inspect flash.bin
  atota flash inspect --json flash.bin | jq .slots`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a.begin(cmd)
			r, err := inspectFlash(args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			printFlashReport(a.stdout, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// inspectFlash reads the flash file at path.
func inspectFlash(path string) (*flashReport, error) {
	f, err := flashsim.Load(path)
	if err != nil {
		return nil, err
	}
	p := f.Part()
	l, err := flashsim.DefaultLayout(p)
	if err != nil {
		return nil, err
	}
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		return nil, err
	}
	rec := d.Record()
	r := &flashReport{File: path, Part: p.Name, Size: f.Size(), Sectors: f.NumSectors(), WriteUnit: p.WriteUnit, Base: p.Base, Endurance: p.Endurance, Worn: f.WornSectors()}
	r.Record = recordReport{Offset: l.Record.Off, Size: l.Record.Size, Seq: rec.Seq, Active: rec.Active.String(), Pending: rec.Pending.String(),
		Tries: rec.Tries, MaxTries: rec.MaxTries, ImageSize: rec.ImageSize, Reverted: rec.Reverted}
	if rec.ImageSize > 0 {
		r.Record.ImageSHA256 = hex.EncodeToString(rec.ImageSHA256[:])
	}
	for i := range f.NumSectors() {
		r.MaxErases = max(r.MaxErases, f.EraseCount(i))
	}
	if fi, err := os.Stat(path + ".log"); err == nil {
		r.LogPending = fi.Size()
	}
	// The slot the record's image lies in: the pending one, or the
	// active one after a confirmation.
	var described byte
	switch {
	case rec.Pending.Name != 0:
		described = rec.Pending.Name
	case rec.ImageSize > 0 && !rec.Reverted:
		described = rec.Active.Name
	}
	for _, s := range []flashsim.Slot{{Name: 'A', Region: l.A}, {Name: 'B', Region: l.B}} {
		sr := slotReport{Name: s.String(), Offset: s.Off, Size: s.Size, State: "inactive"}
		switch s.Name {
		case rec.Active.Name:
			sr.State = "active"
		case rec.Pending.Name:
			sr.State = fmt.Sprintf("pending (booted %d of %d tries)", rec.Tries, rec.MaxTries)
		}
		data := make([]byte, s.Size)
		if _, err := f.ReadAt(data, s.Off); err != nil {
			return nil, err
		}
		if s.Name == described && rec.ImageSize <= s.Size {
			data, sr.FromRecord = data[:rec.ImageSize], true
			ok := sha256.Sum256(data) == rec.ImageSHA256
			sr.Matches = &ok
		} else {
			n := len(data)
			for n > 0 && data[n-1] == 0xFF {
				n--
			}
			data = data[:n]
		}
		sr.Image = int64(len(data))
		if len(data) > 0 {
			m, sh := md5.Sum(data), sha256.Sum256(data)
			sr.MD5, sr.SHA256, sr.CRC = hex.EncodeToString(m[:]), hex.EncodeToString(sh[:]), plan.Checksum(plan.MPEG2, data)
		}
		r.Slots = append(r.Slots, sr)
	}
	return r, nil
}

func printFlashReport(w io.Writer, r *flashReport) {
	fmt.Fprintf(w, "%s: %s, %s in %d sectors, write unit %d bytes, at %#08x\n", r.File, r.Part, sizeOf(r.Size), r.Sectors, r.WriteUnit, r.Base)
	for _, s := range r.Slots {
		fmt.Fprintf(w, "slot %s  [%#x, %#x)  %s  %s\n", s.Name, s.Offset, s.Offset+s.Size, sizeOf(s.Size), s.State)
		switch {
		case s.Image == 0:
			fmt.Fprintf(w, "        empty (erased)\n")
		case s.FromRecord:
			match := "matches the record's SHA-256"
			if s.Matches != nil && !*s.Matches {
				match = "does NOT match the record's SHA-256"
			}
			fmt.Fprintf(w, "        image %d bytes (per the boot record; %s)\n", s.Image, match)
		default:
			fmt.Fprintf(w, "        %d bytes used (to the last byte that is not 0xFF)\n", s.Image)
		}
		if s.Image > 0 {
			fmt.Fprintf(w, "        MD5 %s  SHA-256 %s  CRC-32/MPEG-2 %d\n", s.MD5, s.SHA256, s.CRC)
		}
	}
	rr := r.Record
	if rr.Seq == 0 {
		fmt.Fprintf(w, "record  [%#x, %#x)  none written yet: slot A active\n", rr.Offset, rr.Offset+rr.Size)
	} else {
		fmt.Fprintf(w, "record  [%#x, %#x)  #%d: active %s, pending %s, tries %d of %d, last image %d bytes, reverted %v\n",
			rr.Offset, rr.Offset+rr.Size, rr.Seq, rr.Active, rr.Pending, rr.Tries, rr.MaxTries, rr.ImageSize, rr.Reverted)
	}
	fmt.Fprintf(w, "wear    at most %d erases of a sector (rated %d)", r.MaxErases, r.Endurance)
	if len(r.Worn) > 0 {
		fmt.Fprintf(w, "; worn out: sectors %v", r.Worn)
	}
	fmt.Fprintln(w)
	if r.LogPending > 0 {
		fmt.Fprintf(w, "log     %s.log: %d bytes of operations since the last full save (included above)\n", r.File, r.LogPending)
	}
}

func (a *app) flashCreateCommand() *cobra.Command {
	var imagePath string
	var force bool
	cmd := &cobra.Command{
		Use:   "create FILE[?part=NAME] [--image APP.BIN]",
		Short: "Make an erased flash file, optionally with a first image that runs",
		Long: `atota flash create writes an erased flash of the part (default stm32f103c8)
to FILE. With --image, the image is written to a slot, booted and confirmed,
as if an earlier update had installed it: the old image a test update starts
from.`,
		Example: `  atota flash create flash.bin?part=stm32f407vg --image app-1.0.bin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, part, err := flashsim.ParseTarget(args[0])
			if err != nil {
				return &usageError{err.Error()}
			}
			a.begin(cmd)
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("flash: %s exists; give --force to replace it", path)
			} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("flash: %w", err)
			}
			if part == "" {
				part = flashsim.DefaultPart
			}
			p, err := flashsim.LookupPart(part)
			if err != nil {
				return err
			}
			f := flashsim.New(p)
			msg := "erased"
			if imagePath != "" {
				img, err := os.ReadFile(imagePath)
				if err != nil {
					return fmt.Errorf("flash: --image: %w", err)
				}
				s, err := installImage(f, img)
				if err != nil {
					return fmt.Errorf("flash: --image %s: %w", imagePath, err)
				}
				msg = fmt.Sprintf("slot %s active with %s (%d bytes)", s, imagePath, len(img))
			}
			if err := f.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "created %s: %s, %s, %s\n", path, p.Name, sizeOf(p.Size()), msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&imagePath, "image", "", "an image to install as the running one")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

// installImage makes img the running image of f, in the default layout
// of its part, and returns its slot.
func installImage(f *flashsim.Flash, img []byte) (flashsim.Slot, error) {
	l, err := flashsim.DefaultLayout(f.Part())
	if err != nil {
		return flashsim.Slot{}, err
	}
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		return flashsim.Slot{}, err
	}
	return d.Install(img)
}

func (a *app) flashServeCommand() *cobra.Command {
	var port, image string
	var baud int
	cmd := &cobra.Command{
		Use:   "serve --port PORT --image FILE[?part=NAME]",
		Short: "Play an STM32's ROM UART bootloader (AN3155) over a simulated flash",
		Long: `atota flash serve answers as the system-memory bootloader of an STM32 does
(AN3155: sync 0x7F, Get, Get Version, Get ID, Read Memory, Write Memory, Go,
Erase or Extended Erase) on PORT, over the flash kept in FILE (created if
missing; the part must be an STM32: stm32f103c8, stm32f103cb, stm32f407vg).
Every write and erase is durable before it is acknowledged. It serves one
host after another until stopped.

PORT is a serial device (8E1, as the ROM expects), pty:PATH (a pty linked at
PATH: a pty cannot carry parity and stm32flash checks that the port took
8E1, so run it with -m 8n1 there; atota mcu --target stm32:PATH works as
is), tcp://HOST:PORT or tcp-listen://HOST:PORT.`,
		Example: `  atota flash serve --port pty:/tmp/stm32 --image flash.bin?part=stm32f103c8
  stm32flash -m 8n1 -w app.bin -v -g 0x0 /tmp/stm32
  stm32flash -m 8n1 -r back.bin -S 0x08000000:4096 /tmp/stm32
  atota mcu --port /tmp/ttyU --target stm32:/tmp/stm32 --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case port == "":
				return usagef("flash serve: --port is required")
			case image == "":
				return usagef("flash serve: --image FILE[?part=NAME] is required")
			}
			if _, err := transport.ParsePort(port); err != nil {
				return &usageError{err.Error()}
			}
			path, part, err := flashsim.ParseTarget(image)
			if err != nil {
				return &usageError{err.Error()}
			}
			a.begin(cmd)
			return a.serveBootloader(cmd.Context(), cmd, port, path, part, baud)
		},
	}
	cmd.Flags().StringVar(&port, "port", "", "serial port to serve on (see PORT above)")
	cmd.Flags().StringVar(&image, "image", "", "the flash file, FILE[?part=NAME]")
	cmd.Flags().IntVar(&baud, "baud", 115200, "baud rate of a serial device")
	return cmd
}

func (a *app) serveBootloader(ctx context.Context, cmd *cobra.Command, port, path, part string, baud int) error {
	log := a.logger(cmd, false)
	store, err := flashsim.OpenStore(path, part)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := store.Save(); err != nil {
			return err
		}
	}
	p := store.Flash().Part()
	bl, err := flashsim.NewBootloader(store.Flash(), flashsim.WithAfterChange(store.Sync))
	if err != nil {
		return fmt.Errorf("flash serve: %w", err)
	}
	l, err := transport.Listen(ctx, port, transport.WithBaud(baud), transport.WithParity(true), transport.WithLogger(log))
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(a.stderr, "atota flash: STM32 bootloader of a %s (ID %#03x) over %s, serving on %s (Ctrl-C to stop)\n", p.Name, p.PID, path, l.Addr())
	defer func() {
		if err := store.Save(); err != nil {
			log.Error("saving the flash failed", "err", err)
		}
	}()
	for {
		conn, err := l.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		log.Info("host connected")
		bl.Reset()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err = bl.Serve(ctx, conn)
		stop()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			log.Info("the host started the program (Go)", "address", fmt.Sprintf("%#08x", bl.Started()))
		case errors.Is(err, io.EOF):
			log.Info("host gone")
		default:
			log.Warn("link error", "err", err)
		}
		if err := store.Save(); err != nil {
			return err
		}
	}
}
