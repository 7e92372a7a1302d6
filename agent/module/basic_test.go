package module_test

import (
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd"
)

func TestBasicCommands(t *testing.T) {
	tests := []struct {
		name    string
		csq     int
		battery int
		line    string
		want    []string
		wantErr bool
	}{
		{name: "AT", line: "AT", want: nil},
		{name: "ATI", line: "ATI", want: []string{"Quectel", "EC800M", "Revision: EC800MCNLAR06A01M04"}},
		{name: "ATI0", line: "ATI0", want: []string{"Quectel", "EC800M", "Revision: EC800MCNLAR06A01M04"}},
		{name: "ATI9", line: "ATI9", wantErr: true},
		{name: "CSQ default", line: "AT+CSQ", want: []string{"+CSQ: 25,99"}},
		{name: "CSQ from config", csq: 17, line: "AT+CSQ", want: []string{"+CSQ: 17,99"}},
		{name: "CSQ unknown", csq: 99, line: "AT+CSQ", want: []string{"+CSQ: 99,99"}},
		{name: "CSQ read form", csq: 3, line: "AT+CSQ?", want: []string{"+CSQ: 3,99"}},
		{name: "CSQ test", line: "AT+CSQ=?", want: []string{"+CSQ: (0-31,99),(0-7,99)"}},
		{name: "CSQ set", line: "AT+CSQ=1", wantErr: true},
		{name: "CBC default", line: "AT+CBC", want: []string{"+CBC: 0,100,4200"}},
		{name: "CBC from config", battery: 42, line: "AT+CBC", want: []string{"+CBC: 0,42,3852"}},
		{name: "CBC read", line: "AT+CBC?", wantErr: true},
		{name: "CGSN test", line: "AT+CGSN=?", want: nil},
		{name: "QIOTSTATE at start", line: "AT+QIOTSTATE?", want: []string{"+QIOTSTATE: 1"}},
		{name: "QIOTSTATE exec", line: "AT+QIOTSTATE", wantErr: true},
		{name: "unknown command", line: "AT+FOO", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := config(nil)
				if tt.csq != 0 {
					cfg.CSQ = tt.csq
				}
				if tt.battery != 0 {
					cfg.Battery = tt.battery
				}
				h := start(t, cfg)
				resp, err := h.do(tt.line)
				if tt.wantErr {
					if err == nil {
						t.Fatalf("%s: got OK %q, want an error", tt.line, resp.Lines)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", tt.line, err)
				}
				if !slices.Equal(resp.Lines, tt.want) {
					t.Errorf("%s: got %q, want %q", tt.line, resp.Lines, tt.want)
				}
			})
		})
	}
}

// TestCGSN checks the IMEI: 15 digits with a valid Luhn check digit, the
// device key by default, and kept in the state file.
func TestCGSN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.StatePath = filepath.Join(t.TempDir(), "state.json")
		h := start(t, cfg)
		lines := h.ok("AT+CGSN")
		if len(lines) != 1 || !regexp.MustCompile(`^[0-9]{15}$`).MatchString(lines[0]) {
			t.Fatalf("AT+CGSN: got %q, want one line of 15 digits", lines)
		}
		imei := lines[0]
		if !luhnValid(imei) {
			t.Errorf("IMEI %s: Luhn check digit is wrong", imei)
		}
		if got := h.m.DeviceKey(); got != imei {
			t.Errorf("DeviceKey() = %q, want the IMEI %q", got, imei)
		}
		h = h.restart(cfg)
		h.okLine("AT+CGSN", imei)
	})
}

func luhnValid(s string) bool {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*module.Config)
		want   string
	}{
		{name: "piece size 0", change: func(c *module.Config) { c.PieceSize = 0 }, want: "piece size 0"},
		{name: "csq 32", change: func(c *module.Config) { c.CSQ = 32 }, want: "csq 32"},
		{name: "csq -1", change: func(c *module.Config) { c.CSQ = -1 }, want: "csq -1"},
		{name: "battery 101", change: func(c *module.Config) { c.Battery = 101 }, want: "battery 101"},
		{name: "negative delay", change: func(c *module.Config) { c.EventDelay = -time.Second }, want: "cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := module.DefaultConfig()
			tt.change(&cfg)
			m, err := module.New(cfg)
			if err == nil {
				m.Close()
				t.Fatal("New: got no error")
			}
			if !strings.HasPrefix(err.Error(), "module: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %q, want a module error naming %q", err, tt.want)
			}
		})
	}
}

// TestCMEE checks that the standard commands honour AT+CMEE while QIOT
// commands answer plain ERROR, as the QuecThing documents show.
func TestCMEE(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, config(nil))
		h.ok("AT+CMEE=1")
		_, err := h.do("AT+CSQ=1")
		if want := atcmd.CMEOperationNotSupported; !errors.Is(err, want) {
			t.Errorf("AT+CSQ=1: got %v, want %v", err, want)
		}
		h.fail("AT+QIOTREG=7")
	})
}
