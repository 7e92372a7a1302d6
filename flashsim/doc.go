// Package flashsim simulates the NOR flash of a microcontroller, and an
// MCU that boots from it with A/B image slots and a boot record.
//
// # Flash
//
// A Flash models one part from the part table (LookupPart, PartNames):
// its sector (erase unit) sizes, its program unit and its re-programming
// rule. Erase sets a sector to 0xFF; a write may only clear bits, and on
// ErasedOnly parts (STM32F1) only into an erased unit unless it writes
// all zeros. Offsets are from the flash start; add Part.Base for the
// address in the MCU's memory map. Every write and erase is one
// operation (Ops); erase counts are kept per sector.
//
// PowerCutAfter(n) tears the n-th following operation: a torn write
// clears a deterministic pseudo-random subset of the bits it was clearing
// and leaves the rest of the flash alone; a torn erase leaves the sector
// partly erased and partly old. After a cut the device is off (every
// read, write and erase fails with ErrPowerCut) until PowerOn. The same
// operation number always tears the same way, so a failing case replays.
//
// Save writes the flash to a file atomically and Load reads it back; Open
// does either as needed. ParseTarget reads the TARGET form
// "FILE[?part=NAME]" (after "flashsim:").
//
// A Store keeps a flash in its file operation by operation: Sync appends
// what the operations since the last Sync left in the flash to a log
// beside the file (FILE.log) and fsyncs it, so that making a 1 KiB write
// durable costs about 1 KiB of I/O, not a rewrite of the file; Save folds
// the log into the file. Load replays the log, stopping at a torn last
// record.
//
// # Device
//
// A Device keeps two image slots and a boot record in a Flash, laid out
// by a Layout (DefaultLayout documents the layout of each known part).
// An update is written to the inactive slot, SetPending asks for a trial
// boot, Boot simulates a reset and runs the pending image up to MaxTries
// times, and Confirm makes it the active slot. An image that is never
// confirmed, or whose SHA-256 no longer matches, is reverted by Boot.
//
// The boot record is written NOR-safely: each change appends a record
// with a sequence number and a CRC into erased space of the record
// region, and a record sector is erased only when the other is full, so a
// power cut at any flash operation leaves either the old or the new
// record in force.
//
// Revert gives up a pending image at once, for an MCU that cannot vouch
// for it.
//
// # STM32 bootloader
//
// A Bootloader is the device side of the STM32 ROM USART bootloader
// (AN3155) over a Flash of an STM32 part (PID set): Get, Get Version,
// Get ID, Read and Write Memory, Go, and Erase (F1, bootloader v2.2) or
// Extended Erase (v3.1), so that stm32flash or any AN3155 host can read,
// write and verify the simulated flash over a serial line or a pty.
//
// Nothing in this package starts goroutines, and nothing is random: the
// same calls give the same flash contents.
package flashsim
