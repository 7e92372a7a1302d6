package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Alink OTA topics (spec §1.2).
func informTopic(pk, dn string) string   { return "/ota/device/inform/" + pk + "/" + dn }
func upgradeTopic(pk, dn string) string  { return "/ota/device/upgrade/" + pk + "/" + dn }
func progressTopic(pk, dn string) string { return "/ota/device/progress/" + pk + "/" + dn }
func getTopic(pk, dn string) string      { return "/sys/" + pk + "/" + dn + "/thing/ota/firmware/get" }
func getReplyTopic(pk, dn string) string { return getTopic(pk, dn) + "_reply" }

// splitAlinkTopic returns the kind of an Alink OTA topic ("inform",
// "upgrade", "progress", "get", "get_reply") and its product key and
// device name.
func splitAlinkTopic(topic string) (kind, pk, dn string, ok bool) {
	parts := strings.Split(topic, "/")
	switch {
	case len(parts) == 6 && parts[0] == "" && parts[1] == "ota" && parts[2] == "device":
		kind, pk, dn = parts[3], parts[4], parts[5]
		ok = kind == "inform" || kind == "upgrade" || kind == "progress"
	case len(parts) == 8 && parts[0] == "" && parts[1] == "sys" && parts[4] == "thing" && parts[5] == "ota" && parts[6] == "firmware":
		kind, pk, dn = parts[7], parts[2], parts[3]
		ok = kind == "get" || kind == "get_reply"
	}
	return kind, pk, dn, ok && pk != "" && dn != ""
}

// msgID is a message id: a decimal string in the docs, a number in the C
// SDK (spec §1.3); both are accepted, a string is written.
type msgID string

func (id *msgID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*id = msgID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id: want a string or a number, got %s", b)
	}
	*id = msgID(n.String())
	return nil
}

// flexString is a string or a number on the wire (step, code).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

// Uplink messages.
type (
	informMsg struct {
		ID     msgID `json:"id"`
		Params struct {
			Version string `json:"version"`
			Module  string `json:"module,omitempty"`
		} `json:"params"`
	}
	progressMsg struct {
		ID     msgID `json:"id"`
		Params struct {
			Step   flexString `json:"step"`
			Desc   string     `json:"desc,omitempty"`
			Module string     `json:"module,omitempty"`
		} `json:"params"`
	}
	getMsg struct {
		ID      msgID  `json:"id"`
		Version string `json:"version"`
		Params  struct {
			Module string `json:"module,omitempty"`
		} `json:"params"`
		Method string `json:"method"`
	}
)

// Downlink: the upgrade push and the get reply share the data object.
type (
	pushMsg struct {
		Code    flexString      `json:"code"`
		Data    json.RawMessage `json:"data"`
		ID      msgID           `json:"id"`
		Message string          `json:"message,omitempty"`
	}
	alinkData struct {
		Version      *string         `json:"version"`
		Size         *int64          `json:"size"`
		URL          *string         `json:"url"`
		Sign         *string         `json:"sign"`
		SignMethod   *string         `json:"signMethod"`
		MD5          *string         `json:"md5"`
		IsDiff       *int            `json:"isDiff"`
		Module       *string         `json:"module"`
		ExtData      json.RawMessage `json:"extData"`
		DigestSign   *string         `json:"digestsign"`
		DProtocol    *string         `json:"dProtocol"`
		StreamID     *int64          `json:"streamId"`
		StreamFileID *int64          `json:"streamFileId"`
		Files        []alinkFile     `json:"files"`
	}
	alinkFile struct {
		FileName string `json:"fileName"`
		FileSize int64  `json:"fileSize"`
		FileURL  string `json:"fileUrl"`
		FileSign string `json:"fileSign"`
		FileMD5  string `json:"fileMd5,omitempty"`
	}
	// extData keys we read (spec §6); others are kept for the platform.
	alinkExt struct {
		MinBattery    *int     `json:"min_battery"`
		MinSignalDBm  *int     `json:"min_signal_dbm"`
		SourceVersion string   `json:"source_version"`
		Components    []string `json:"components"`
		Plan          string   `json:"plan"`
	}
)

// decodeStrict decodes data into v, refusing unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

// ParseAlinkJob reads an upgrade push (code "1000") or a get_reply (code
// 200) and returns its job, or nil for a reply with empty data (nothing
// pending). maxSize is the largest package accepted. The error is a
// [*JobError] naming the field at fault; its Job is set when the module
// and version could be read, and Module is returned even then.
func ParseAlinkJob(payload []byte, maxSize int64) (*Job, error) {
	var env pushMsg
	if err := decodeStrict(payload, &env); err != nil {
		return nil, &JobError{Step: StepFailed, Reason: "malformed message: " + err.Error()}
	}
	if c := string(env.Code); c != "1000" && c != "200" {
		return nil, &JobError{Field: "code", Step: StepFailed, Reason: fmt.Sprintf("%q: want \"1000\" or 200", c)}
	}
	trimmed := bytes.TrimSpace(env.Data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil, &JobError{Field: "data", Step: StepFailed, Reason: "missing"}
	}
	if string(bytes.Join(bytes.Fields(trimmed), nil)) == "{}" {
		return nil, nil
	}
	var d alinkData
	if err := decodeStrict(trimmed, &d); err != nil {
		return nil, &JobError{Field: "data", Step: StepFailed, Reason: "malformed: " + err.Error()}
	}
	j := &Job{}
	if d.Module != nil && *d.Module != "default" {
		j.Module = *d.Module
	}
	if d.Version != nil {
		j.Version = *d.Version
	}
	fail := func(field string, step int, format string, args ...any) (*Job, error) {
		e := &JobError{Field: field, Step: step, Reason: fmt.Sprintf(format, args...)}
		if j.Version != "" {
			e.Job = j.Name()
		}
		return j, e
	}
	if d.DProtocol != nil && *d.DProtocol != "" && !strings.EqualFold(*d.DProtocol, "https") && !strings.EqualFold(*d.DProtocol, "http") {
		return fail("dProtocol", StepDownload, "%q: only HTTP(S) downloads are supported, not MQTT blocks", *d.DProtocol)
	}
	if len(d.ExtData) > 0 && string(d.ExtData) != "null" {
		var ext alinkExt
		if err := json.Unmarshal(d.ExtData, &ext); err != nil {
			return fail("extData", StepFailed, "malformed: %v", err)
		}
		j.MinBattery, j.MinSignalDBm, j.Source, j.Components, j.Origin = ext.MinBattery, ext.MinSignalDBm, ext.SourceVersion, ext.Components, ext.Plan
	}
	j.Delta = d.IsDiff != nil && *d.IsDiff == 1
	algo := ""
	if d.SignMethod != nil {
		switch strings.ToLower(*d.SignMethod) {
		case "md5":
			algo = MD5
		case "sha256":
			algo = SHA256
		default:
			return fail("signMethod", StepFailed, "%q: want Md5 or SHA256", *d.SignMethod)
		}
	}
	if d.Files != nil {
		if d.URL != nil || d.Size != nil || d.Sign != nil {
			return fail("files", StepFailed, "files[] and url/size/sign together: give one or the other")
		}
		for _, f := range d.Files {
			sign := f.FileSign
			if sign == "" && algo == MD5 {
				sign = f.FileMD5
			}
			j.Files = append(j.Files, File{Name: f.FileName, URL: f.FileURL, Size: f.FileSize, Algo: algo, Digest: strings.ToLower(sign)})
		}
	} else {
		f := File{Name: "package.bin", Algo: algo}
		if d.URL != nil {
			f.URL = *d.URL
			if name := urlBase(f.URL); name != "" {
				f.Name = name
			}
		}
		if d.Size != nil {
			f.Size = *d.Size
		} else {
			return fail("size", StepFailed, "missing: the package size is required")
		}
		switch {
		case d.Sign != nil:
			f.Digest = strings.ToLower(*d.Sign)
		case d.MD5 != nil && (algo == MD5 || algo == ""):
			f.Algo, f.Digest = MD5, strings.ToLower(*d.MD5)
		default:
			return fail("sign", StepFailed, "missing: the package digest is required")
		}
		if d.MD5 != nil && f.Algo == MD5 && !strings.EqualFold(*d.MD5, f.Digest) {
			return fail("md5", StepFailed, "%q differs from sign %q", *d.MD5, f.Digest)
		}
		if d.URL != nil {
			j.Files = []File{f}
		}
	}
	if algo == "" && len(j.Files) > 0 && j.Files[0].Algo == "" {
		return fail("signMethod", StepFailed, "missing: want Md5 or SHA256")
	}
	if e := j.check(maxSize); e != nil {
		if j.Version != "" {
			e.Job = j.Name()
		}
		return j, e
	}
	return j, nil
}

// urlBase returns the last path element of a URL, without its query.
func urlBase(u string) string {
	u, _, _ = strings.Cut(u, "?")
	u, _, _ = strings.Cut(u, "#")
	i := strings.LastIndexByte(u, '/')
	if i < 0 || strings.Count(u[:i], "/") < 2 {
		return ""
	}
	return u[i+1:]
}

// alinkPushData is the data object the platform sends for a job.
func alinkPushData(j *Job, ext map[string]any) map[string]any {
	d := map[string]any{"version": j.Version}
	if j.Module != "" {
		d["module"] = j.Module
	}
	method := "Md5"
	if len(j.Files) > 0 && j.Files[0].Algo == SHA256 {
		method = "SHA256"
	}
	d["signMethod"] = method
	if len(j.Files) == 1 {
		f := j.Files[0]
		d["size"], d["url"], d["sign"] = f.Size, f.URL, f.Digest
		if f.Algo == MD5 {
			d["md5"] = f.Digest
		}
	} else {
		var fs []alinkFile
		for _, f := range j.Files {
			fs = append(fs, alinkFile{FileName: f.Name, FileSize: f.Size, FileURL: f.URL, FileSign: f.Digest})
		}
		d["files"] = fs
	}
	if j.Delta {
		d["isDiff"] = 1
	}
	if len(ext) > 0 {
		d["extData"] = ext
	}
	return d
}

// parseStep reads a progress step: "1".."100", "0", or "-1".."-4".
func parseStep(s flexString) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(string(s)))
	if err != nil || n < -4 || n > 100 {
		return 0, fmt.Errorf("step %q: want 0 to 100, or -1 to -4", string(s))
	}
	return n, nil
}
