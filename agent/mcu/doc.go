// Package mcu is the MCU side of a QuecThing OTA: it drives a module over
// AT commands through one update cycle and writes the new image to a
// target.
//
// Run declares the MCU's component versions (AT+QIOTMCUVER), registers,
// asks for a plan (AT+QIOTOTAREQ), checks the plan's battery, signal and
// space minimums, refusing with AT+QIOTUPDATE=0 and a *PolicyError when one
// is not met, reads every piece with AT+QIOTOTARD, verifies MD5, CRC and
// SHA-256 over what the target holds, commits the image and reports the new
// version.
//
//	port, _ := transport.Dial(ctx, "/dev/ttyUSB0")
//	c := atcmd.NewClient(port)
//	defer c.Close()
//	target, _ := mcu.OpenTarget("flashsim:flash.bin?part=stm32f407vg")
//	cfg := mcu.DefaultConfig()
//	cfg.Components = []mcu.Component{{ID: "STM32", Version: "1_0_0"}}
//	cfg.Target = target
//	res, err := mcu.Run(ctx, c, cfg)
package mcu
