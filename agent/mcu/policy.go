package mcu

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/atota/atota/atcmd"
)

// PolicyError is an update refused by policy: a minimum of the plan is
// not met. The MCU has answered AT+QIOTUPDATE=0.
type PolicyError struct {
	Component string
	What      string // "battery", "signal" or "space"
	Have      int64
	Need      int64
	Unit      string // "%", "dBm", "bytes"
	Detail    string // extra words, e.g. "signal unknown (CSQ 99)"
}

func (e *PolicyError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("mcu: update of %s refused: %s", e.Component, e.Detail)
	}
	return fmt.Sprintf("mcu: update of %s refused: %s %d%s is below the plan's minimum %d%s (short by %d%s)",
		e.Component, e.What, e.Have, e.Unit, e.Need, e.Unit, e.Need-e.Have, e.Unit)
}

// SignalDBm converts a CSQ rssi to dBm (3GPP TS 27.007): -113 + 2*rssi for
// 0 to 31; 99 (unknown) is reported as ok == false.
func SignalDBm(rssi int) (dbm int, ok bool) {
	if rssi < 0 || rssi > 31 {
		return 0, false
	}
	return -113 + 2*rssi, true
}

// readCSQ asks the module for its signal with AT+CSQ and returns the rssi.
func readCSQ(ctx context.Context, c *atcmd.Client) (int, error) {
	resp, err := c.Do(ctx, atcmd.Command{Name: "+CSQ"})
	if err != nil {
		return 0, fmt.Errorf("mcu: AT+CSQ: %w", err)
	}
	v, ok := resp.Value("+CSQ")
	if !ok {
		return 0, fmt.Errorf("mcu: AT+CSQ: no +CSQ line in %q", resp.Lines)
	}
	rssi, _, _ := strings.Cut(v, ",")
	n, err := strconv.Atoi(strings.TrimSpace(rssi))
	if err != nil {
		return 0, fmt.Errorf("mcu: AT+CSQ: bad rssi in %q", v)
	}
	return n, nil
}

// checkPolicy refuses an offer whose minimums the device does not meet:
// battery, signal (from AT+CSQ) and free space in the target (spec §7).
func (s *session) checkPolicy(ctx context.Context, o Offer) error {
	bat, err := s.cfg.Battery(ctx)
	if err != nil {
		return fmt.Errorf("mcu: battery: %w", err)
	}
	if bat < o.MinBattery {
		return &PolicyError{Component: o.Component, What: "battery", Have: int64(bat), Need: int64(o.MinBattery), Unit: "%"}
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	rssi, err := readCSQ(cctx, s.c)
	cancel()
	if err != nil {
		return err
	}
	dbm, ok := SignalDBm(rssi)
	if !ok {
		return &PolicyError{Component: o.Component, What: "signal", Detail: fmt.Sprintf("signal unknown (AT+CSQ rssi %d); the plan needs at least %d dBm", rssi, o.MinSignalDBm)}
	}
	if dbm < o.MinSignalDBm {
		return &PolicyError{Component: o.Component, What: "signal", Have: int64(dbm), Need: int64(o.MinSignalDBm), Unit: " dBm"}
	}
	if free := s.cfg.Target.Capacity(); free < o.Size {
		return &PolicyError{Component: o.Component, What: "space", Have: free, Need: o.Size, Unit: " bytes"}
	}
	s.log.Info("plan accepted", "component", o.Component, "target", o.Target, "battery", bat, "signal_dbm", dbm, "size", o.Size)
	return nil
}
