package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(examplePlan))
	files, _ := filepath.Glob("testdata/plans/*.json")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"name":"x","name":"y","texts":{"":""},"push_period":{"from":22,"to":2}}`))
	f.Add([]byte(`[{"a":[1,2,{"b":null}]}]`))
	// Daylight saving time: a start in the spring gap, an end in the
	// autumn overlap.
	f.Add([]byte(strings.Replace(strings.Replace(examplePlan, `"Asia/Shanghai"`, `"America/New_York"`, 1),
		`{"start": "2026-01-01 00:00", "end": "2027-01-01 00:00"}`, `{"start": "2026-03-08 02:30", "end": "2026-11-01 01:30"}`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.json", data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a plan and an error")
			}
			errs := Errors(err)
			if len(errs) == 0 {
				t.Fatalf("Parse error %v holds no *Error", err)
			}
			for _, e := range errs {
				if e.File != "fuzz.json" || e.Rule == "" {
					t.Fatalf("bad *Error %+v", e)
				}
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted plan does not re-validate: %v", err)
		}
		b1, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		q, err := Parse("fuzz.json", b1)
		if err != nil {
			t.Fatalf("Parse(Marshal(p)): %v\n%s", err, b1)
		}
		b2, _ := json.Marshal(q)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the plan:\n%s\n%s", b1, b2)
		}
		if !q.Window.Start.Equal(p.Window.Start) || !q.Window.End.Equal(p.Window.End) {
			t.Fatalf("round trip moved the window: %v..%v, want %v..%v", q.Window.Start, q.Window.End, p.Window.Start, p.Window.End)
		}
		for _, now := range []time.Time{p.Window.Start, p.Window.End.Add(-time.Minute)} {
			p.InPushPeriod(now)
			i, err := p.Next(now, Device{Product: p.Product, Key: "dk", Versions: map[string]string{}})
			if (i < 0) == (err == nil) || i >= len(p.Components) {
				t.Fatalf("Next = %d, %v", i, err)
			}
		}
	})
}
