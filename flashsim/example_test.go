package flashsim_test

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/atota/atota/flashsim"
)

func ExampleFlash() {
	p, err := flashsim.LookupPart("stm32f103c8")
	if err != nil {
		panic(err)
	}
	f := flashsim.New(p)

	// Program a half-word, then try to set one of its bits back to 1.
	if _, err := f.WriteAt([]byte{0x34, 0x12}, 0x400); err != nil {
		panic(err)
	}
	_, err = f.WriteAt([]byte{0x35, 0x12}, 0x400)
	fmt.Println(errors.Is(err, flashsim.ErrNotErased))

	// Erasing the page makes it writable again.
	if err := f.Erase(0x400, 2); err != nil {
		panic(err)
	}
	buf := make([]byte, 2)
	f.ReadAt(buf, 0x400)
	fmt.Printf("% x, page 1 erased %d time(s)\n", buf, f.EraseCount(1))
	// Output:
	// true
	// ff ff, page 1 erased 1 time(s)
}

func ExampleFlash_PowerCutAfter() {
	p, _ := flashsim.LookupPart("nrf52840")
	f := flashsim.New(p)
	f.PowerCutAfter(2) // tear the second operation from now
	_, err1 := f.WriteAt([]byte{0, 0, 0, 0}, 0)
	_, err2 := f.WriteAt([]byte{0, 0, 0, 0}, 4)
	_, err3 := f.ReadAt(make([]byte, 4), 0)
	fmt.Println(err1 == nil, errors.Is(err2, flashsim.ErrPowerCut), errors.Is(err3, flashsim.ErrPowerCut))
	f.PowerOn()
	fmt.Println(f.Powered(), f.Ops())
	// Output:
	// true true true
	// true 2
}

func ExampleDevice() {
	p, _ := flashsim.LookupPart("stm32f103c8")
	f := flashsim.New(p)
	layout, _ := flashsim.DefaultLayout(p)
	d, err := flashsim.NewDevice(f, layout)
	if err != nil {
		panic(err)
	}
	img := []byte("firmware v2")
	if err := d.WriteInactive(img); err != nil {
		panic(err)
	}
	if err := d.SetPending(int64(len(img)), sha256.Sum256(img)); err != nil {
		panic(err)
	}
	s, _ := d.Boot() // a reset: the new image runs on trial
	fmt.Println("running", s, "tries", d.Record().Tries)
	if err := d.Confirm(); err != nil {
		panic(err)
	}
	fmt.Println("active", d.Active(), "at", d.Active().Region)
	// Output:
	// running B tries 1
	// active B at [0x7c00, 0xf800)
}

func ExampleDefaultLayout() {
	for _, name := range flashsim.PartNames() {
		p, _ := flashsim.LookupPart(name)
		l, _ := flashsim.DefaultLayout(p)
		fmt.Printf("%-12s A %-18v B %-18v record %v\n", name, l.A, l.B, l.Record)
	}
	// Output:
	// nrf52840     A [0x0, 0x7f000)     B [0x7f000, 0xfe000) record [0xfe000, 0x100000)
	// stm32f103c8  A [0x0, 0x7c00)      B [0x7c00, 0xf800)   record [0xf800, 0x10000)
	// stm32f103cb  A [0x0, 0xfc00)      B [0xfc00, 0x1f800)  record [0x1f800, 0x20000)
	// stm32f407vg  A [0x0, 0x60000)     B [0x60000, 0xc0000) record [0xc0000, 0x100000)
	// w25q32       A [0x0, 0x1ff000)    B [0x1ff000, 0x3fe000) record [0x3fe000, 0x400000)
}

func ExampleParseTarget() {
	path, part, err := flashsim.ParseTarget("dev.flash?part=stm32f407vg")
	fmt.Println(path, part, err)
	// Output: dev.flash stm32f407vg <nil>
}
