package platform

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/atota/atota/agent/plan"
)

// Digest algorithms of a job's files.
const (
	MD5    = "md5"
	SHA256 = "sha256"
)

// Job is an upgrade task as a platform sends it, in a neutral form that
// both the Alink and the IoTDA messages map onto (spec §5).
type Job struct {
	// Module is the component the job is for: an MCU component ID as
	// declared with AT+QIOTMCUVER, or "" for the module's own firmware.
	Module  string `json:"module,omitempty"`
	Version string `json:"version"` // target version
	// Delta is set for a differential package; Source is the version it
	// applies to ("" when the platform did not say).
	Delta  bool   `json:"delta,omitempty"`
	Source string `json:"source,omitempty"`
	Files  []File `json:"files"`
	// MinBattery and MinSignalDBm are the limits sent to the MCU in
	// 7,10700 (nil: none).
	MinBattery   *int `json:"min_battery,omitempty"`
	MinSignalDBm *int `json:"min_signal_dbm,omitempty"`
	// Components names the component of each file, for multi-file jobs
	// (extData.components); nil: each file's name without extension.
	Components []string `json:"components,omitempty"`
	// Origin is the platform's plan name (extData.plan), for messages.
	Origin string `json:"origin,omitempty"`
}

// File is one package file of a job.
type File struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
	Algo   string `json:"algo"`   // MD5 or SHA256
	Digest string `json:"digest"` // lowercase hex
	Token  string `json:"token,omitempty"`
}

// Key identifies a job for the device: the same module, version and
// package digests make the same job.
func (j *Job) Key() string {
	var b strings.Builder
	b.WriteString(j.moduleName() + "@" + j.Version)
	for _, f := range j.Files {
		b.WriteString("/" + f.Digest)
	}
	return b.String()
}

// Name is the name of the plan the job becomes: "MODULE@VERSION", or
// "default@VERSION" for the module's own firmware.
func (j *Job) Name() string {
	n := j.moduleName() + "@" + j.Version
	if len(n) > 100 {
		n = n[:100]
	}
	return n
}

func (j *Job) moduleName() string {
	if j.Module == "" {
		return "default"
	}
	return j.Module
}

// componentID returns the component of file i.
func (j *Job) componentID(i int) string {
	if i < len(j.Components) {
		return j.Components[i]
	}
	if len(j.Files) == 1 {
		return j.moduleName()
	}
	base := path.Base(j.Files[i].Name)
	return strings.TrimSuffix(base, path.Ext(base))
}

// check reports the first field of a job that no device can act on.
func (j *Job) check(maxSize int64) *JobError {
	bad := func(field, format string, args ...any) *JobError {
		return &JobError{Field: field, Step: StepFailed, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case j.Version == "":
		return bad("version", "missing: the target version is required")
	case len(j.Files) == 0:
		return bad("url", "missing: a job needs a url (or files)")
	case len(j.Components) > 0 && len(j.Components) != len(j.Files):
		return bad("extData.components", "%d components for %d files", len(j.Components), len(j.Files))
	}
	seen := map[string]bool{}
	for i, f := range j.Files {
		at := fmt.Sprintf("files[%d].", i)
		if len(j.Files) == 1 {
			at = ""
		}
		switch {
		case f.URL == "":
			return bad(at+"url", "missing")
		case !strings.HasPrefix(f.URL, "http://") && !strings.HasPrefix(f.URL, "https://"):
			return &JobError{Field: at + "url", Step: StepDownload, Reason: fmt.Sprintf("%q: only http:// and https:// URLs can be downloaded", f.URL)}
		case f.Size <= 0:
			return bad(at+"size", "%d: must be a positive number of bytes", f.Size)
		case f.Size > maxSize:
			return &JobError{Field: at + "size", Step: StepDownload, Reason: fmt.Sprintf("%d bytes: more than the %d bytes a package may have", f.Size, maxSize)}
		case f.Algo != MD5 && f.Algo != SHA256:
			return bad(at+"signMethod", "%q: want Md5 or SHA256", f.Algo)
		case f.Algo == MD5 && !isHex(f.Digest, 32) || f.Algo == SHA256 && !isHex(f.Digest, 64):
			return bad(at+"sign", "%q is not a %s digest in hex", f.Digest, f.Algo)
		}
		c := j.componentID(i)
		if c == "" || seen[c] {
			return bad(at+"fileName", "component %q is empty or given twice", c)
		}
		seen[c] = true
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		c := s[i] | 0x20
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ToPlan returns the upgrade plan the job becomes once its files are in dir,
// named by [File.Name]'s base (see localName), for device dn of product
// pk: the same plan document a plans directory holds (spec
// plan-format.md), checked by [plan.Parse]. received is when the job
// arrived: the plan's window opens an hour before and lasts a year (the
// platform decides when a job is over). versions are the device's
// versions when the job arrived, the source of a delta the platform did
// not name. Retries are left to the platform, which pushes again.
func (j *Job) ToPlan(pk, dn, dir string, received time.Time, versions map[string]string) (*plan.Plan, error) {
	type comp struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Package string `json:"package"`
		Target  string `json:"target_version"`
		Source  string `json:"source_version,omitempty"`
		File    string `json:"file"`
	}
	strategy := map[string]any{"retries": 1 << 20}
	if j.MinBattery != nil {
		strategy["min_battery"] = *j.MinBattery
	}
	if j.MinSignalDBm != nil {
		strategy["min_signal_dbm"] = *j.MinSignalDBm
	}
	var comps []comp
	for i, f := range j.Files {
		c := comp{Type: plan.MCU, ID: j.componentID(i), Package: plan.Full, Target: j.Version, File: localName(i, f)}
		if j.Module == "" {
			c.Type, c.ID = plan.Module, "default"
		}
		if j.Delta {
			c.Package, c.Source = plan.Delta, j.Source
			if c.Source == "" {
				c.Source = versions[c.ID]
			}
		}
		comps = append(comps, c)
	}
	start := received.UTC().Add(-time.Hour).Truncate(time.Minute)
	doc := map[string]any{
		"name":       j.Name(),
		"product":    pk,
		"whitelist":  []string{dn},
		"timezone":   "+00:00",
		"window":     map[string]string{"start": start.Format("2006-01-02 15:04"), "end": start.AddDate(1, 0, 0).Format("2006-01-02 15:04")},
		"mode":       plan.Silent,
		"strategy":   strategy,
		"components": comps,
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	p, err := plan.Parse("job "+j.Name(), data)
	if err != nil {
		return nil, fmt.Errorf("platform: job %s does not make a plan: %w", j.Name(), err)
	}
	p.Dir = dir
	return p, nil
}

// localName is the name file i of a job has in the job's cache directory.
func localName(i int, f File) string {
	base := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
	if base == "." || base == "/" || base == ".." || base == "" || strings.HasPrefix(base, ".") {
		base = "package.bin"
	}
	return fmt.Sprintf("%d-%s", i, base)
}

// Progress steps of the Alink vocabulary (spec §1.7).
const (
	StepFailed   = -1 // upgrade failed
	StepDownload = -2 // download failed
	StepChecksum = -3 // digest did not match
	StepBurn     = -4 // flashing failed
)

// JobError is a job the device cannot carry out: the progress step it is
// reported with, the field at fault and why.
type JobError struct {
	Job    string // the job's name, if it got that far
	Field  string
	Step   int
	Reason string
}

func (e *JobError) Error() string {
	s := "platform: job"
	if e.Job != "" {
		s += " " + e.Job
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Reason
}

// Desc returns the progress description: the field and reason, at most
// 128 characters (spec §1.7).
func (e *JobError) Desc() string {
	d := e.Reason
	if e.Field != "" {
		d = e.Field + ": " + d
	}
	return truncate(d, 128)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
