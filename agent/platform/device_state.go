package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/atota/atota/internal/atomicfile"
)

// Job statuses on the device.
const (
	statusDownloading = "downloading" // the package is being fetched and verified
	statusReady       = "ready"       // verified: offered to the MCU as a plan
	statusActive      = "active"      // the MCU is taking it
	statusRefused     = "refused"     // the MCU refused it; still offered on request
	statusDone        = "done"
	statusFailed      = "failed"
)

// maxOutbox bounds the outbox: beyond it, the oldest progress reports of
// a job are dropped first (never an inform or a failure).
const maxOutbox = 1000

// deviceState is what the link keeps across restarts, in link.json.
type deviceState struct {
	Version  int               `json:"version"`
	Device   string            `json:"device"`
	NextID   uint32            `json:"next_id"`
	Versions map[string]string `json:"versions,omitempty"`
	Jobs     []*jobRecord      `json:"jobs,omitempty"`
	Outbox   []queued          `json:"outbox,omitempty"`
	Seq      uint64            `json:"seq"`
}

// queued is an outbox entry with its sequence number.
type queued struct {
	Seq uint64 `json:"seq"`
	outMsg
}

// jobRecord is a job as the device keeps it.
type jobRecord struct {
	Job      Job               `json:"job"`
	Key      string            `json:"key"`
	Received time.Time         `json:"received"`
	Status   string            `json:"status"`
	Dir      string            `json:"dir"`
	Step     int               `json:"step"`
	Versions map[string]string `json:"versions,omitempty"` // when the job came
}

func (r *jobRecord) done() bool { return r.Status == statusDone || r.Status == statusFailed }

func (r *jobRecord) size() int64 {
	var n int64
	for _, f := range r.Job.Files {
		n += f.Size
	}
	return n
}

func newDeviceState(dn string) *deviceState {
	return &deviceState{Version: 1, Device: dn}
}

// loadDeviceState reads the state file; a missing one is a fresh state.
func loadDeviceState(path string) (*deviceState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newDeviceState(""), nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: link state: %w", err)
	}
	var s deviceState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("platform: link state %s: %v; remove the file to start afresh (pending reports are lost)", path, err)
	}
	return &s, nil
}

func (s *deviceState) save(path string) error {
	return atomicfile.WriteJSON(path, s, 0o600)
}

// push appends messages to the outbox.
func (s *deviceState) push(msgs ...outMsg) {
	for _, m := range msgs {
		s.Seq++
		s.Outbox = append(s.Outbox, queued{Seq: s.Seq, outMsg: m})
	}
	for len(s.Outbox) > maxOutbox {
		i := slices.IndexFunc(s.Outbox, func(q queued) bool { return q.Kind == "progress" || q.Kind == "get" })
		if i < 0 {
			i = 0
		}
		s.Outbox = slices.Delete(s.Outbox, i, i+1)
	}
}

// head returns the oldest message.
func (s *deviceState) head() (outMsg, uint64, bool) {
	if len(s.Outbox) == 0 {
		return outMsg{}, 0, false
	}
	return s.Outbox[0].outMsg, s.Outbox[0].Seq, true
}

// pop removes the message with sequence number seq.
func (s *deviceState) pop(seq uint64) {
	s.Outbox = slices.DeleteFunc(s.Outbox, func(q queued) bool { return q.Seq == seq })
}

func (s *deviceState) job(key string) *jobRecord {
	for _, r := range s.Jobs {
		if r.Key == key {
			return r
		}
	}
	return nil
}

// jobByName returns the live job whose plan is named name.
func (s *deviceState) jobByName(name string) *jobRecord {
	for _, r := range s.Jobs {
		if r.Job.Name() == name && !r.done() {
			return r
		}
	}
	return nil
}

// forget drops ended jobs, keeping the last few for messages.
func (s *deviceState) forget() {
	var ended int
	for i := len(s.Jobs) - 1; i >= 0; i-- {
		if s.Jobs[i].done() {
			ended++
			if ended > 10 {
				s.Jobs = slices.Delete(s.Jobs, i, i+1)
			}
		}
	}
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("platform: cache directory: %w", err)
	}
	return nil
}
