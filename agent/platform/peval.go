package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atota/atota/agent/plan"
)

// rePush is how often a pushed job that saw no progress is pushed again
// inside the push period (the platform documents: every 10 minutes).
const rePush = 10 * time.Minute

// evaluate decides what device d should get now, applying each plan's
// eligibility and batch rules, and queues the pushes. With pull set (a
// firmware/get for that module, "default" for the module's firmware), it
// returns the job for it, or nil. p.mu is held.
func (p *Platform) evaluate(d *DeviceStatus, pull string) *Job {
	now := p.cfg.Now()
	var reply *Job
	for _, pl := range p.plans {
		if pl.State != plan.Activated || pl.Product != d.Product {
			continue
		}
		rules := p.cfg.Batch.For(pl.Name)
		t := d.task(pl.Name)
		idx, err := pl.Next(now, plan.Device{Product: d.Product, Key: d.Device, Versions: d.Versions})
		if err != nil {
			if t != nil {
				p.notEligible(d, t, err, now)
			}
			continue
		}
		if !rules.inRollout(pl.Name, d.Device, pl.Whitelist) {
			continue
		}
		c := pl.Components[idx]
		if t == nil {
			t = &Task{Plan: pl.Name, Status: TaskQueued}
			d.Tasks = append(d.Tasks, t)
		}
		if t.Component != c.ID || t.Target != c.TargetVersion || t.Status == TaskSucceeded {
			t.Component, t.Target, t.From = c.ID, c.TargetVersion, d.Versions[c.ID]
			t.Status, t.Step, t.Desc, t.Started, t.Updated = TaskQueued, 0, "", time.Time{}, now
		}
		if !p.due(pl, rules, t, now) {
			continue
		}
		if p.blocked(d, pl, rules, t, now) {
			continue
		}
		if pl.NeedsConfirmation(d.Device) && !t.Confirmed {
			p.setStatus(t, TaskConfirming, "waiting for the app confirmation", now)
			continue
		}
		if t.Status == TaskConfirming {
			p.setStatus(t, TaskQueued, "confirmed", now)
		}
		module := c.ID
		if c.Type == plan.Module {
			module = "default"
		}
		if pull != "" && pull == module && reply == nil {
			j, err := p.job(pl, idx)
			if err != nil {
				p.log.Error("plan package cannot be served", "plan", pl.Name, "err", err)
				continue
			}
			reply = j
			p.pushed(t, now)
			continue
		}
		if !pl.PushActively || !pl.InPushPeriod(now) {
			continue
		}
		if t.Status == TaskPushed && now.Sub(t.Pushed) < rePush || t.Status == TaskUpgrading {
			continue
		}
		if rules.RatePerMinute > 0 && now.Sub(p.lastPush) < time.Minute/time.Duration(rules.RatePerMinute) {
			continue // the next tick tries again
		}
		j, err := p.job(pl, idx)
		if err != nil {
			p.log.Error("plan package cannot be served", "plan", pl.Name, "err", err)
			continue
		}
		p.push(d, j)
		p.pushed(t, now)
		p.lastPush = now
	}
	return reply
}

// notEligible updates a task whose device is not eligible any more. p.mu
// is held.
func (p *Platform) notEligible(d *DeviceStatus, t *Task, err error, now time.Time) {
	switch {
	case errors.Is(err, plan.ErrDone):
		if t.Status != TaskSucceeded && t.Status != TaskCanceled {
			t.Step = 100
			p.setStatus(t, TaskSucceeded, "reported "+d.Versions[t.Component], now)
			p.log.Info("device upgraded", "device", d.Device, "plan", t.Plan, "component", t.Component, "version", t.Target)
		}
	case errors.Is(err, plan.ErrAfterWindow) || errors.Is(err, plan.ErrNotActivated):
		if t.Status != TaskSucceeded && t.Status != TaskCanceled && t.Status != TaskFailed {
			p.setStatus(t, TaskCanceled, "the plan ended", now)
		}
	}
}

// due checks timeouts, retries and the rejection window: whether task t
// may be offered now. p.mu is held.
func (p *Platform) due(pl *plan.Plan, rules Rules, t *Task, now time.Time) bool {
	if (t.Status == TaskPushed || t.Status == TaskUpgrading) && rules.TimeoutMinutes > 0 && !t.Started.IsZero() &&
		now.Sub(t.Started) > time.Duration(rules.TimeoutMinutes)*time.Minute {
		p.fail(t, fmt.Sprintf("timed out: no version %s within %d minutes of the first progress", t.Target, rules.TimeoutMinutes), rules, now)
	}
	switch t.Status {
	case TaskCanceled:
		return false
	case TaskFailed:
		maxRetries := rules.MaxRetries
		if maxRetries == 0 {
			maxRetries = pl.Strategy.Retries
		}
		if t.Failures > maxRetries || now.Before(t.Retry) {
			return false
		}
		p.setStatus(t, TaskQueued, fmt.Sprintf("retry %d of %d", t.Failures, maxRetries), now)
	case TaskRefused:
		if now.Before(t.Retry) {
			return false
		}
		p.setStatus(t, TaskQueued, "rejection window over", now)
	}
	return true
}

// blocked applies overwrite: another plan's task for the same component
// that has not started is canceled when this plan's rules overwrite, else
// this plan waits; a task in progress is never overwritten. p.mu is held.
func (p *Platform) blocked(d *DeviceStatus, pl *plan.Plan, rules Rules, t *Task, now time.Time) bool {
	for _, o := range d.Tasks {
		if o == t || o.Component != t.Component {
			continue
		}
		switch o.Status {
		case TaskUpgrading:
			p.setStatus(t, TaskQueued, "waiting: plan "+o.Plan+" is upgrading "+o.Component, now)
			return true
		case TaskPushed, TaskConfirming, TaskRefused: // a queued task holds nothing yet
			if !rules.Overwrite {
				p.setStatus(t, TaskQueued, "waiting: plan "+o.Plan+" has an earlier task for "+o.Component, now)
				return true
			}
			p.setStatus(o, TaskCanceled, "overwritten by plan "+pl.Name, now)
		}
	}
	return false
}

func (p *Platform) setStatus(t *Task, status, desc string, now time.Time) {
	if t.Status == status && t.Desc == desc {
		return
	}
	t.Status, t.Desc, t.Updated = status, desc, now
}

func (p *Platform) pushed(t *Task, now time.Time) {
	t.Pushes++
	t.Pushed = now
	if t.Status == TaskQueued {
		p.setStatus(t, TaskPushed, "pushed", now)
	}
}

// fail counts a failed attempt and schedules the retry. p.mu is held.
func (p *Platform) fail(t *Task, desc string, rules Rules, now time.Time) {
	t.Failures++
	t.Retry = now.Add(time.Duration(rules.RetryInterval))
	t.Started = time.Time{}
	p.setStatus(t, TaskFailed, desc, now)
}

// job returns the job for component idx of plan pl.
func (p *Platform) job(pl *plan.Plan, idx int) (*Job, error) {
	c := pl.Components[idx]
	pf, err := p.files.add(pl, c)
	if err != nil {
		return nil, err
	}
	j := &Job{Version: c.TargetVersion, Origin: pl.Name, MinBattery: pl.Strategy.MinBattery, MinSignalDBm: pl.Strategy.MinSignalDBm,
		Files: []File{{Name: pf.url[strings.LastIndexByte(pf.url, '/')+1:], URL: p.base + pf.url, Size: pf.size, Algo: SHA256, Digest: pf.digests.SHA256}}}
	if c.Type == plan.MCU {
		j.Module = c.ID
	}
	if c.Package == plan.Delta {
		j.Delta, j.Source = true, c.SourceVersion
	}
	return j, nil
}

// jobData is the Alink data object of a job.
func jobData(j *Job) map[string]any {
	ext := map[string]any{"plan": j.Origin}
	if j.MinBattery != nil {
		ext["min_battery"] = *j.MinBattery
	}
	if j.MinSignalDBm != nil {
		ext["min_signal_dbm"] = *j.MinSignalDBm
	}
	if j.Delta {
		ext["source_version"] = j.Source
	}
	return alinkPushData(j, ext)
}

// push queues an upgrade push to device d. p.mu is held.
func (p *Platform) push(d *DeviceStatus, j *Job) {
	p.seq++
	msg := map[string]any{"code": "1000", "id": p.seq, "message": "success", "data": jobData(j)}
	p.outbox = append(p.outbox, outMsg{Topic: upgradeTopic(d.Product, d.Device), Payload: mustJSON(msg), Kind: "upgrade"})
	p.log.Info("job pushed", "device", d.Device, "plan", j.Origin, "component", j.Module, "version", j.Version)
}

// send publishes the queued messages. It is called without p.mu.
func (p *Platform) send() {
	p.mu.Lock()
	msgs := p.outbox
	p.outbox = nil
	p.mu.Unlock()
	for _, m := range msgs {
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		err := p.client.Publish(ctx, m.Topic, m.Payload)
		cancel()
		if err != nil {
			p.log.Warn("platform message not sent", "topic", m.Topic, "err", err)
		}
	}
}

// seen returns device (pk, dn), noting that it was heard from. p.mu is
// held.
func (p *Platform) seen(pk, dn string) *DeviceStatus {
	d := p.st.device(pk, dn)
	d.Seen = p.cfg.Now()
	if d.Versions == nil {
		d.Versions = map[string]string{}
	}
	return d
}

// onInform records a version report; a target version reached is the
// success of its task (spec §1.8).
func (p *Platform) onInform(topic string, payload []byte) {
	_, pk, dn, ok := splitAlinkTopic(topic)
	var m informMsg
	if err := json.Unmarshal(payload, &m); !ok || err != nil || m.Params.Version == "" {
		p.log.Warn("bad inform message ignored", "topic", topic, "payload", string(payload), "err", err)
		return
	}
	p.mu.Lock()
	d := p.seen(pk, dn)
	module := m.Params.Module
	if module == "" {
		module = "default"
	}
	if d.Versions[module] != m.Params.Version {
		p.log.Info("device version", "device", dn, "component", module, "version", m.Params.Version)
	}
	d.Versions[module] = m.Params.Version
	p.mu.Unlock()
	p.kick()
}

// onProgress records a progress report.
func (p *Platform) onProgress(topic string, payload []byte) {
	_, pk, dn, ok := splitAlinkTopic(topic)
	var m progressMsg
	err := json.Unmarshal(payload, &m)
	var step int
	if err == nil {
		step, err = parseStep(m.Params.Step)
	}
	if !ok || err != nil {
		p.log.Warn("bad progress message ignored", "topic", topic, "payload", string(payload), "err", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.seen(pk, dn)
	now := p.cfg.Now()
	module := m.Params.Module
	var t *Task
	for _, c := range d.Tasks {
		if (c.Component == module || module == "" && c.Component == "default") && c.Status != TaskCanceled && c.Status != TaskSucceeded {
			if t == nil || c.Updated.After(t.Updated) {
				t = c
			}
		}
	}
	if t == nil {
		p.log.Debug("progress for no task", "device", dn, "module", module, "step", step, "desc", m.Params.Desc)
		return
	}
	rules := p.cfg.Batch.For(t.Plan)
	switch {
	case step < 0 && strings.HasPrefix(m.Params.Desc, "refused"):
		t.Step = step
		window := time.Duration(plan.DefaultRejectionMinutes) * time.Minute
		if i := slices.IndexFunc(p.plans, func(pl *plan.Plan) bool { return pl.Name == t.Plan }); i >= 0 {
			window = p.plans[i].RejectionWindow()
		}
		t.Retry = now.Add(window)
		p.setStatus(t, TaskRefused, m.Params.Desc, now)
		p.log.Info("device refused the upgrade", "device", dn, "plan", t.Plan, "desc", m.Params.Desc)
	case step < 0:
		t.Step = step
		p.fail(t, "step "+strconv.Itoa(step)+": "+m.Params.Desc, rules, now)
		p.log.Warn("device upgrade failed", "device", dn, "plan", t.Plan, "step", step, "desc", m.Params.Desc)
	default:
		if t.Started.IsZero() {
			t.Started = now
		}
		t.Step = step
		p.setStatus(t, TaskUpgrading, m.Params.Desc, now)
	}
	p.save()
}

// onGet answers firmware/get with the job pending for the module, or
// empty data.
func (p *Platform) onGet(topic string, payload []byte) {
	_, pk, dn, ok := splitAlinkTopic(topic)
	var m getMsg
	if err := json.Unmarshal(payload, &m); !ok || err != nil {
		p.log.Warn("bad firmware/get ignored", "topic", topic, "payload", string(payload), "err", err)
		return
	}
	p.mu.Lock()
	d := p.seen(pk, dn)
	module := m.Params.Module
	if module == "" {
		module = "default"
	}
	data := any(map[string]any{})
	if j := p.evaluate(d, module); j != nil {
		data = jobData(j)
		p.log.Info("job sent on request", "device", dn, "plan", j.Origin, "component", module)
	}
	reply := map[string]any{"id": string(m.ID), "code": 200, "data": data}
	p.outbox = append(p.outbox, outMsg{Topic: getReplyTopic(pk, dn), Payload: mustJSON(reply), Kind: "get_reply"})
	p.save()
	p.mu.Unlock()
	p.kick()
}
