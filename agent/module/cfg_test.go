package module_test

import (
	"slices"
	"testing"
	"testing/synctest"
)

func TestQIOTCFG(t *testing.T) {
	tests := []struct {
		name  string
		set   string // "" for a query of the default
		query string
		want  string // the query's one line; "" when set must fail
	}{
		{name: "productinfo default from config", query: `AT+QIOTCFG="productinfo"`, want: `+QIOTCFG: "productinfo","p1demo","s3cret","1"`},
		{name: "productinfo", set: `AT+QIOTCFG="productinfo","pk2","ps2"`, query: `AT+QIOTCFG="productinfo"`, want: `+QIOTCFG: "productinfo","pk2","ps2","1"`},
		{name: "productinfo one value", set: `AT+QIOTCFG="productinfo","pk2"`},
		{name: "productinfo bare", set: `AT+QIOTCFG="productinfo",pk2,ps2`},
		{name: "server default", query: `AT+QIOTCFG="server"`, want: `+QIOTCFG: "server",1,"mqtt://iot-south.quectelcn.com:1883"`},
		{name: "server", set: `AT+QIOTCFG="server",1,"mqtts://iot-south.acceleronix.io:8883"`, query: `AT+QIOTCFG="server"`, want: `+QIOTCFG: "server",1,"mqtts://iot-south.acceleronix.io:8883"`},
		{name: "server lwm2m", set: `AT+QIOTCFG="server",0,"coap://example.com"`, query: `AT+QIOTCFG="server"`, want: `+QIOTCFG: "server",0,"coap://example.com"`},
		{name: "server type 2", set: `AT+QIOTCFG="server",2,"x"`},
		{name: "dk_ds default", query: `AT+QIOTCFG="dk_ds"`, want: `+QIOTCFG: "dk_ds","",""`},
		{name: "dk_ds", set: `AT+QIOTCFG="dk_ds","dev1","sec1"`, query: `AT+QIOTCFG="dk_ds"`, want: `+QIOTCFG: "dk_ds","dev1","sec1"`},
		{name: "dk_ds key only", set: `AT+QIOTCFG="dk_ds","dev1"`, query: `AT+QIOTCFG="dk_ds"`, want: `+QIOTCFG: "dk_ds","dev1",""`},
		{name: "dk_ds too many", set: `AT+QIOTCFG="dk_ds","a","b","c"`},
		{name: "lifetime default", query: `AT+QIOTCFG="lifetime"`, want: `+QIOTCFG: "lifetime",120`},
		{name: "lifetime", set: `AT+QIOTCFG="lifetime",300`, query: `AT+QIOTCFG="lifetime"`, want: `+QIOTCFG: "lifetime",300`},
		{name: "lifetime 0", set: `AT+QIOTCFG="lifetime",0`},
		{name: "tsl", set: `AT+QIOTCFG="tsl",1`, query: `AT+QIOTCFG="tsl"`, want: `+QIOTCFG: "tsl",1`},
		{name: "act 16", set: `AT+QIOTCFG="act",16`},
		{name: "unknown key set", set: `AT+QIOTCFG="colour",1`},
		{name: "unknown key query", set: `AT+QIOTCFG="colour"`},
		{name: "key not quoted", set: `AT+QIOTCFG=server`},
		{name: "read form", set: `AT+QIOTCFG?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, config(nil))
				if tt.set != "" && tt.want == "" {
					h.fail(tt.set)
					return
				}
				if tt.set != "" {
					if lines := h.ok(tt.set); len(lines) != 0 {
						t.Errorf("%s: got lines %q, want none", tt.set, lines)
					}
				}
				h.okLine(tt.query, tt.want)
			})
		})
	}
}

func TestQIOTCFGTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, config(nil))
		lines := h.ok("AT+QIOTCFG=?")
		for _, want := range []string{`+QIOTCFG: "lifetime",(1-65535)`, `+QIOTCFG: "buffer",(0,1)`, `+QIOTCFG: "productinfo",<pk>,<ps>`} {
			if !slices.Contains(lines, want) {
				t.Errorf("AT+QIOTCFG=?: got %q, want it to hold %q", lines, want)
			}
		}
	})
}

// TestQIOTCFGWhileConnected checks that configuration is refused from
// AT+QIOTREG=1 until the module has deregistered, and queries still work.
func TestQIOTCFGWhileConnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, config(nil))
		h.ok("AT+QIOTREG=1")
		h.fail(`AT+QIOTCFG="productinfo","pk2","ps2"`) // registering
		h.expect("+QIOTEVT: 2,10200", "+QIOTEVT: 3,10200")
		for _, line := range []string{
			`AT+QIOTCFG="productinfo","pk2","ps2"`,
			`AT+QIOTCFG="server",1,"mqtt://x"`,
			`AT+QIOTCFG="dk_ds","d","s"`,
			`AT+QIOTCFG="lifetime",60`,
		} {
			h.fail(line)
		}
		h.okLine(`AT+QIOTCFG="productinfo"`, `+QIOTCFG: "productinfo","p1demo","s3cret","1"`)
		h.ok("AT+QIOTREG=0")
		h.expect("+QIOTEVT: 6,10200")
		h.ok(`AT+QIOTCFG="productinfo","pk2","ps2"`)
		h.okLine(`AT+QIOTCFG="productinfo"`, `+QIOTCFG: "productinfo","pk2","ps2","1"`)
	})
}

// TestDeviceKey checks that dk_ds sets the device key and empty strings
// give the IMEI back.
func TestDeviceKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, config(nil))
		imei := h.ok("AT+CGSN")[0]
		h.ok(`AT+QIOTCFG="dk_ds","dev1","sec1"`)
		if got := h.m.DeviceKey(); got != "dev1" {
			t.Errorf("after dk_ds: DeviceKey() = %q, want dev1", got)
		}
		h.ok(`AT+QIOTCFG="dk_ds","",""`)
		if got := h.m.DeviceKey(); got != imei {
			t.Errorf("after dk_ds \"\": DeviceKey() = %q, want the IMEI %s", got, imei)
		}
	})
}

func TestMCUVER(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, config(nil))
		if got := h.ok("AT+QIOTMCUVER?"); len(got) != 0 {
			t.Errorf("AT+QIOTMCUVER? at start: got %q, want no lines", got)
		}
		h.okLine("AT+QIOTMCUVER=?", "+QIOTMCUVER: <MCU_number>,<MCU_version>")
		h.ok(`AT+QIOTMCUVER="MCU_A","1.0.0"`)
		h.ok(`AT+QIOTMCUVER="MCU_B","1_0_0"`)
		h.ok(`AT+QIOTMCUVER="MCU_A","1.1.0-rc1"`)
		h.okLine(`AT+QIOTMCUVER="MCU_A"`, `+QIOTMCUVER: "MCU_A","1.1.0-rc1"`)
		h.fail(`AT+QIOTMCUVER="MCU_C"`)
		want := []string{`+QIOTMCUVER: "MCU_A","1.1.0-rc1"`, `+QIOTMCUVER: "MCU_B","1_0_0"`}
		if got := h.ok("AT+QIOTMCUVER?"); !slices.Equal(got, want) {
			t.Errorf("AT+QIOTMCUVER?: got %q, want %q", got, want)
		}
		h.ok(`AT+QIOTMCUVER="MCU_A",""`) // removes
		h.fail(`AT+QIOTMCUVER="MCU_A"`)
		want = []string{`+QIOTMCUVER: "MCU_B","1_0_0"`}
		if got := h.ok("AT+QIOTMCUVER?"); !slices.Equal(got, want) {
			t.Errorf("AT+QIOTMCUVER? after removing MCU_A: got %q, want %q", got, want)
		}
		for _, bad := range []string{
			`AT+QIOTMCUVER="MCU_B","1 0 0"`,
			`AT+QIOTMCUVER="MCU_B","1/0"`,
			`AT+QIOTMCUVER="MCU_B","v1;2"`,
			`AT+QIOTMCUVER="","1"`,
			`AT+QIOTMCUVER="a,b","1"`,
			`AT+QIOTMCUVER=MCU_B,1`,
			`AT+QIOTMCUVER="MCU_B","1","2"`,
			`AT+QIOTMCUVER="MCU_B","` + string(make65('1')) + `"`,
			`AT+QIOTMCUVER`,
		} {
			h.fail(bad)
		}
		h.okLine(`AT+QIOTMCUVER="MCU_B"`, `+QIOTMCUVER: "MCU_B","1_0_0"`)
	})
}

func make65(c byte) []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = c
	}
	return b
}
