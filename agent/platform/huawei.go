package platform

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Huawei IoTDA $ota events (spec §2). The device id is the device key;
// software upgrades (sw_version) are the MCU component's, firmware
// upgrades (fw_version) the module's own.
type huawei struct {
	now       func() time.Time
	component func() string // the MCU component a software upgrade is for
}

func huaweiDown(id string) string { return "$oc/devices/" + id + "/sys/events/down" }
func huaweiUp(id string) string   { return "$oc/devices/" + id + "/sys/events/up" }

func (huawei) name() string { return "huawei" }

func (h huawei) credentials(_, dn, ds string, now time.Time, _ bool) Credentials {
	return HuaweiCredentials(dn, ds, now)
}

func (huawei) subscriptions(_, dn string) []string { return []string{huaweiDown(dn)} }

type (
	huaweiEnvelope struct {
		ObjectDeviceID string          `json:"object_device_id,omitempty"`
		Services       []huaweiService `json:"services"`
	}
	huaweiService struct {
		ServiceID string          `json:"service_id"`
		EventType string          `json:"event_type"`
		EventTime string          `json:"event_time,omitempty"`
		Paras     json.RawMessage `json:"paras"`
	}
	huaweiUpgrade struct {
		Version        *string         `json:"version"`
		URL            *string         `json:"url"`
		FileSize       *int64          `json:"file_size"`
		FileName       string          `json:"file_name"`
		AccessToken    string          `json:"access_token"`
		Expires        int64           `json:"expires"`
		Sign           *string         `json:"sign"`
		CustomInfo     string          `json:"custom_info"`
		TaskID         string          `json:"task_id"`
		SubDeviceCount int             `json:"sub_device_count"`
		TaskExtInfo    json.RawMessage `json:"task_ext_info"`
	}
	huaweiProgress struct {
		ResultCode  int    `json:"result_code"`
		Progress    int    `json:"progress"`
		Version     string `json:"version"`
		Description string `json:"description,omitempty"`
	}
)

// ParseHuaweiEvent reads a $ota event sent down to a device: a
// version_query (query true) or a firmware or software upgrade (its job;
// a software upgrade is for the MCU component named by custom_info, else
// component).
func ParseHuaweiEvent(payload []byte, component string, maxSize int64) (j *Job, query bool, err error) {
	var env huaweiEnvelope
	if err := decodeStrict(payload, &env); err != nil {
		return nil, false, &JobError{Step: StepFailed, Reason: "malformed message: " + err.Error()}
	}
	for _, s := range env.Services {
		if s.ServiceID != "$ota" {
			continue
		}
		switch s.EventType {
		case "version_query":
			return nil, true, nil
		case "firmware_upgrade", "software_upgrade", "firmware_upgrade_v2", "software_upgrade_v2":
		default:
			return nil, false, &JobError{Field: "event_type", Step: StepFailed, Reason: fmt.Sprintf("%q: not an $ota event this device knows", s.EventType)}
		}
		var u huaweiUpgrade
		if err := decodeStrict(s.Paras, &u); err != nil {
			return nil, false, &JobError{Field: "paras", Step: StepFailed, Reason: "malformed: " + err.Error()}
		}
		j := &Job{}
		if strings.HasPrefix(s.EventType, "software") {
			j.Module = component
			if c := strings.TrimSpace(u.CustomInfo); c != "" && !strings.ContainsAny(c, " {") {
				j.Module = c
			}
		}
		f := File{Name: u.FileName, Algo: SHA256, Token: u.AccessToken}
		missing := func(field string) (*Job, bool, error) {
			e := &JobError{Field: "paras." + field, Step: StepFailed, Reason: "missing"}
			if j.Version != "" {
				e.Job = j.Name()
			}
			return j, false, e
		}
		if u.Version == nil {
			return missing("version")
		}
		j.Version = *u.Version
		if u.URL == nil {
			return missing("url")
		}
		if u.FileSize == nil {
			return missing("file_size")
		}
		if u.Sign == nil {
			return missing("sign")
		}
		f.URL, f.Size, f.Digest = *u.URL, *u.FileSize, strings.ToLower(*u.Sign)
		if len(f.Digest) == 32 {
			f.Algo = MD5 // an older IoTDA page signs with MD5 (spec §2.4)
		}
		if f.Name == "" {
			f.Name = urlBase(f.URL)
		}
		j.Files = []File{f}
		if e := j.check(maxSize); e != nil {
			e.Job = j.Name()
			if strings.HasPrefix(e.Field, "sign") {
				e.Field = "paras.sign"
			}
			return j, false, e
		}
		return j, false, nil
	}
	return nil, false, &JobError{Field: "services", Step: StepFailed, Reason: "no $ota service event"}
}

func (h huawei) parse(_ string, payload []byte, maxSize int64) incoming {
	j, query, err := ParseHuaweiEvent(payload, h.component(), maxSize)
	return incoming{job: j, err: err, query: query}
}

func (h huawei) event(dn, kind string, paras any) outMsg {
	env := huaweiEnvelope{ObjectDeviceID: dn, Services: []huaweiService{{
		ServiceID: "$ota", EventType: kind, EventTime: h.now().UTC().Format("20060102T150405Z"), Paras: mustJSON(paras),
	}}}
	return outMsg{Topic: huaweiUp(dn), Payload: mustJSON(env), Kind: kind}
}

func (h huawei) inform(_, dn string, _ func() string, versions map[string]string, _ []string) []outMsg {
	// One version_report with the software version of the MCU component
	// (the first by name when there are several).
	paras := map[string]string{}
	if ks := sortedKeys(versions); len(ks) > 0 {
		paras["sw_version"] = versions[ks[0]]
	}
	return []outMsg{h.event(dn, "version_report", paras)}
}

// HuaweiResultCode maps an Alink progress step to an IoTDA result_code
// (spec §5): -2 download timeout 6, -3 verification 7, -4 install 10,
// -1 internal error 255; 0 for progress.
func HuaweiResultCode(step int) int {
	switch step {
	case StepDownload:
		return 6
	case StepChecksum:
		return 7
	case StepBurn:
		return 10
	case StepFailed:
		return 255
	}
	return 0
}

func (h huawei) progress(_, dn, _ string, j *Job, step int, desc, current string) outMsg {
	p := huaweiProgress{ResultCode: HuaweiResultCode(step), Version: current, Description: desc}
	if step >= 0 {
		p.Progress = step
	}
	if step == 100 {
		p.Version = j.Version
	}
	return h.event(dn, "upgrade_progress_report", p)
}

func (huawei) pull(_, _, _, _ string) (outMsg, bool) { return outMsg{}, false }
