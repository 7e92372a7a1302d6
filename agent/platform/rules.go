package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"time"
)

// Rules are the batch rules of a plan on the platform (the Alibaba batch
// update's policy, reference/aliyun-batch-update.txt): what the plan
// file does not say. The zero value pushes to every eligible device at
// once, retries as the plan's strategy.retries says, immediately, with no
// timeout and no overwriting.
type Rules struct {
	// Percent is the phased rollout: the share of the plan's devices that
	// get it, 1 to 100 (0 means 100). With a whitelist, the first
	// Percent % of the listed devices (rounded down, at least one) in a
	// fixed pseudo-random order; without one, each device by a hash of
	// plan and device key.
	Percent int `json:"percent,omitempty"`
	// RatePerMinute is the push rate, devices per minute (0: no limit).
	RatePerMinute int `json:"rate_per_minute,omitempty"`
	// RetryInterval is how long after a failure the device is offered
	// the plan again: 0 (immediately), 10m, 30m, 1h or 24h.
	RetryInterval Duration `json:"retry_interval,omitempty"`
	// MaxRetries is how many times a failed device is offered the plan
	// again: 1, 2 or 5; 0 takes the plan's strategy.retries.
	MaxRetries int `json:"max_retries,omitempty"`
	// TimeoutMinutes is the per-device upgrade timeout, 1 to 1440 (0:
	// none), counted from the device's first progress report.
	TimeoutMinutes int `json:"timeout_minutes,omitempty"`
	// Overwrite lets this plan cancel a device's earlier task for the
	// same component that has not started yet.
	Overwrite bool `json:"overwrite,omitempty"`
}

// Duration is a time.Duration written as "10m" in JSON.
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string such as "30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"10m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

var retryIntervals = []time.Duration{0, 10 * time.Minute, 30 * time.Minute, time.Hour, 24 * time.Hour}

// Check reports the first rule out of its documented range.
func (r Rules) Check() error {
	switch {
	case r.Percent < 0 || r.Percent > 100:
		return fmt.Errorf("percent %d: want 1 to 100", r.Percent)
	case r.RatePerMinute < 0 || r.RatePerMinute > 10000:
		return fmt.Errorf("rate_per_minute %d: want 1 to 10000 devices a minute, or 0 for no limit", r.RatePerMinute)
	case !slices.Contains(retryIntervals, time.Duration(r.RetryInterval)):
		return fmt.Errorf("retry_interval %v: want 0, 10m, 30m, 1h or 24h", time.Duration(r.RetryInterval))
	case r.MaxRetries != 0 && r.MaxRetries != 1 && r.MaxRetries != 2 && r.MaxRetries != 5:
		return fmt.Errorf("max_retries %d: want 1, 2 or 5 (or 0 for the plan's strategy.retries)", r.MaxRetries)
	case r.TimeoutMinutes < 0 || r.TimeoutMinutes > 1440:
		return fmt.Errorf("timeout_minutes %d: want 1 to 1440, or 0 for none", r.TimeoutMinutes)
	case r.TimeoutMinutes > 0 && time.Duration(r.RetryInterval) >= time.Duration(r.TimeoutMinutes)*time.Minute:
		return fmt.Errorf("retry_interval %v must be shorter than timeout_minutes %d", time.Duration(r.RetryInterval), r.TimeoutMinutes)
	}
	return nil
}

// Batch holds the rules of every plan: Default for plans not listed.
type Batch struct {
	Default Rules            `json:"default"`
	Plans   map[string]Rules `json:"plans,omitempty"`
}

// For returns the rules of plan name.
func (b *Batch) For(name string) Rules {
	if r, ok := b.Plans[name]; ok {
		return r
	}
	return b.Default
}

// LoadBatch reads a batch file:
//
//	{"default": {"rate_per_minute": 60},
//	 "plans": {"stm32-2.0.0": {"percent": 50, "max_retries": 2, "retry_interval": "10m",
//	                           "timeout_minutes": 60, "overwrite": true}}}
func LoadBatch(path string) (*Batch, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("platform: batch file: %w", err)
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("platform: batch file %s: %w", path, err)
	}
	if err := b.Default.Check(); err != nil {
		return nil, fmt.Errorf("platform: batch file %s: default: %w", path, err)
	}
	for name, r := range b.Plans {
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("platform: batch file %s: plans[%q]: %w", path, name, err)
		}
	}
	return &b, nil
}

// inRollout reports whether device dn is in the phased rollout of a plan
// with the given whitelist.
func (r Rules) inRollout(planName, dn string, whitelist []string) bool {
	if r.Percent == 0 || r.Percent >= 100 {
		return true
	}
	rank := func(key string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(planName + "\x00" + key))
		return h.Sum32()
	}
	if len(whitelist) == 0 {
		return rank(dn)%100 < uint32(r.Percent)
	}
	keys := slices.Clone(whitelist)
	slices.SortFunc(keys, func(a, b string) int {
		ra, rb := rank(a), rank(b)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
	n := max(len(keys)*r.Percent/100, 1)
	return slices.Contains(keys[:n], dn)
}
