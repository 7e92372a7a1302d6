// Package mcu is the MCU side of a QuecThing OTA: it drives a module over
// AT commands through an update cycle and writes the new image to a
// target.
//
// Run declares the MCU's component versions (AT+QIOTMCUVER), registers
// (AT+QIOTREG=1 unless AT+QIOTSTATE? says it is), asks for a plan
// (AT+QIOTOTAREQ) and then follows the OTA events through an explicit
// state machine (the table in transfer.go: phase × event → phase): each
// 7,10700 plan is checked against its battery, signal (AT+CSQ) and space
// minimums and confirmed (AT+QIOTUPDATE=1) or refused (AT+QIOTUPDATE=0,
// and a *PolicyError); each 7,10701 opens an image on the target; each
// 7,10703 piece is read with AT+QIOTOTARD; after the last piece MD5,
// CRC-32 (Config.CRC: MPEG-2 unless set to IEEE) and SHA-256 are checked
// over what the target holds, read back (ErrVerify names the differing
// byte ranges when it can), AT+QIOTUPDATE=3 is sent, and at 7,10704 the
// image is committed, its version reported, and then confirmed; 7,10705
// ends a component and 7,10706 the cycle.
//
// # Journal and resume
//
// With Config.Journal the MCU keeps its progress in a JSON file rewritten
// atomically (temporary file, fsync, rename) at each durable step: the
// component, its target version, size, MD5, SHA-256, CRC, the bytes
// committed to the target and the current piece, and the phase
// (downloading, verified, committing, committed). Bytes are journaled
// after the target made them durable, and the journal steps back before
// anything could destroy them, so after a reset at any moment (SIGKILL, a
// power cut) a new Run finishes a verified or committed image at once,
// or asks for the plan again and, when the module announces the same
// image, skips the pieces the target holds and reads on from the journal:
// at most the block that was being written is read twice, and an image
// whose digests differ from the journal's starts over, so nothing mixes.
// The journal also records the versions the MCU installed, which replace
// the configured ones in AT+QIOTMCUVER.
//
// # Packages
//
// A download whose first bytes are an atota package (agent/pack: a full
// image or a delta, behind a header with the images' sizes and SHA-256s
// and an optional ed25519 signature) is applied while it is read: the
// header is checked, its signature verified against Config.VerifyKey
// (which also refuses raw images), a delta's source compared with the
// image the target runs (flashsim:, file: and stm32: targets can read it,
// stm32: through the bootloader; exec: refuses a delta), all before
// anything is written; then each chunk
// is decoded as its last byte arrives and written to the image the target
// opens for the image the package builds, which is verified against the
// header's SHA-256, read back, before it is committed. The journal keeps
// how many chunks are applied and durable; after a reset the header is
// read again and the apply goes on at the next chunk, so at most the
// header and one chunk's payload are read twice. The 7,10701 digests are
// those of the package file; they are checked when one run read it all.
//
// An Agent dials the module itself and, when the link is lost or the
// module stops answering (the timeouts of spec §1, all in Config), waits
// for it and goes on from the journal; WaitPolicy waits until a refused
// minimum is met.
//
// # Targets
//
// OpenTarget opens flashsim:FILE[?part=NAME] (a simulated NOR flash with
// A/B slots: the image goes to the inactive slot, is set pending, booted,
// and confirmed after its version is reported; an image not confirmed
// within the device's tries is reverted, and one left on trial that no
// journal vouches for is reverted at once), file:PATH (a partial file
// renamed into place), exec:COMMAND (the verified image handed to a
// command, {} for its path) and stm32:PORT (an STM32's ROM bootloader,
// AN3155, 8E1).
//
//	port, _ := transport.Dial(ctx, "/dev/ttyUSB0")
//	c := atcmd.NewClient(port)
//	defer c.Close()
//	target, _ := mcu.OpenTarget("flashsim:flash.bin?part=stm32f407vg")
//	cfg := mcu.DefaultConfig()
//	cfg.Components = []mcu.Component{{ID: "STM32", Version: "1_0_0"}}
//	cfg.Target = target
//	cfg.Journal = "mcu-journal.json"
//	res, err := mcu.Run(ctx, c, cfg)
package mcu
