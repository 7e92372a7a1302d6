// Package mcu is the MCU side of a QuecThing OTA: it drives a module over
// AT commands through one update cycle and writes the new image to a
// target.
//
// Run declares the MCU's component versions (AT+QIOTMCUVER), registers
// (AT+QIOTREG=1 unless AT+QIOTSTATE? says it is), asks for a plan
// (AT+QIOTOTAREQ) and then follows the OTA events as a state machine:
// each 7,10700 plan is checked against its battery, signal and space
// minimums and confirmed (AT+QIOTUPDATE=1) or refused (AT+QIOTUPDATE=0,
// and a *PolicyError); each 7,10701 opens the target; each 7,10703 piece
// is read with AT+QIOTOTARD; after the last piece MD5, CRC and SHA-256 are
// checked over what the target holds (ErrVerify), AT+QIOTUPDATE=3 is sent,
// the image is committed and the new version reported; 7,10705 ends a
// component and 7,10706 the cycle. On any error before the commit the
// image is aborted and the running one stays.
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
