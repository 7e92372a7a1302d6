package module_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/atota/atota/agent/module"
)

// call sends one request to the control handler and returns the status
// and the decoded JSON body.
func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusNotFound || strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, rec.Body, err)
		}
	}
	return rec.Code, out
}

func TestControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := onePlan(t, 3000, 0)
		p.planWith("manual", func(doc map[string]any) {
			doc["mode"] = "manual"
			doc["texts"] = map[string]string{"zh": "新固件"}
		}, comp{id: "AUX", target: "2", file: p.pkg("aux.bin", firmware(10, 2))})
		h := otaModule(t, p, func(c *module.Config) { c.PieceSize = 1000 })
		ctl := h.m.ControlHandler()

		tests := []struct {
			name         string
			method, path string
			body         string
			code         int
			want         string // a field of the answer, "key=value"; "error" for an error
		}{
			{name: "signal", method: "POST", path: "/v1/signal", body: `{"csq": 7}`, code: 200, want: "csq=7"},
			{name: "signal 99", method: "POST", path: "/v1/signal", body: `{"csq": 99}`, code: 200, want: "csq=99"},
			{name: "signal out of range", method: "POST", path: "/v1/signal", body: `{"csq": 32}`, code: 400, want: "error"},
			{name: "signal missing", method: "POST", path: "/v1/signal", body: `{}`, code: 400, want: "error"},
			{name: "signal unknown field", method: "POST", path: "/v1/signal", body: `{"csq": 3, "rssi": 1}`, code: 400, want: "error"},
			{name: "signal not JSON", method: "POST", path: "/v1/signal", body: `csq=3`, code: 400, want: "error"},
			{name: "battery", method: "POST", path: "/v1/battery", body: `{"battery": 12}`, code: 200, want: "battery=12"},
			{name: "battery out of range", method: "POST", path: "/v1/battery", body: `{"battery": -1}`, code: 400, want: "error"},
			{name: "confirm unknown plan", method: "POST", path: "/v1/confirm", body: `{"plan": "nope"}`, code: 404, want: "error"},
			{name: "confirm a silent plan", method: "POST", path: "/v1/confirm", body: `{"plan": "stm32-2.0.0"}`, code: 404, want: "error"},
			{name: "status by POST", method: "POST", path: "/v1/status", code: 405},
			{name: "signal by GET", method: "GET", path: "/v1/signal", code: 405},
			{name: "unknown path", method: "GET", path: "/v2/status", code: 404},
		}
		for _, tt := range tests { // no t.Run inside a synctest bubble
			code, out := call(t, ctl, tt.method, tt.path, tt.body)
			if code != tt.code {
				t.Errorf("%s: %s %s %s: status %d, want %d (%v)", tt.name, tt.method, tt.path, tt.body, code, tt.code, out)
			}
			switch k, v, _ := strings.Cut(tt.want, "="); {
			case tt.want == "":
			case k == "error":
				if out["error"] == nil || out["error"] == "" {
					t.Errorf("%s: %s %s: %v, want an error", tt.name, tt.method, tt.path, out)
				}
			default:
				if got, _ := json.Marshal(out[k]); string(got) != v {
					t.Errorf("%s: %s %s: %s=%s, want %s", tt.name, tt.method, tt.path, k, got, v)
				}
			}
		}
		h.okLine("AT+CSQ", "+CSQ: 99,99")
		h.okLine("AT+CBC", "+CBC: 0,12,3672")

		// The manual plan, confirmed through the endpoint, is pushed.
		code, out := call(t, ctl, "POST", "/v1/confirm", "")
		if code != 200 || !strings.Contains(mustJSON(out["confirmed"]), "manual") {
			t.Fatalf("POST /v1/confirm: %d %v, want 200 confirming manual", code, out)
		}
		h.expect(`+QIOTEVT: 7,10700,"AUX","","2",30,-113,10`)
		h.ok("AT+QIOTUPDATE=0")

		// The status follows a transfer.
		h.ok("AT+QIOTOTAREQ")
		h.expect("+QIOTEVT: 7,10700,…")
		h.ok("AT+QIOTUPDATE=1")
		h.expect("+QIOTEVT: 7,10701,…", "+QIOTEVT: 7,10702", "+QIOTEVT: 7,10703,…")
		h.readOK(0, 600)
		code, out = call(t, ctl, "GET", "/v1/status", "")
		if code != 200 {
			t.Fatalf("GET /v1/status: %d", code)
		}
		for k, want := range map[string]string{
			"registered": "true", "reg_state": "8", "csq": "99", "bytes_served": "600", "reads": "1",
			"task":       `{"component":"STM32","components":["STM32"],"done":600,"phase":"downloading","piece_len":1000,"piece_start":0,"plan":"stm32-2.0.0","total":3000}`,
			"components": `{"STM32":"1_0_0"}`,
		} {
			if got := mustJSON(out[k]); got != want {
				t.Errorf("status %s: %s, want %s", k, got, want)
			}
		}
		if n, _ := out["events_sent"].(float64); n != 7 {
			t.Errorf("status events_sent %v, want 7", out["events_sent"])
		}

		code, out = call(t, ctl, "POST", "/v1/push", "")
		if code != 200 || mustJSON(out["pushing"]) != "[]" {
			t.Errorf("POST /v1/push during a transfer: %d %v, want 200 and nothing", code, out)
		}
		code, _ = call(t, ctl, "POST", "/v1/reboot", "")
		if code != 202 {
			t.Errorf("POST /v1/reboot: %d, want 202", code)
		}
		if !h.m.Status().Booting {
			t.Error("not booting after POST /v1/reboot")
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// FuzzControl sends random bodies to the control endpoint: every answer is
// a JSON object with a 2xx or 4xx status, and the module goes on.
func FuzzControl(f *testing.F) {
	for _, s := range []string{`{"csq": 3}`, `{"battery": 50}`, `{"plan": "x"}`, ``, `{`, `[]`, `{"csq": 1e99}`, `{"csq": "3"}`, "\x00\xff"} {
		f.Add("signal", s)
		f.Add("battery", s)
		f.Add("confirm", s)
	}
	m, err := module.New(config(nil))
	if err != nil {
		f.Fatal(err)
	}
	defer m.Close()
	ctl := m.ControlHandler()
	f.Fuzz(func(t *testing.T, path, body string) {
		if strings.ContainsAny(path, " ?#%\x00\r\n") || path == "reboot" {
			return
		}
		req, err := http.NewRequest("POST", "/v1/"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		ctl.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("POST /v1/%s %q: status %d", path, body, rec.Code)
		}
		if rec.Code < 300 || strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("POST /v1/%s %q: body %q: %v", path, body, rec.Body, err)
			}
		}
		if st := m.Status(); !(st.CSQ >= 0 && st.CSQ <= 31 || st.CSQ == 99) || st.Battery < 0 || st.Battery > 100 {
			t.Fatalf("POST /v1/%s %q: status csq %d battery %d out of range", path, body, st.CSQ, st.Battery)
		}
	})
}
