package plan

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// planDir is a plans directory for tests, with one package file.
type planDir struct {
	t   *testing.T
	dir string
	d   *Dir
}

func newPlanDir(t *testing.T) *planDir {
	t.Helper()
	dir := t.TempDir()
	pd := &planDir{t: t, dir: dir}
	pd.write("firmware/stm32-2_0_0.bin", "image")
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pd.d = d
	return pd
}

func (pd *planDir) write(name, content string) {
	pd.t.Helper()
	path := filepath.Join(pd.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		pd.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		pd.t.Fatal(err)
	}
}

// writePlan writes the example plan, edited, to file name.
func (pd *planDir) writePlan(name string, edit func(d doc)) {
	pd.t.Helper()
	pd.write(name, string(exampleWith(pd.t, edit)))
}

// load loads the directory and returns the plans as "name@file" and the
// errors as strings.
func (pd *planDir) load() (plans []string, errs []string, ps []*Plan) {
	pd.t.Helper()
	ps, es := pd.d.Load()
	for _, p := range ps {
		if p.Dir != pd.dir {
			pd.t.Errorf("plan %s: Dir = %q, want %q", p.Name, p.Dir, pd.dir)
		}
		plans = append(plans, p.Name+"@"+filepath.Base(p.Source))
	}
	for _, e := range es {
		errs = append(errs, e.Error())
	}
	return plans, errs, ps
}

func named(name string) func(d doc) { return func(d doc) { d["name"] = name } }

func TestOpenDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plan.json")
	os.WriteFile(file, []byte("{}"), 0o644)
	tests := []struct {
		name, path, err string
	}{
		{"directory", dir, ""},
		{"file", file, "is not a directory"},
		{"missing", filepath.Join(dir, "nope"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := OpenDir(tt.path)
			if tt.err == "" {
				if err != nil || d.Path() != tt.path {
					t.Errorf("OpenDir = %v, %v; want Path %q", d, err, tt.path)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "plan: ") {
				t.Errorf("OpenDir error = %v, want plan: ...%s...", err, tt.err)
			}
		})
	}
}

func TestDirLoad(t *testing.T) {
	pd := newPlanDir(t)
	pd.writePlan("b.json", named("beta"))
	pd.writePlan("a.json", named("alpha"))
	pd.write("bad.json", `{"name": "bad",`)
	pd.writePlan("dup.json", named("alpha"))
	pd.writePlan("nofile.json", func(d doc) { d["name"] = "nofile"; comp(d, 0)["file"] = "firmware/missing.bin" })
	pd.writePlan("emptyfile.json", func(d doc) { d["name"] = "emptyfile"; comp(d, 0)["file"] = "firmware/empty.bin" })
	pd.write("firmware/empty.bin", "")
	pd.write("notes.txt", "not a plan")
	pd.write(".hidden.json", "not a plan either")
	os.Mkdir(filepath.Join(pd.dir, "sub.json"), 0o755)

	plans, errs, _ := pd.load()
	if want := []string{"alpha@a.json", "beta@b.json"}; !slices.Equal(plans, want) {
		t.Errorf("plans = %q, want %q", plans, want)
	}
	wantErrs := []string{
		filepath.Join(pd.dir, "bad.json") + ":1:16: invalid JSON: unexpected end of file",
		filepath.Join(pd.dir, "dup.json") + `: name: "alpha" is already the name of the plan in ` + filepath.Join(pd.dir, "a.json"),
		filepath.Join(pd.dir, "emptyfile.json") + ": components[0].file: firmware/empty.bin is empty",
		filepath.Join(pd.dir, "nofile.json") + ": components[0].file: firmware/missing.bin: no such file in the plans directory",
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("errors:\n%s\nwant %d", strings.Join(errs, "\n"), len(wantErrs))
	}
	for i, want := range wantErrs {
		if !strings.HasPrefix(errs[i], want) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], want)
		}
	}

	// The previous holder of a name keeps it, even against a file sorted
	// before it.
	pd.writePlan("0first.json", named("beta"))
	plans, errs, _ = pd.load()
	if want := []string{"alpha@a.json", "beta@b.json"}; !slices.Equal(plans, want) {
		t.Errorf("after 0first.json: plans = %q, want %q", plans, want)
	}
	if len(errs) == 0 || !strings.Contains(errs[0], `0first.json: name: "beta" is already the name of the plan in `) {
		t.Errorf("after 0first.json: first error = %q, want 0first.json's duplicate name", errs)
	}
}

func TestDirActivatedNotChangedInPlace(t *testing.T) {
	pd := newPlanDir(t)
	pd.writePlan("a.json", named("alpha"))
	steps := []struct {
		name      string
		edit      func(d doc) // nil: remove a.json
		reformat  bool        // write a.json's current plan reformatted
		wantPlans []string
		wantRetry int    // Strategy.Retries of the served alpha
		wantErr   string // part of the error for a.json, "" for none
	}{
		{name: "first load", edit: named("alpha"), wantPlans: []string{"alpha@a.json"}, wantRetry: 2},
		{name: "reformatted is no change", reformat: true, wantPlans: []string{"alpha@a.json"}, wantRetry: 2},
		{name: "changed while activated", edit: func(d doc) { d["name"] = "alpha"; d["strategy"].(doc)["retries"] = 5 },
			wantPlans: []string{"alpha@a.json"}, wantRetry: 2, wantErr: `activated plan "alpha" was changed in place`},
		{name: "still refused", edit: func(d doc) { d["name"] = "alpha"; d["strategy"].(doc)["retries"] = 5 },
			wantPlans: []string{"alpha@a.json"}, wantRetry: 2, wantErr: "still serving the version loaded from"},
		{name: "broken file keeps activated plan", edit: func(d doc) { d["name"] = "alpha"; d["mode"] = "??" },
			wantPlans: []string{"alpha@a.json"}, wantRetry: 2, wantErr: `mode: "??" is not one of`},
		{name: "saved takes the change", edit: func(d doc) { d["name"] = "alpha"; d["state"] = "saved"; d["strategy"].(doc)["retries"] = 5 },
			wantPlans: []string{"alpha@a.json"}, wantRetry: 5},
		{name: "activated again with the change", edit: func(d doc) { d["name"] = "alpha"; d["strategy"].(doc)["retries"] = 6 },
			wantPlans: []string{"alpha@a.json"}, wantRetry: 6},
		{name: "renamed", edit: func(d doc) { d["name"] = "alpha2"; d["strategy"].(doc)["retries"] = 7 },
			wantPlans: []string{"alpha2@a.json"}},
		{name: "old name is free again", edit: func(d doc) { d["name"] = "alpha"; d["strategy"].(doc)["retries"] = 8 },
			wantPlans: []string{"alpha@a.json"}, wantRetry: 8},
		{name: "removed", wantPlans: nil},
	}
	var current []byte
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			switch {
			case st.reformat:
				pd.write("a.json", "\n\n"+strings.ReplaceAll(string(current), ",", " ,\n "))
			case st.edit == nil:
				os.Remove(filepath.Join(pd.dir, "a.json"))
			default:
				current = exampleWith(t, st.edit)
				pd.write("a.json", string(current))
			}
			plans, errs, ps := pd.load()
			if !slices.Equal(plans, st.wantPlans) {
				t.Errorf("plans = %q, want %q", plans, st.wantPlans)
			}
			if st.wantRetry != 0 && len(ps) == 1 && ps[0].Strategy.Retries != st.wantRetry {
				t.Errorf("served plan has retries %d, want %d", ps[0].Strategy.Retries, st.wantRetry)
			}
			switch {
			case st.wantErr == "" && len(errs) > 0:
				t.Errorf("errors = %q, want none", errs)
			case st.wantErr != "" && (len(errs) != 1 || !strings.Contains(errs[0], st.wantErr)):
				t.Errorf("errors = %q, want one containing %q", errs, st.wantErr)
			}
		})
	}
}

func TestDirPathEscape(t *testing.T) {
	pd := newPlanDir(t)
	outside := filepath.Join(t.TempDir(), "outside.bin")
	os.WriteFile(outside, []byte("secret"), 0o644)
	if err := os.Symlink(outside, filepath.Join(pd.dir, "firmware", "link.bin")); err != nil {
		t.Skipf("symlink: %v", err)
	}
	pd.writePlan("esc.json", func(d doc) { comp(d, 0)["file"] = "firmware/link.bin" })
	pd.writePlan("dotdot.json", func(d doc) { d["name"] = "dotdot"; comp(d, 0)["file"] = "../outside.bin" })
	plans, errs, _ := pd.load()
	if len(plans) != 0 {
		t.Errorf("plans = %q, want none", plans)
	}
	want := []string{
		"dotdot.json: components[0].file: \"../outside.bin\" leaves the plans directory",
		"esc.json: components[0].file: firmware/link.bin: path escapes from parent",
	}
	if len(errs) != len(want) {
		t.Fatalf("errors = %q, want %d", errs, len(want))
	}
	for i := range want {
		if !strings.Contains(errs[i], want[i]) {
			t.Errorf("error %d = %q, want it to contain %q", i, errs[i], want[i])
		}
	}
}

func TestComponentOpen(t *testing.T) {
	pd := newPlanDir(t)
	pd.writePlan("a.json", nil)
	_, errs, ps := pd.load()
	if len(ps) != 1 {
		t.Fatalf("Load: %q", errs)
	}
	p := ps[0]
	c := p.Components[0]
	if got, want := c.Path(p), filepath.Join(pd.dir, "firmware", "stm32-2_0_0.bin"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
	f, err := c.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Digest(f)
	if err != nil || d.Size != int64(len("image")) {
		t.Errorf("Digest of opened component = %+v, %v; want size 5", d, err)
	}
	if _, err := c.Open(&Plan{Name: "x"}); err == nil || !strings.Contains(err.Error(), "Plan.Dir is empty") {
		t.Errorf("Open without Dir: %v, want Plan.Dir is empty", err)
	}
}
