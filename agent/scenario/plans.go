package scenario

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/flashsim"
)

// planDoc returns the plan file (spec/plan-format.md) of p for a module
// of the given product whose clock starts at base; from maps the MCU's
// components to their versions, the source of a delta.
func planDoc(p *PlanSpec, product string, from map[string]string, base time.Time) ([]byte, error) {
	start, err := windowTime(p.Window.Start, base)
	if err != nil {
		return nil, err
	}
	end, err := windowTime(p.Window.End, base)
	if err != nil {
		return nil, err
	}
	strategy := map[string]any{"retries": p.Strategy.Retries}
	if p.Strategy.MinBattery != nil {
		strategy["min_battery"] = *p.Strategy.MinBattery
	}
	if p.Strategy.MinSignalDBm != nil {
		strategy["min_signal_dbm"] = *p.Strategy.MinSignalDBm
	}
	comps := make([]map[string]any, len(p.Components))
	for i, c := range p.Components {
		kind := "full"
		if c.Package == PackageDelta {
			kind = "delta"
		}
		comp := map[string]any{
			"type": "mcu", "id": c.ID, "package": kind,
			"target_version": c.TargetVersion, "file": packageFile(&c, from[c.ID]),
		}
		if kind == "delta" {
			comp["source_version"] = from[c.ID]
		}
		if c.Specified != nil {
			comp["specified_versions"] = c.Specified
		}
		comps[i] = comp
	}
	doc := map[string]any{
		"name":       p.Name,
		"product":    product,
		"timezone":   "+00:00",
		"window":     map[string]string{"start": start.UTC().Format(planTime), "end": end.UTC().Format(planTime)},
		"mode":       p.Mode,
		"strategy":   strategy,
		"components": comps,
	}
	if p.PushActively != nil {
		doc["push_actively"] = *p.PushActively
	}
	if len(p.Texts) > 0 {
		doc["texts"] = p.Texts
	}
	if len(p.AutoConfirm) > 0 {
		doc["auto_confirm"] = p.AutoConfirm
	}
	return json.MarshalIndent(doc, "", "  ")
}

// planTime is the layout of window times in plan files.
const planTime = "2006-01-02 15:04"

// checkPlanDoc checks p against the plan rules.
func checkPlanDoc(p *PlanSpec, from map[string]string, base time.Time) error {
	data, err := planDoc(p, DefaultProduct, from, base)
	if err != nil {
		return err
	}
	_, err = plan.Parse(p.Name+".json", data)
	return err
}

// packageFile is where the generated package of c lies in the plans
// directory: firmware/ID-VERSION.bin for a raw image, .pkg for a full
// package, firmware/ID-FROM-to-VERSION.pkg for a delta from version
// from; a signed package's name ends in .signed.pkg.
func packageFile(c *ComponentSpec, from string) string {
	name := "firmware/" + safeName(c.ID) + "-"
	switch c.Package {
	case "", PackageRaw:
		return name + safeName(c.TargetVersion) + ".bin"
	case PackageDelta:
		name += safeName(from) + "-to-"
	}
	name += safeName(c.TargetVersion)
	if c.Sign {
		name += ".signed"
	}
	return name + ".pkg"
}

// safeName keeps letters, digits, '-', '_' and '.' of s, and replaces
// the rest with '_'.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// writePlans writes the scenario's plans and their packages, built as bs
// says, into dir/plans, for a module whose clock starts at base.
func writePlans(sc *Scenario, bs builds, dir string, base time.Time) error {
	fw := filepath.Join(dir, "plans", "firmware")
	if err := os.MkdirAll(fw, 0o755); err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	for i := range sc.Module.Plans {
		p := &sc.Module.Plans[i]
		data, err := planDoc(p, sc.Module.Product, mcuVersions(sc), base)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "plans", safeName(p.Name)+".json"), data, 0o644); err != nil {
			return fmt.Errorf("scenario: %w", err)
		}
		for j := range p.Components {
			c := &p.Components[j]
			b := bs[c]
			if b == nil {
				return fmt.Errorf("scenario: plan %s: component %s was not built", p.Name, c.ID)
			}
			file := packageFile(c, b.from)
			if err := os.WriteFile(filepath.Join(dir, "plans", filepath.FromSlash(file)), b.file, 0o644); err != nil {
				return fmt.Errorf("scenario: plan %s: package %s: %w", p.Name, file, err)
			}
		}
	}
	return nil
}

// Firmware returns the deterministic image a scenario generates for
// version of component id: size bytes that look like Cortex-M firmware
// (a vector table, code-like bytes) and carry their name and version.
func Firmware(id, version string, size int) []byte {
	h := fnv.New64a()
	h.Write([]byte(id + "\x00" + version))
	img := make([]byte, size)
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(size)))
	for i := range img {
		img[i] = byte(r.Uint32())
	}
	if size >= 64 {
		binary.LittleEndian.PutUint32(img[0:], 0x20005000) // initial stack pointer
		for i := 4; i < 64; i += 4 {
			binary.LittleEndian.PutUint32(img[i:], 0x08000101+uint32(i)*8) // handlers, Thumb bit set
		}
	}
	tag := firmwareTag(id, version)
	if size >= 64+len(tag) {
		copy(img[64:], tag)
	}
	return img
}

// firmwareTag is the version tag Firmware writes at offset 64.
func firmwareTag(id, version string) []byte {
	return []byte("atota scenario firmware " + id + " " + version + "\x00")
}

// checkPart reports an unknown flash part.
func checkPart(name string) error {
	p, err := flashsim.LookupPart(name)
	if err != nil {
		return err
	}
	if _, err := flashsim.DefaultLayout(p); err != nil {
		return err
	}
	return nil
}
