package mcu

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/atota/atota/atcmd"
)

// PolicyError is an update refused by policy: a minimum of the plan is
// not met. The MCU has answered AT+QIOTUPDATE=0, or, for a package whose
// header shows an image larger than the target holds, stopped reading it
// before writing anything.
type PolicyError struct {
	Component string
	What      string // "battery", "signal" or "space"
	Have      int64
	Need      int64
	Unit      string // "%", " dBm", " bytes"
	// Detail, when set, replaces the "have below need" wording, e.g.
	// for a signal the module cannot measure (AT+CSQ rssi 99, Have 0).
	Detail string
}

func (e *PolicyError) Error() string {
	var why string
	if e.Detail != "" {
		why = e.Detail
	} else {
		why = fmt.Sprintf("%s %d%s is below the plan's minimum %d%s (short by %d%s)",
			e.What, e.Have, e.Unit, e.Need, e.Unit, e.Need-e.Have, e.Unit)
	}
	msg := fmt.Sprintf("mcu: update of %s refused: %s", e.Component, why)
	switch e.What {
	case "battery":
		msg += "; charge the battery and try again"
	case "signal":
		msg += "; improve the antenna or coverage and try again"
	case "space":
		msg += "; use a target with a larger slot or a smaller package"
	}
	return msg
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
func (s *session) readCSQ(ctx context.Context) (int, error) {
	resp, err := s.do(ctx, atcmd.Command{Name: "+CSQ"})
	if err != nil {
		return 0, err
	}
	return parseCSQ(resp)
}

// parseCSQ returns the rssi of an AT+CSQ answer.
func parseCSQ(resp *atcmd.Response) (int, error) {
	v, ok := resp.Value("+CSQ")
	if !ok {
		return 0, fmt.Errorf("mcu: AT+CSQ: no +CSQ line in the answer %q", resp.Lines)
	}
	rssi, _, _ := strings.Cut(v, ",")
	n, err := strconv.Atoi(strings.TrimSpace(rssi))
	if err != nil {
		return 0, fmt.Errorf("mcu: AT+CSQ: rssi %q in %q is not a number", rssi, v)
	}
	return n, nil
}

// checkPolicy refuses an offer whose minimums the device does not meet
// with a *PolicyError; any other error means a check could not be made.
//
// [INF] spec §7: the plan's minimums only take effect if the device checks
// them: battery percent >= batteryLimit, signal dBm (from AT+CSQ) >=
// minSignalIntensity, with rssi 99 (unknown) failing, and the target's
// free space >= useSpace. This is the only place that rule is made.
func (s *session) checkPolicy(ctx context.Context, o Offer) error {
	bat, err := s.cfg.Battery(ctx)
	if err != nil {
		return fmt.Errorf("mcu: cannot check the plan's battery minimum for %s: %w", o.Component, err)
	}
	if bat < o.MinBattery {
		return &PolicyError{Component: o.Component, What: "battery", Have: int64(bat), Need: int64(o.MinBattery), Unit: "%"}
	}
	rssi, err := s.readCSQ(ctx)
	if err != nil {
		return fmt.Errorf("mcu: cannot check the plan's signal minimum for %s: %w", o.Component, err)
	}
	dbm, ok := SignalDBm(rssi)
	if !ok {
		return &PolicyError{Component: o.Component, What: "signal", Need: int64(o.MinSignalDBm), Unit: " dBm",
			Detail: fmt.Sprintf("signal unknown (AT+CSQ rssi %d); the plan needs at least %d dBm", rssi, o.MinSignalDBm)}
	}
	if dbm < o.MinSignalDBm {
		return &PolicyError{Component: o.Component, What: "signal", Have: int64(dbm), Need: int64(o.MinSignalDBm), Unit: " dBm"}
	}
	free, err := s.cfg.Target.Capacity(ctx)
	if err != nil {
		return fmt.Errorf("mcu: cannot check the plan's space minimum for %s: %w", o.Component, err)
	}
	if free < o.Size {
		return &PolicyError{Component: o.Component, What: "space", Have: free, Need: o.Size, Unit: " bytes",
			Detail: fmt.Sprintf("space in %s is %d bytes, below the plan's %d bytes (short by %d bytes)", s.cfg.Target, free, o.Size, o.Size-free)}
	}
	s.log.Info("plan meets the minimums", "component", o.Component, "battery", bat, "min_battery", o.MinBattery,
		"signal_dbm", dbm, "min_signal_dbm", o.MinSignalDBm, "size", o.Size)
	return nil
}
