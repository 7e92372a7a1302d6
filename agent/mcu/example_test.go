package mcu_test

import (
	"context"
	"fmt"

	"github.com/atota/atota/agent/mcu"
	"github.com/atota/atota/flashsim"
)

func ExampleEvent_Offer() {
	e, err := mcu.ParseEvent(`+QIOTEVT: 7,10700,"STM32","","2_0_0",30,-113,27954`)
	if err != nil {
		fmt.Println(err)
		return
	}
	o, err := e.Offer()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s to %s: battery >= %d%%, signal >= %d dBm, %d bytes\n", o.Component, o.Target, o.MinBattery, o.MinSignalDBm, o.Size)
	// Output: STM32 to 2_0_0: battery >= 30%, signal >= -113 dBm, 27954 bytes
}

func ExampleEvent_Piece() {
	e, _ := mcu.ParseEvent(`+QIOTEVT: 7,10703,"STM32",27954,0,27954`)
	p, err := e.Piece()
	fmt.Println(p.Component, p.Start, p.Len, err)
	// Output: STM32 0 27954 <nil>
}

func ExampleSignalDBm() {
	for _, rssi := range []int{0, 25, 31, 99} {
		dbm, ok := mcu.SignalDBm(rssi)
		fmt.Println(rssi, dbm, ok)
	}
	// Output:
	// 0 -113 true
	// 25 -63 true
	// 31 -51 true
	// 99 0 false
}

func ExampleNewFlashTarget() {
	p, _ := flashsim.LookupPart("stm32f103c8")
	f := flashsim.New(p) // the MCU's flash, which outlives resets
	target, err := mcu.NewFlashTarget(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	free, _ := target.Capacity(context.Background())
	fmt.Println(target, free)
	// Output: flashsim (in memory) (stm32f103c8, slot A running) 31744
}
