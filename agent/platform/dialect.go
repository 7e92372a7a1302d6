package platform

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// outMsg is a message waiting in the device's outbox.
type outMsg struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
	Kind    string          `json:"kind"` // "inform", "progress" or "get", for logs and coalescing
}

// incoming is what a downlink message asks of the device.
type incoming struct {
	job   *Job  // a job to carry out
	err   error // a job that cannot be carried out (a *JobError)
	none  bool  // a get reply with nothing pending
	query bool  // the platform asks for the versions
}

// dialect is the platform protocol of a device link: Alink OTA (spec §1)
// or Huawei IoTDA $ota events (spec §2).
type dialect interface {
	name() string
	credentials(pk, dn, ds string, now time.Time, tls bool) Credentials
	subscriptions(pk, dn string) []string
	parse(topic string, payload []byte, maxSize int64) incoming
	// inform reports the versions of the components listed.
	inform(pk, dn string, id func() string, versions map[string]string, which []string) []outMsg
	// progress reports a job's step (1 to 100, or a negative failure
	// step) with a description; current is the component's running
	// version.
	progress(pk, dn, id string, j *Job, step int, desc, current string) outMsg
	// pull asks for the pending job of a component; ok false if the
	// protocol has no such request.
	pull(pk, dn, id, module string) (outMsg, bool)
}

// alink is the Alink OTA dialect.
type alink struct{}

func (alink) name() string { return "alink" }

func (alink) credentials(pk, dn, ds string, _ time.Time, tls bool) Credentials {
	return AlinkCredentials(pk, dn, ds, SDKTimestamp, tls)
}

func (alink) subscriptions(pk, dn string) []string {
	return []string{upgradeTopic(pk, dn), getReplyTopic(pk, dn)}
}

func (alink) parse(topic string, payload []byte, maxSize int64) incoming {
	j, err := ParseAlinkJob(payload, maxSize)
	switch {
	case err != nil:
		return incoming{job: j, err: err}
	case j == nil:
		return incoming{none: true}
	}
	return incoming{job: j}
}

func (alink) inform(pk, dn string, id func() string, versions map[string]string, which []string) []outMsg {
	var out []outMsg
	for _, c := range which {
		var m informMsg
		m.ID = msgID(id())
		m.Params.Version, m.Params.Module = versions[c], c
		out = append(out, outMsg{Topic: informTopic(pk, dn), Payload: mustJSON(m), Kind: "inform"})
	}
	return out
}

func (alink) progress(pk, dn, id string, j *Job, step int, desc, _ string) outMsg {
	var m progressMsg
	m.ID = msgID(id)
	m.Params.Step, m.Params.Desc, m.Params.Module = flexString(strconv.Itoa(step)), desc, j.Module
	return outMsg{Topic: progressTopic(pk, dn), Payload: mustJSON(m), Kind: "progress"}
}

func (alink) pull(pk, dn, id, module string) (outMsg, bool) {
	m := getMsg{ID: msgID(id), Version: "1.0", Method: "thing.ota.firmware.get"}
	m.Params.Module = module
	return outMsg{Topic: getTopic(pk, dn), Payload: mustJSON(m), Kind: "get"}, true
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("platform: marshal: " + err.Error())
	}
	return b
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
