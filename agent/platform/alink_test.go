package platform

import (
	"errors"
	"strings"
	"testing"
)

const md5Hex = "9b1f0c2d3e4a5b6c7d8e9f0a1b2c3d4e"

func TestParseAlinkJob(t *testing.T) {
	push := func(data string) string {
		return `{"code":"1000","id":1719000000123,"message":"success","data":` + data + `}`
	}
	tests := []struct {
		name      string
		payload   string
		want      *Job // nil with wantNone: nothing pending
		wantNone  bool
		wantField string // the error's field; "" with wantStep 0: no error
		wantStep  int
	}{
		{name: "spec example", payload: push(`{"version":"2.3.1","size":524288,"module":"modem",
			"url":"https://ota.local.test/pkg/modem-2.3.1.bin?Expires=1719086400&Signature=abc",
			"signMethod":"Md5","sign":"` + md5Hex + `","md5":"` + md5Hex + `",
			"extData":{"channel":"beta","_package_udi":"{\"note\":\"radio fix\"}"}}`),
			want: &Job{Module: "modem", Version: "2.3.1", Files: []File{{Name: "modem-2.3.1.bin", URL: "https://ota.local.test/pkg/modem-2.3.1.bin?Expires=1719086400&Signature=abc", Size: 524288, Algo: MD5, Digest: md5Hex}}}},
		{name: "get reply, number code and id string", payload: `{"id":"4102","code":200,"data":{"version":"2","size":10,"url":"http://h/x/y/a.bin","signMethod":"SHA256","sign":"` + strings.Repeat("A", 64) + `","module":"STM32","isDiff":1,"extData":{"source_version":"1","min_battery":30}}}`,
			want: &Job{Module: "STM32", Version: "2", Delta: true, Source: "1", MinBattery: new(30), Files: []File{{Name: "a.bin", URL: "http://h/x/y/a.bin", Size: 10, Algo: SHA256, Digest: strings.Repeat("a", 64)}}}},
		{name: "nothing pending", payload: `{"id":"4102","code":200,"data":{}}`, wantNone: true},
		{name: "malformed JSON", payload: `{"code":"1000","data":{`, wantStep: StepFailed},
		{name: "unknown field", payload: push(`{"version":"2","size":10,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `","colour":"red"}`), wantField: "data", wantStep: StepFailed},
		{name: "unknown envelope field", payload: `{"code":"1000","id":1,"data":{},"extra":1}`, wantStep: StepFailed},
		{name: "missing version", payload: push(`{"size":10,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "version", wantStep: StepFailed},
		{name: "missing size", payload: push(`{"version":"2","url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "size", wantStep: StepFailed},
		{name: "missing sign", payload: push(`{"version":"2","size":10,"url":"http://h/a","signMethod":"SHA256"}`), wantField: "sign", wantStep: StepFailed},
		{name: "missing url", payload: push(`{"version":"2","size":10,"signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "url", wantStep: StepFailed},
		{name: "sign not hex", payload: push(`{"version":"2","size":10,"url":"http://h/a","signMethod":"Md5","sign":"xyz"}`), wantField: "sign", wantStep: StepFailed},
		{name: "md5 differs from sign", payload: push(`{"version":"2","size":10,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `","md5":"` + strings.Repeat("0", 32) + `"}`), wantField: "md5", wantStep: StepFailed},
		{name: "non-HTTP scheme", payload: push(`{"version":"2","size":10,"url":"ftp://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "url", wantStep: StepDownload},
		{name: "huge declared size", payload: push(`{"version":"2","size":5000000000000,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "size", wantStep: StepDownload},
		{name: "negative size", payload: push(`{"version":"2","size":-1,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "size", wantStep: StepFailed},
		{name: "MQTT download", payload: push(`{"version":"2","size":10,"signMethod":"Md5","sign":"` + md5Hex + `","dProtocol":"mqtt","streamId":7001,"streamFileId":1}`), wantField: "dProtocol", wantStep: StepDownload},
		{name: "wrong type", payload: push(`{"version":2,"size":10,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}`), wantField: "data", wantStep: StepFailed},
		{name: "bad code", payload: `{"code":"500","id":1,"data":{}}`, wantField: "code", wantStep: StepFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseAlinkJob([]byte(tt.payload), 1000<<20)
			if tt.wantStep != 0 {
				var je *JobError
				if !errors.As(err, &je) {
					t.Fatalf("err = %v, want a *JobError", err)
				}
				if je.Field != tt.wantField || je.Step != tt.wantStep {
					t.Errorf("JobError field %q step %d (%v), want field %q step %d", je.Field, je.Step, je, tt.wantField, tt.wantStep)
				}
				if d := je.Desc(); d == "" || len(d) > 128 {
					t.Errorf("Desc() = %q: want 1 to 128 characters", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNone {
				if j != nil {
					t.Errorf("job = %+v, want none", j)
				}
				return
			}
			if j.Key() != tt.want.Key() || j.Delta != tt.want.Delta || j.Source != tt.want.Source || j.Files[0] != tt.want.Files[0] ||
				(j.MinBattery == nil) != (tt.want.MinBattery == nil) {
				t.Errorf("job = %+v %+v\nwant %+v %+v", j, j.Files, tt.want, tt.want.Files)
			}
		})
	}
}

func TestJobToPlan(t *testing.T) {
	j := &Job{Module: "STM32", Version: "2_0_0", Delta: true, MinBattery: new(40),
		Files: []File{{Name: "fw.bin", URL: "http://h/fw.bin", Size: 10, Algo: MD5, Digest: md5Hex}}}
	p, err := j.ToPlan("p1", "dev1", "/cache/x", mustTime("2026-01-02T03:04:05Z"), map[string]string{"STM32": "1_0_0"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Components[0]
	if p.Name != "STM32@2_0_0" || p.Product != "p1" || len(p.Whitelist) != 1 || p.Whitelist[0] != "dev1" || p.MinBattery() != 40 ||
		c.ID != "STM32" || c.Package != "delta" || c.SourceVersion != "1_0_0" || c.File != "0-fw.bin" || p.Dir != "/cache/x" {
		t.Errorf("plan = %+v, component %+v", p, c)
	}
}

func TestParseHuaweiEvent(t *testing.T) {
	sha := strings.Repeat("b", 64)
	ev := func(kind, paras string) string {
		return `{"object_device_id":"dev1","services":[{"service_id":"$ota","event_type":"` + kind + `","event_time":"20240601T081500Z","paras":` + paras + `}]}`
	}
	tests := []struct {
		name      string
		payload   string
		wantQuery bool
		wantJob   string // Key of the job
		wantField string
	}{
		{name: "version query", payload: ev("version_query", "{}"), wantQuery: true},
		{name: "software upgrade", payload: ev("software_upgrade", `{"version":"2","url":"https://h/a/b/fw.bin","file_size":10,"access_token":"tok","expires":86400,"sign":"`+sha+`"}`), wantJob: "STM32@2/" + sha},
		{name: "firmware upgrade", payload: ev("firmware_upgrade_v2", `{"version":"9","url":"https://h/m.bin","file_size":10,"sign":"`+sha+`"}`), wantJob: "default@9/" + sha},
		{name: "missing sign", payload: ev("software_upgrade", `{"version":"2","url":"https://h/fw.bin","file_size":10}`), wantField: "paras.sign"},
		{name: "unknown event", payload: ev("reboot", `{}`), wantField: "event_type"},
		{name: "unknown para", payload: ev("software_upgrade", `{"version":"2","colour":1}`), wantField: "paras"},
		{name: "malformed", payload: `{"services":[`, wantField: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, q, err := ParseHuaweiEvent([]byte(tt.payload), "STM32", 1<<30)
			if tt.wantQuery || tt.wantJob != "" {
				if err != nil {
					t.Fatal(err)
				}
				if q != tt.wantQuery || tt.wantJob != "" && (j == nil || j.Key() != tt.wantJob) {
					t.Errorf("query %v, job %+v; want query %v, job %s", q, j, tt.wantQuery, tt.wantJob)
				}
				return
			}
			var je *JobError
			if !errors.As(err, &je) || je.Field != tt.wantField {
				t.Errorf("err = %v, want a *JobError for field %q", err, tt.wantField)
			}
		})
	}
	if got := []int{HuaweiResultCode(-2), HuaweiResultCode(-3), HuaweiResultCode(-4), HuaweiResultCode(-1), HuaweiResultCode(40)}; got[0] != 6 || got[1] != 7 || got[2] != 10 || got[3] != 255 || got[4] != 0 {
		t.Errorf("result codes %v, want [6 7 10 255 0]", got)
	}
}

func FuzzParseAlinkJob(f *testing.F) {
	f.Add([]byte(`{"code":"1000","id":1,"data":{"version":"2","size":10,"url":"http://h/a","signMethod":"Md5","sign":"` + md5Hex + `"}}`))
	f.Add([]byte(`{"id":"1","code":200,"data":{}}`))
	f.Add([]byte(`{"code":"1000","data":{"files":[{"fileName":"a.bin","fileSize":1,"fileUrl":"http://h/a","fileSign":"x"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := ParseAlinkJob(data, 1<<20)
		if err == nil && j != nil {
			if j.check(1<<20) != nil {
				t.Errorf("accepted a job that fails its own check: %+v", j)
			}
			if _, err := j.ToPlan("p", "d", "/x", mustTime("2026-01-01T00:00:00Z"), nil); err != nil {
				t.Errorf("accepted job %+v does not make a plan: %v", j, err)
			}
		}
	})
}

func FuzzParseHuaweiEvent(f *testing.F) {
	f.Add([]byte(`{"services":[{"service_id":"$ota","event_type":"version_query","paras":{}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, _, err := ParseHuaweiEvent(data, "C", 1<<20)
		if err == nil && j != nil && j.check(1<<20) != nil {
			t.Errorf("accepted a job that fails its own check: %+v", j)
		}
	})
}

// TestMultiFileJob: a files[] job becomes one component per file, in list
// order, named by extData.components or by the file names (spec §6).
func TestMultiFileJob(t *testing.T) {
	sha := strings.Repeat("c", 64)
	for _, tt := range []struct {
		name string
		ext  string
		want []string
	}{
		{name: "file names", ext: ``, want: []string{"app", "boot"}},
		{name: "extData.components", ext: `,"extData":{"components":["APP","BOOT"]}`, want: []string{"APP", "BOOT"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			payload := `{"code":"1000","id":1,"data":{"version":"3.0.0","signMethod":"SHA256","module":"mcu","files":[` +
				`{"fileName":"app.bin","fileSize":81920,"fileUrl":"http://h/app.bin","fileSign":"` + sha + `"},` +
				`{"fileName":"boot.bin","fileSize":4096,"fileUrl":"http://h/boot.bin","fileSign":"` + sha + `"}]` + tt.ext + `}}`
			j, err := ParseAlinkJob([]byte(payload), 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			p, err := j.ToPlan("p1", "dev1", "/c", mustTime("2026-01-01T00:00:00Z"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range p.Components {
				got = append(got, c.ID)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || p.Components[1].File != "1-boot.bin" {
				t.Errorf("components %v (files %s, %s), want %v", got, p.Components[0].File, p.Components[1].File, tt.want)
			}
		})
	}
}
