// Package module emulates a Quectel cellular module's QuecThing OTA
// interface: the AT commands an MCU sends (AT+QIOTREG, AT+QIOTMCUVER,
// AT+QIOTOTAREQ, AT+QIOTUPDATE, AT+QIOTOTARD, ...) and the +QIOTEVT events
// it raises, fed by upgrade plans.
//
// A Module keeps what a real module keeps in a state file written
// atomically: configuration, registration mode, the MCU's component
// versions and the OTA task in progress. Events follow the command that
// caused them after a configurable delay, never in the same write as its
// OK, as real MCU firmware needs.
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
