// Package module emulates a Quectel cellular module's QuecThing OTA
// interface: the AT commands an MCU sends (AT+QIOTREG, AT+QIOTMCUVER,
// AT+QIOTOTAREQ, AT+QIOTUPDATE, AT+QIOTOTARD, ...) and the +QIOTEVT events
// it raises, fed by upgrade plans.
//
// A Module keeps what a real module keeps in a state file written
// atomically: configuration (AT+QIOTCFG), registration mode, the MCU's
// component versions, the failures per plan and the OTA task in progress
// with its current piece. After a restart the transfer goes on where it
// stopped; if the package changed meanwhile, the task fails and the MCU
// hears 7,10706 at its first command. Reads (AT+QIOTOTARD) never write the
// state file.
//
// Events follow the command that caused them after a configurable delay
// (registration events after their own), never in the same write as its
// OK, as real MCU firmware needs (spec §13.7). A plan's components are
// announced with one 7,10700 each, back to back; AT+QIOTUPDATE=1 starts
// the first with 7,10701, 7,10702 and 7,10703 for its first piece; reads
// are clamped to MaxRead and to the end of the piece; AT+QIOTUPDATE=2
// moves to the next piece, =3 is answered 7,10704, and the target version
// reported with AT+QIOTMCUVER is 7,10705 and starts the next component.
//
//	dir, _ := plan.OpenDir("plans")
//	cfg := module.DefaultConfig()
//	cfg.Plans = dir
//	cfg.ProductKey, cfg.ProductSecret = "p1demo", "secret"
//	m, err := module.New(cfg)
//	if err != nil { ... }
//	defer m.Close()
//	l, _ := transport.Listen(ctx, "pty:/tmp/atota-m")
//	err = m.Serve(ctx, l)
package module
