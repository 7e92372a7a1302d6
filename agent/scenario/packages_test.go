package scenario

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/agent/pack"
	"github.com/atota/atota/flashsim"
)

// packageScenario is a one-component update of STM32 1_0_0 to 2_0_0 in
// a package of kind, with extra YAML lines for the component, the MCU and
// the rest of the scenario.
func packageScenario(kind, size, comp, mcu, rest string) string {
	return fmt.Sprintf(`
timeout: 60s
module:
  piece_size: 4KiB
  event_delay: 1ms
  reg_delay: 2ms
  plans:
    - name: stm32-2.0.0
      components:
        - {id: STM32, target_version: 2_0_0, size: %s, package: %s%s}
mcu:
  components: [{id: STM32, version: 1_0_0}]
  sha256: true
  retry_delay: 10ms
  timeouts: {command: 500ms, read: 500ms, payload: 1s, plan: 500ms, event: 2s}
%s
%s`, size, kind, comp, mcu, rest)
}

// runPackage runs a scenario given as YAML in a work directory it
// returns, with the result.
func runPackage(t *testing.T, name, yaml string) (*Result, string) {
	t.Helper()
	sc, err := Parse(name+".yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := Run(t.Context(), sc, 1, Options{WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return res, dir
}

// summary returns the result for people.
func summary(res *Result) string {
	var b bytes.Buffer
	res.WriteSummary(&b)
	return b.String()
}

// bootImage boots the flash a run left in dir and returns the first n
// bytes of the slot that boots, and the slot.
func bootImage(t *testing.T, dir, part string, n int64) ([]byte, flashsim.Slot) {
	t.Helper()
	f, err := flashsim.Load(filepath.Join(dir, FlashFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := flashDevice(t, f, part).Boot()
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, n)
	if _, err := f.ReadAt(img, s.Off); err != nil {
		t.Fatal(err)
	}
	return img, s
}

func flashDevice(t *testing.T, f *flashsim.Flash, part string) *flashsim.Device {
	t.Helper()
	p, err := flashsim.LookupPart(part)
	if err != nil {
		t.Fatal(err)
	}
	l, err := flashsim.DefaultLayout(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// readPackage reads the header of a package file of a run's plans.
func readPackage(t *testing.T, dir, file string) (*pack.Header, int64) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "plans", filepath.FromSlash(file)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := pack.ReadHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return h, int64(len(data))
}

// TestDeltaUpdate: a delta crosses the link instead of the image, the
// plan names it with its source version, and the flash ends with the
// image the delta builds from the MCU's old image, not with the raw
// image of the new version.
func TestDeltaUpdate(t *testing.T) {
	const size = 24 << 10
	res, dir := runPackage(t, "delta", packageScenario("delta", "24KiB", "", "", ""))
	if !res.Passed() || res.Outcome != Updated {
		t.Fatalf("the delta update failed:\n%s", summary(res))
	}
	t.Logf("\n%s", summary(res))

	h, pkgSize := readPackage(t, dir, "firmware/STM32-1_0_0-to-2_0_0.pkg")
	old := Firmware("STM32", "1_0_0", size)
	if h.Kind != pack.Delta || h.SourceSHA256 != sha256.Sum256(old) || h.SourceSize != size {
		t.Errorf("package: %v, want a delta from the MCU's image of 1_0_0 (%d bytes, sha256 %x)", h, size, sha256.Sum256(old))
	}
	c := res.Components[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"package kind", c.Package, "delta"},
		{"package size", c.Size, pkgSize},
		{"image size", c.ImageSize, h.TargetSize},
		{"bytes served", c.Served, pkgSize},
		{"served under a tenth of the image", c.Served*10 < c.ImageSize, true},
		{"image grows", h.TargetSize > size, true},
		{"package bytes", res.PackageBytes, pkgSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}

	img, slot := bootImage(t, dir, DefaultPart, h.TargetSize)
	if sha256.Sum256(img) != h.TargetSHA256 {
		t.Errorf("slot %s does not hold the image the delta builds (sha256 %x)", slot, h.TargetSHA256)
	}
	if raw := Firmware("STM32", "2_0_0", size); bytes.Equal(img[:size], raw) {
		t.Error("the flash holds the raw image of 2_0_0, not the rebuild the delta makes")
	}
	if !bytes.Contains(img, firmwareTag("STM32", "2_0_0")) {
		t.Error("the new image does not carry its version tag")
	}

	var doc struct {
		Components []map[string]any `json:"components"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "plans", "stm32-2.0.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	comp := doc.Components[0]
	if comp["package"] != "delta" || comp["source_version"] != "1_0_0" || comp["file"] != "firmware/STM32-1_0_0-to-2_0_0.pkg" {
		t.Errorf("plan component %v, want package delta, source_version 1_0_0 and the delta's file", comp)
	}

	out, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"package":"delta","image_size":%d`, h.TargetSize); !strings.Contains(string(out), want) {
		t.Errorf("result JSON %s does not say %s", out, want)
	}
	if want := fmt.Sprintf("delta package of %d bytes for a %d-byte image, %d bytes served", pkgSize, h.TargetSize, pkgSize); !strings.Contains(summary(res), want) {
		t.Errorf("summary does not say %q:\n%s", want, summary(res))
	}
}

// TestFullPackageSigned: a signed full package, the MCU requiring the
// run's key, ends with the image of the new version.
func TestFullPackageSigned(t *testing.T) {
	res, dir := runPackage(t, "full", packageScenario("full", "12KiB", ", sign: true", "  verify_key: scenario", `
expect:
  result: updated
  versions: {STM32: 2_0_0}
  events: ["package:full", "7,10705"]
`))
	if !res.Passed() {
		t.Fatalf("the signed full update failed:\n%s", summary(res))
	}
	h, _ := readPackage(t, dir, "firmware/STM32-2_0_0.signed.pkg")
	if h.Kind != pack.Full || !h.Signed() {
		t.Errorf("package %v, signed %v; want a signed full package", h, h.Signed())
	}
	want := Firmware("STM32", "2_0_0", 12<<10)
	if img, slot := bootImage(t, dir, DefaultPart, int64(len(want))); !bytes.Equal(img, want) {
		t.Errorf("slot %s does not hold the image of 2_0_0", slot)
	}
	if c := res.Components[0]; c.Package != "full" || c.ImageSize != int64(len(want)) || c.Size <= c.ImageSize {
		t.Errorf("component %+v, want a full package a little larger than its %d-byte image", c, len(want))
	}
}

// TestPackageRefused: a package the MCU's key did not sign is refused
// before anything is written: the update fails, the old image runs, the
// other slot is still erased.
func TestPackageRefused(t *testing.T) {
	tests := []struct {
		name, kind, comp, key string
	}{
		{name: "wrong key", kind: "delta", comp: ", sign: true", key: "wrong"},
		{name: "unsigned", kind: "full", key: "scenario"},
		{name: "raw image", kind: "raw", key: "scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, dir := runPackage(t, "refused", packageScenario(tt.kind, "8KiB", tt.comp, "  verify_key: "+tt.key, `
expect:
  result: failed
  exit_code: 1
  versions: {STM32: 1_0_0}
  events: ["cycle:verify_failed"]
  no_events: ["7,10705"]
`))
			if !res.Passed() {
				t.Fatalf("want the update refused:\n%s", summary(res))
			}
			old := Firmware("STM32", "1_0_0", 8<<10)
			f, err := flashsim.Load(filepath.Join(dir, FlashFile))
			if err != nil {
				t.Fatal(err)
			}
			d := flashDevice(t, f, DefaultPart)
			if img, slot := bootImage(t, dir, DefaultPart, int64(len(old))); !bytes.Equal(img, old) {
				t.Errorf("slot %s does not hold the old image", slot)
			}
			other := make([]byte, 16<<10)
			if _, err := f.ReadAt(other, d.Inactive().Off); err != nil {
				t.Fatal(err)
			}
			if i := slices.IndexFunc(other, func(b byte) bool { return b != 0xFF }); i >= 0 {
				t.Errorf("byte %d of the inactive slot %s was written (%#x) by a refused update", i, d.Inactive(), other[i])
			}
		})
	}
}

// TestDeltaPowerCutSweep cuts the power at flash operation n of the
// first update cycle of a delta update, for n = 1, 2, ... until the
// cycle gets past n: the erases and writes of every chunk, and the boot
// record as the new image is set to boot. Every run must end updated
// with the image the delta builds booting, and no cut may leave a mix of
// the old and the new image booting (a corrupt image).
func TestDeltaPowerCutSweep(t *testing.T) {
	const maxOps = 200
	yaml := func(op int) string {
		return packageScenario("delta", "6KiB", "", "", fmt.Sprintf(`
faults:
  - {type: power_cut, op: %d}
expect:
  result: updated
  versions: {STM32: 2_0_0}
`, op))
	}
	var target [32]byte
	for op := 1; ; op++ {
		if op > maxOps {
			t.Fatalf("the first cycle still did %d flash operations; a delta of a 6 KiB image needs far fewer", maxOps)
		}
		res, dir := runPackage(t, fmt.Sprintf("cut-%d", op), yaml(op))
		if !res.Passed() {
			t.Fatalf("power cut at operation %d:\n%s", op, summary(res))
		}
		h, _ := readPackage(t, dir, "firmware/STM32-1_0_0-to-2_0_0.pkg")
		target = h.TargetSHA256
		if img, slot := bootImage(t, dir, DefaultPart, h.TargetSize); sha256.Sum256(img) != target {
			t.Fatalf("power cut at operation %d: slot %s does not hold the image the delta builds", op, slot)
		}
		i := slices.IndexFunc(res.Events, func(e Event) bool { return e.Name == "cycle:power_cut" })
		if i >= 0 {
			t.Logf("operation %d: %s; %d cycles", op, res.Events[i].Text, res.Cycles)
		}
		if i < 0 {
			if op < 10 {
				t.Fatalf("no power cut at operation %d: the update did fewer flash operations than a delta apply needs", op)
			}
			t.Logf("%d flash operations cut one by one; operation %d is past the update", op-1, op)
			return
		}
	}
}

// TestRebuild: the new image of a delta is deterministic, carries its
// new version tag, keeps most of the old image and grows a little; tiny
// images do not break it.
func TestRebuild(t *testing.T) {
	old := Firmware("STM32", "1_0_0", 32<<10)
	keep := bytes.Clone(old)
	a, b := rebuild(old, "STM32", "1_0_0", "2_0_0"), rebuild(old, "STM32", "1_0_0", "2_0_0")
	if !bytes.Equal(a, b) {
		t.Fatal("two rebuilds differ")
	}
	if !bytes.Equal(old, keep) {
		t.Fatal("rebuild changed its source")
	}
	if grow := len(a) - len(old); grow != 1<<10 {
		t.Errorf("the rebuild grows by %d bytes, want 1 KiB of new code", grow)
	}
	if !bytes.Contains(a, firmwareTag("STM32", "2_0_0")) || bytes.Contains(a, firmwareTag("STM32", "1_0_0")) {
		t.Error("the rebuild does not carry the new version tag instead of the old")
	}
	if !bytes.Equal(a[:64], old[:64]) {
		t.Error("the rebuild changed the vector table")
	}
	same := 0
	for i := range len(old) / 2 {
		if a[i] == old[i] {
			same++
		}
	}
	if same < len(old)/2-64 {
		t.Errorf("the first half of the rebuild keeps %d of %d bytes, want all but a few words", same, len(old)/2)
	}
	for _, n := range []int{1, 10, 63, 64, 100, 200} {
		src := Firmware("A", "1", n)
		if got := rebuild(src, "A", "1", "2"); len(got) <= n {
			t.Errorf("rebuild of %d bytes: %d bytes, want more", n, len(got))
		}
	}
}

// TestRawPackageUnchanged: a component without package is served as the
// raw image, named and described in its plan as before packages.
func TestRawPackageUnchanged(t *testing.T) {
	sc, err := Parse("raw.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	c := &sc.Module.Plans[0].Components[0]
	if c.Package != PackageRaw {
		t.Errorf("package = %q, want %q by default", c.Package, PackageRaw)
	}
	bs, err := buildAll(sc)
	if err != nil {
		t.Fatal(err)
	}
	if want := Firmware("STM32", "2_0_0", DefaultSize); !bytes.Equal(bs[c].file, want) || !bytes.Equal(bs[c].image, want) {
		t.Error("the raw package is not the image Firmware makes")
	}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	data, err := planDoc(&sc.Module.Plans[0], DefaultProduct, mcuVersions(sc), base)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "components": [
    {
      "file": "firmware/STM32-2_0_0.bin",
      "id": "STM32",
      "package": "full",
      "target_version": "2_0_0",
      "type": "mcu"
    }
  ],
  "mode": "silent",
  "name": "plan-1",
  "product": "p1demo",
  "strategy": {
    "retries": 0
  },
  "timezone": "+00:00",
  "window": {
    "end": "2026-03-02 12:00",
    "start": "2026-03-01 11:00"
  }
}`
	if string(data) != want {
		t.Errorf("plan of a raw component:\n%s\nwant:\n%s", data, want)
	}
}
