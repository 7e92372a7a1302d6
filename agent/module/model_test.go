package module_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/module"
)

// modelJSON returns the JSON of a built-in model, edited by edit.
func modelJSON(t testing.TB, name string, edit func(doc map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("models", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(doc)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testModel parses a built-in model edited by edit.
func testModel(t testing.TB, name string, edit func(doc map[string]any)) *module.Model {
	t.Helper()
	md, err := module.ParseModel(name+"-test.json", modelJSON(t, name, edit))
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// TestModels checks the built-in models: at least one NB-IoT and one
// Cat-1, the default a Cat-1, every alias found, the model files all
// embedded.
func TestModels(t *testing.T) {
	files, _ := filepath.Glob("models/*.json")
	ms := module.Models()
	if len(ms) != len(files) || len(ms) < 2 {
		t.Fatalf("%d models for %d model files", len(ms), len(files))
	}
	nets := map[string]bool{}
	for _, md := range ms {
		nets[md.Network] = true
		for _, name := range append([]string{md.Name, strings.ToLower(md.Name)}, md.Aliases...) {
			got, err := module.LookupModel(name)
			if err != nil || got != md {
				t.Errorf("LookupModel(%q) = %v, %v; want %s", name, got, err, md.Name)
			}
		}
	}
	if !nets[module.NetworkNBIoT] || !nets[module.NetworkCat1] {
		t.Errorf("networks %v: want an NB-IoT and a Cat-1 model", nets)
	}
	def, err := module.LookupModel(module.DefaultModel)
	if err != nil || def.Network != module.NetworkCat1 {
		t.Errorf("default model %v, %v: want a Cat-1 one", def, err)
	}
	for _, name := range []string{"bc660k", "ec800m"} {
		if _, err := module.LookupModel(name); err != nil {
			t.Error(err)
		}
	}
	_, err = module.LookupModel("sim7600")
	if err == nil || !strings.Contains(err.Error(), "bc660k-gl") || !strings.Contains(err.Error(), "ec800m") {
		t.Errorf("LookupModel(sim7600): %v, want an error listing the models", err)
	}
}

// TestModelIdentity checks what each model says about itself, with the
// IMEI (the default device key), IMSI and ICCID made from its prefixes.
func TestModelIdentity(t *testing.T) {
	tests := []struct {
		model     string
		ati       []string
		cgmi      string
		cgmr      string
		cops      string
		cclk      string
		server    string
		imei, sim string // prefixes
		iccid     string
	}{
		{model: "ec800m", ati: []string{"Quectel", "EC800M", "Revision: EC800MCNLAR06A01M04"}, cgmi: "Quectel", cgmr: "EC800MCNLAR06A01M04",
			cops: `+COPS: 0,0,"CHINA MOBILE",7`, cclk: `+CCLK: "26/06/01,20:00:00+32"`,
			server: `+QIOTCFG: "server",1,"mqtt://iot-south.quectelcn.com:1883"`, imei: "86777206", sim: "46000", iccid: "898600"},
		{model: "bc660k", ati: []string{"Quectel_Ltd", "Quectel_BC660K-GL", "Revision: BC660KGLAAR01A05"}, cgmi: "Quectel_Ltd", cgmr: "Revision: BC660KGLAAR01A05",
			cops: `+COPS: 0,0,"CHINA MOBILE",9`, cclk: `+CCLK: 26/06/01,20:00:00+32`,
			server: `+QIOTCFG: "server",0,"coap://iot-south.quectelcn.com:5683"`, imei: "86508004", sim: "46004", iccid: "898604"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				md, _ := module.LookupModel(tt.model)
				cfg := config(nil)
				cfg.Model, cfg.DeviceKey = md, ""
				h := start(t, cfg)
				h.ok("ATE0")
				if got := h.ok("ATI"); !slices.Equal(got, tt.ati) {
					t.Errorf("ATI: %q, want %q", got, tt.ati)
				}
				h.okLine("AT+CGMI", tt.cgmi)
				h.okLine("AT+CGMM", md.Name)
				h.okLine("AT+CGMR", tt.cgmr)
				h.okLine("AT+COPS?", tt.cops)
				h.okLine("AT+CCLK?", tt.cclk)
				h.okLine(`AT+QIOTCFG="server"`, tt.server)
				h.okLine("AT+CPIN?", "+CPIN: READY")
				h.okLine("AT+CEREG?", "+CEREG: 0,1")
				imei := h.ok("AT+CGSN")[0]
				if len(imei) != 15 || !strings.HasPrefix(imei, tt.imei) || imei != h.m.DeviceKey() {
					t.Errorf("AT+CGSN %q: want a 15-digit IMEI starting %s, the device key (%s)", imei, tt.imei, h.m.DeviceKey())
				}
				h.okLine("AT+CGSN=1", "+CGSN: "+imei)
				if imsi := h.ok("AT+CIMI")[0]; len(imsi) != 15 || !strings.HasPrefix(imsi, tt.sim) {
					t.Errorf("AT+CIMI %q: want 15 digits starting %s", imsi, tt.sim)
				}
				if l := h.ok("AT+QCCID")[0]; len(l) != len("+QCCID: ")+20 || !strings.HasPrefix(l, "+QCCID: "+tt.iccid) {
					t.Errorf("AT+QCCID %q: want 20 digits starting %s", l, tt.iccid)
				}
				if got := h.ok("AT+QIOTINFO?"); !slices.Contains(got, `+QIOTINFO: "type","`+md.Name+`"`) {
					t.Errorf("AT+QIOTINFO?: %q, want the type %s", got, md.Name)
				}
			})
		})
	}
}

// TestModelConfig checks a model's piece size, OTARD maximum and delays.
func TestModelConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		md := testModel(t, "bc660k", func(doc map[string]any) {
			doc["otard_max"] = 512
			doc["piece_size"] = 2000
		})
		cfg := md.Config()
		if cfg.PieceSize != 2000 || cfg.EventDelay != 30*time.Millisecond || cfg.RegDelay != 400*time.Millisecond || cfg.Model != md {
			t.Errorf("Config: piece %d, delays %v %v", cfg.PieceSize, cfg.EventDelay, cfg.RegDelay)
		}
		p, data := onePlan(t, 3000, 0)
		h := otaModule(t, p, func(c *module.Config) {
			c.Model, c.PieceSize = md, md.PieceSize
		})
		h.okLine("AT+QIOTOTARD=?", "+QIOTOTARD: <start>,(1-512)")
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", `+QIOTEVT: 7,10703,"STM32",3000,0,2000`)
		got := h.readOK(0, 974) // clamped to the model's 512
		if len(got) != 512 || string(got) != string(data[:512]) {
			t.Errorf("AT+QIOTOTARD=0,974: %d bytes, want the first 512", len(got))
		}
	})
}

// TestParseModelErrors checks that a broken model file names its field.
func TestParseModelErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(doc map[string]any)
		raw  string
		want string
	}{
		{name: "not JSON", raw: `{"name": `, want: "line 1"},
		{name: "unknown field", edit: func(d map[string]any) { d["colour"] = "blue" }, want: "colour"},
		{name: "name", edit: func(d map[string]any) { d["name"] = "" }, want: "name"},
		{name: "network", edit: func(d map[string]any) { d["network"] = "5g" }, want: "network"},
		{name: "imei", edit: func(d map[string]any) { d["imei_tac"] = "1234" }, want: "imei_tac"},
		{name: "imsi", edit: func(d map[string]any) { d["imsi_prefix"] = "46x00" }, want: "imsi_prefix"},
		{name: "tac", edit: func(d map[string]any) { d["tac"] = "XYZ" }, want: "tac"},
		{name: "zone", edit: func(d map[string]any) { d["network_timezone"] = "+08:10" }, want: "network_timezone"},
		{name: "server", edit: func(d map[string]any) { d["qiot_server"] = map[string]any{"type": 2, "url": "x"} }, want: "qiot_server"},
		{name: "piece", edit: func(d map[string]any) { d["piece_size"] = 0 }, want: "piece_size"},
		{name: "otard", edit: func(d map[string]any) { d["otard_max"] = -1 }, want: "otard_max"},
		{name: "delay", edit: func(d map[string]any) { d["event_delay"] = "soon" }, want: "event_delay"},
		{name: "delay type", edit: func(d map[string]any) { d["reg_delay"] = 5 }, want: "reg_delay"},
		{name: "setting", edit: func(d map[string]any) { d["settings"] = []any{map[string]any{"command": "QSCLK"}} }, want: "settings[0].command"},
		{name: "unsupported", edit: func(d map[string]any) { d["unsupported"] = []any{"CREG"} }, want: "unsupported[0]"},
		{name: "reply", edit: func(d map[string]any) { d["replies"] = []any{map[string]any{"command": "AT+X", "result": "MAYBE"}} }, want: "replies[0]"},
		{name: "line", edit: func(d map[string]any) { d["ati"] = []any{"a\rb"} }, want: "ati"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.edit != nil {
				data = modelJSON(t, "ec800m", tt.edit)
			}
			_, err := module.ParseModel("x.json", data)
			var me *module.ModelError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), "x.json") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseModel: %v, want a ModelError naming x.json and %q", err, tt.want)
			}
		})
	}
}

// FuzzParseModel checks that ParseModel never panics, and that a model
// it accepts serves commands.
func FuzzParseModel(f *testing.F) {
	for _, name := range []string{"ec800m", "bc660k", "eg915u"} {
		f.Add(modelJSON(f, name, nil))
	}
	f.Add([]byte(`{"name": "X"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := module.ParseModel("fuzz.json", data)
		if err != nil {
			return
		}
		cfg := md.Config()
		cfg.EventDelay, cfg.RegDelay, cfg.RebootDelay = 0, 0, 0
		m, err := module.New(cfg)
		if err != nil {
			t.Fatalf("New with a model ParseModel accepted: %v", err)
		}
		defer m.Close()
		h := attach(t, m)
		h.ok("ATE0")
		h.ok("ATI")
		h.ok("AT+CEREG?")
	})
}

// TestModelSwitch restarts a module's state file as another model: the
// firmware version is the new model's, the rest of the state stays.
func TestModelSwitch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := config(nil)
		cfg.StatePath = filepath.Join(t.TempDir(), "module.json")
		h := start(t, cfg)
		h.ok(`AT+QIOTMCUVER="STM32","1_0_0"`)
		imei := h.ok("AT+CGSN")[0]
		cfg.Model = mustLookup(t, "bc660k")
		h = h.restart(cfg)
		h.ok("ATE0")
		h.okLine("AT+CGMR", "Revision: BC660KGLAAR01A05")
		h.okLine("AT+CGSN", imei)
		h.okLine(`AT+QIOTMCUVER="STM32"`, `+QIOTMCUVER: "STM32","1_0_0"`)
	})
}
