package scenario

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/flashsim"
)

// simFlash is the emulated MCU's flash: a simulated NOR flash with A/B
// slots and a boot record, which outlives every reset of the MCU as a
// chip's flash does. Each update cycle opens an mcu flash target on it
// (a reset: the bootloader boots); between cycles the runner arms power
// cuts and checks which image would boot. Only the runner's goroutine
// touches it.
type simFlash struct {
	f      *flashsim.Flash
	layout flashsim.Layout
	images []knownImage
}

// knownImage is an image whose component and version are known.
type knownImage struct {
	comp, version string
	size          int64
	sum           [32]byte
}

func (k knownImage) String() string { return k.comp + " " + k.version }

// newSimFlash returns the flash of part with img, the first image, in
// slot A.
func newSimFlash(partName string, first knownImageData) (*simFlash, error) {
	part, err := flashsim.LookupPart(partName)
	if err != nil {
		return nil, fmt.Errorf("scenario: mcu.part: %w", err)
	}
	layout, err := flashsim.DefaultLayout(part)
	if err != nil {
		return nil, fmt.Errorf("scenario: mcu.part: %w", err)
	}
	img := first.data
	if int64(len(img)) > layout.A.Size {
		return nil, fmt.Errorf("scenario: the first image of %s (%d bytes) does not fit a %d-byte slot of %s; use a larger mcu.part", first.comp, len(img), layout.A.Size, part.Name)
	}
	f := flashsim.New(part)
	if err := f.Erase(layout.A.Off, int64(len(img))); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	padded := img
	if r := len(img) % part.WriteUnit; r != 0 {
		padded = append(append([]byte(nil), img...), make([]byte, part.WriteUnit-r)...)
		for i := len(img); i < len(padded); i++ {
			padded[i] = 0xFF
		}
	}
	if _, err := f.WriteAt(padded, layout.A.Off); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	s := &simFlash{f: f, layout: layout}
	s.know(first.comp, first.version, img)
	return s, nil
}

// knownImageData is an image with its component and version.
type knownImageData struct {
	comp, version string
	data          []byte
}

// know adds an image whose component and version are known.
func (s *simFlash) know(comp, version string, img []byte) {
	k := knownImage{comp: comp, version: version, size: int64(len(img)), sum: sha256.Sum256(img)}
	for _, o := range s.images {
		if o == k {
			return
		}
	}
	s.images = append(s.images, k)
}

// image returns the known image of comp at version.
func (s *simFlash) image(comp, version string) (knownImage, bool) {
	for _, k := range s.images {
		if k.comp == comp && k.version == version {
			return k, true
		}
	}
	return knownImage{}, false
}

// boot powers the MCU on and returns a target on its flash: opening it
// boots the device, as a reset does.
func (s *simFlash) boot() (mcu.Target, error) {
	s.f.PowerOn()
	s.f.PowerCutAfter(0)
	t, err := mcu.NewFlashTarget(s.f)
	if err != nil {
		return nil, fmt.Errorf("scenario: the emulated MCU does not boot: %w", err)
	}
	return t, nil
}

// armCut tears the n-th flash operation from now.
func (s *simFlash) armCut(n int) { s.f.PowerCutAfter(n) }

// ops returns the flash operations so far.
func (s *simFlash) ops() int { return s.f.Ops() }

// powered reports whether the power is on (no cut since boot).
func (s *simFlash) powered() bool { return s.f.Powered() }

// running returns the image that runs after the last boot: the image on
// trial if there is one, else the active slot's; ok is false when that
// slot holds none of the known images.
func (s *simFlash) running() (k knownImage, slot flashsim.Slot, ok bool, err error) {
	d, err := flashsim.NewDevice(s.f, s.layout)
	if err != nil {
		return knownImage{}, slot, false, fmt.Errorf("the boot record cannot be read: %w", err)
	}
	rec := d.Record()
	slot = rec.Active
	if rec.Pending.Name != 0 {
		slot = rec.Pending
	}
	for _, k := range s.images {
		if k.size > slot.Size {
			continue
		}
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(s.f, slot.Off, k.size)); err != nil {
			return knownImage{}, slot, false, err
		}
		if [32]byte(h.Sum(nil)) == k.sum {
			return k, slot, true, nil
		}
	}
	return knownImage{}, slot, false, nil
}

// learn adds the first size bytes of slot as the image of comp at
// version if their MD5 is md5hex: with a real module the runner knows
// the packages only by what the MCU verified.
func (s *simFlash) learn(comp, version string, slot flashsim.Slot, size int64, md5hex string) bool {
	if size <= 0 || size > slot.Size {
		return false
	}
	img := make([]byte, size)
	if _, err := s.f.ReadAt(img, slot.Off); err != nil {
		return false
	}
	sum := md5.Sum(img)
	if hex.EncodeToString(sum[:]) != md5hex {
		return false
	}
	s.know(comp, version, img)
	return true
}
