// Package module emulates a Quectel cellular module's QuecThing OTA
// interface: the AT commands an MCU sends (AT+QIOTREG, AT+QIOTMCUVER,
// AT+QIOTOTAREQ, AT+QIOTUPDATE, AT+QIOTOTARD, ...) and the +QIOTEVT events
// it raises, fed by upgrade plans from a PlanSource: a plans directory, or
// a platform link.
//
// A Module keeps what a real module keeps in a state file written
// atomically: configuration (AT+QIOTCFG), registration mode, the MCU's
// component versions, its own firmware version, the failures, refusals
// and app confirmations per plan, and the OTA task in progress with its
// current piece. When the MCU confirms a plan the module copies its
// packages into a cache next to the state file (its "download"), checked
// against the digests it announced; reads come from that copy, a piece
// at a time, so a plan file edited mid-task changes nothing and no
// package is ever held in memory. After a restart, even after SIGKILL,
// the transfer goes on where it stopped; a copy that went away is taken
// again if the plan's file still matches, and otherwise the MCU hears
// 7,10706 at its first command. Reads (AT+QIOTOTARD) never write the
// state file.
//
// Events follow the command that caused them after a configurable delay
// counted from its final result on the wire (registration events after
// their own), never in the same write as the OK, as real MCU firmware
// needs (spec §13.7). A plan's components are announced with one
// 7,10700 each, back to back; AT+QIOTUPDATE=1 starts the first with
// 7,10701, 7,10702 and, once its package is in the cache, 7,10703 for its
// first piece; reads are clamped to MaxRead and to the end of the piece;
// AT+QIOTUPDATE=2 moves to the next piece, =3 is answered 7,10704, and the
// target version reported with AT+QIOTMCUVER is 7,10705 and starts the
// next component; another version after =3 is 7,10706 and counts against
// strategy.retries. A component of type module is the module's own
// firmware: bare 7,10701 to 7,10705 with no reads, then a reboot into
// the new version (ATI, AT+QIOTINFO?).
//
// Without a command, the module's planner pushes plans with push_actively
// inside their push period (first FirstPush after the registration, then
// every PushInterval until the MCU confirms or refuses, and
// rejection_minutes after a refusal), holds manual plans until Confirm,
// fails a transfer still running when its plan's window ends, and notices
// plans added to the directory within PlanPoll. Plans are judged by
// Config.Now; its timers run on the time package's clock, which
// testing/synctest fakes in the tests.
//
// A Model (Config.Model, LookupModel) is the module model played: its
// identity (ATI, AT+CGMM, AT+CGSN, ...), its network (AT+CFUN, AT+CEREG,
// AT+COPS, AT+CCLK, ...: AT+CFUN=0 takes it down and AT+QIOTREG=1 fails
// until AT+CFUN=1), the Quectel settings real firmware sends before any
// QIOT command, its formats, QuecThing defaults, piece size, AT+QIOTOTARD
// maximum and delays. Models are data, one JSON file each under models/,
// embedded. Replies (Config.Replies, ParseReplies) are canned answers
// that come before everything else; a command nobody knows is answered
// ERROR and logged once with a hint.
//
// ControlHandler serves the control endpoint (status, signal, battery,
// app confirmation, push, reboot) and an Observer hears version reports
// and task progress for a platform link.
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
