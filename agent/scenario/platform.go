package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/agent/platform"
	"github.com/atota/atota/transport"
)

// The emulated module's identity on a run's platform: its device key is
// the device name the platform knows it by.
const (
	platformDevice = "atota-scenario"
	platformSecret = "scenario-device-secret"
)

// settleTime is how long the run waits, after the MCU side ended and the
// broker is up, for the platform to hear the end of the update.
const settleTime = 5 * time.Second

// platformRun is the local platform of a run with module.platform: the
// platform serving the scenario's plans (an embedded broker and a
// package server on loopback), the module's link to it, and the state of
// the platform faults.
type platformRun struct {
	p    *platform.Platform
	dev  *platform.Device
	pkgs *packageFaults

	mu   sync.Mutex
	st   PlatformResult // the broker and task fields; pkgs keeps the rest
	down int            // broker_restart faults with the broker down
}

// startPlatform starts the platform and the module's link to it. The
// link signs in at once, as the module's device; the module reports the
// MCU's versions through it when the MCU declares them.
func (r *runner) startPlatform(ctx context.Context) error {
	sc := r.sc
	pr := &platformRun{pkgs: newPackageFaults(r.seed, r.stop, r.emit)}
	p, err := platform.New(platform.Config{
		Plans: r.plans, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
		StatePath:    filepath.Join(r.dir, "platform.json"),
		WrapPackages: pr.pkgs.wrap,
		Tick:         100 * time.Millisecond,
		Logger:       r.log.With("side", "platform"),
		Now:          r.clock,
	})
	if err != nil {
		return fmt.Errorf("scenario: platform: %w", err)
	}
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("scenario: platform: %w", err)
	}
	pr.p = p
	r.plat = pr
	dev, err := platform.NewDevice(platform.DeviceConfig{
		Broker: p.BrokerURL(), ProductKey: sc.Module.Product, DeviceSecret: platformSecret,
		CacheDir:             filepath.Join(r.dir, "link"),
		MaxReconnectInterval: 200 * time.Millisecond,
		Download: []transport.DownloadOption{
			transport.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
			transport.WithMaxTime(sc.Timeout),
		},
		Logger:     r.log.With("side", "platform-link"),
		OnJobReady: r.jobReady,
		Now:        r.clock,
	})
	if err != nil {
		return fmt.Errorf("scenario: platform link: %w", err)
	}
	if err := dev.Start(ctx, platformDevice); err != nil {
		dev.Close()
		return fmt.Errorf("scenario: platform link: %w", err)
	}
	pr.dev = dev
	return nil
}

// describe says where the platform runs.
func (pr *platformRun) describe() string {
	return fmt.Sprintf("broker %s, packages %s; the module's link is signed in as %s", pr.p.BrokerURL(), pr.p.PackageURL(), platformDevice)
}

// close stops the link and the platform.
func (pr *platformRun) close() {
	if pr.dev != nil {
		pr.dev.Close()
	}
	pr.p.Close()
}

// linkObserver passes what the module tells its platform to the link.
type linkObserver struct{ d *platform.Device }

// VersionsReported implements module.Observer.
func (o linkObserver) VersionsReported(v map[string]string) { o.d.VersionsReported(v) }

// TaskProgress implements module.Observer.
func (o linkObserver) TaskProgress(p module.TaskProgress) {
	o.d.TaskEvent(platform.TaskEvent{Plan: p.Plan, Component: p.Component, Event: p.Event, Done: p.Done, Total: p.Total, Reason: p.Reason})
}

// jobReady is called by the link when a job's package is downloaded and
// verified: the module pushes it to the MCU at once.
func (r *runner) jobReady(name string) {
	r.emit(Event{Kind: "platform", Name: "platform:job_ready", Text: "job " + name + ": package downloaded and verified; the module offers it"})
	r.modMu.Lock()
	m := r.mod
	r.modMu.Unlock()
	if m != nil {
		m.Push()
	}
}

// device returns the platform's view of the module's device, or nil
// before the platform heard from it.
func (pr *platformRun) device() *platform.DeviceStatus {
	for _, d := range pr.p.Status().Devices {
		if d.Device == platformDevice {
			return d
		}
	}
	return nil
}

// onTheWay lists the task statuses of a job the module may still get.
var onTheWay = []string{platform.TaskQueued, platform.TaskPushed, platform.TaskUpgrading}

// jobComing reports whether a job for the module may be on its way,
// and why: the platform has not heard the versions the MCU declared
// last, or it has a task for the device that is queued, pushed or
// upgrading while the link offers no plan for its component (the job
// is in flight, or its package is being downloaded). offered says the
// link does offer the job's plan and the MCU does not run its target
// yet: the plan came just after the MCU stopped waiting for one.
func (r *runner) jobComing() (coming bool, why string, offered bool) {
	d := r.plat.device()
	if d == nil {
		return true, "the platform has not heard from the module's link yet", false
	}
	declared := r.declaredVersions()
	for _, id := range slices.Sorted(maps.Keys(declared)) {
		if d.Versions[id] != declared[id] {
			return true, fmt.Sprintf("the platform has not heard that %s runs %s yet", id, declared[id]), false
		}
	}
	plans, _ := r.plat.dev.Load()
	offers := func(comp string) bool {
		return slices.ContainsFunc(plans, func(p *plan.Plan) bool {
			return slices.ContainsFunc(p.Components, func(c plan.Component) bool { return c.ID == comp })
		})
	}
	for _, t := range d.Tasks {
		switch {
		case !slices.Contains(onTheWay, t.Status):
		case !offers(t.Component):
			return true, fmt.Sprintf("the platform's job %s for %s is on its way (%s)", t.Plan, t.Component, t.Status), false
		case declared[t.Component] != t.Target:
			// The job became a plan as the MCU's wait for one ended:
			// the module offers it to the next request.
			return true, fmt.Sprintf("the module offers the platform's job %s for %s, which came after the MCU stopped waiting", t.Plan, t.Component), true
		}
	}
	return false, "", false
}

// settlePlatform waits until the platform has heard the end of the
// update (the versions the MCU declared last, and no task still on its
// way), for at most settleTime after the broker is last up, and records
// where each task of the device stands.
func (r *runner) settlePlatform(ctx context.Context) {
	pr := r.plat
	deadline := time.Now().Add(settleTime)
	var d *platform.DeviceStatus
	for {
		d = pr.device()
		if d != nil && settled(d, r.declaredVersions()) {
			break
		}
		if pr.brokerDown() {
			deadline = time.Now().Add(settleTime)
		}
		if time.Now().After(deadline) || !r.sleep(ctx, 20*time.Millisecond) {
			break
		}
	}
	if d == nil {
		r.emit(Event{Kind: "platform", Name: "platform:no_device", Text: "the platform never heard from the module's link"})
		return
	}
	var tasks []string
	for _, t := range d.Tasks {
		text := fmt.Sprintf("plan %s: %s -> %s %s, step %d", t.Plan, t.Component, t.Target, t.Status, t.Step)
		if t.Desc != "" {
			text += " (" + t.Desc + ")"
		}
		tasks = append(tasks, text)
		r.emit(Event{Kind: "platform", Name: "platform:task_" + strings.ReplaceAll(t.Status, "-", "_"), Text: text})
	}
	pr.mu.Lock()
	pr.st.Tasks = tasks
	pr.mu.Unlock()
}

// settled reports whether the platform has d at the versions declared,
// with no task on its way.
func settled(d *platform.DeviceStatus, declared map[string]string) bool {
	for id, v := range declared {
		if d.Versions[id] != v {
			return false
		}
	}
	return !slices.ContainsFunc(d.Tasks, func(t *platform.Task) bool { return slices.Contains(onTheWay, t.Status) })
}

// brokerDown reports whether a broker_restart has the broker down.
func (pr *platformRun) brokerDown() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.down > 0
}

// restartBroker takes the platform's broker down now and brings it back
// after f.Down, then follows the module's link as it reconnects.
func (r *runner) restartBroker(f *Fault) {
	pr := r.plat
	if err := pr.p.StopBroker(); err != nil {
		r.emit(Event{Kind: "platform", Name: "platform:broker_failed", Text: err.Error()})
		return
	}
	pr.mu.Lock()
	pr.down++
	pr.st.BrokerRestarts++
	pr.mu.Unlock()
	r.emit(Event{Kind: "platform", Name: "platform:broker_down", Text: fmt.Sprintf("the MQTT broker is down for %v", f.Down)})
	r.spawn(func() {
		defer func() {
			pr.mu.Lock()
			pr.down--
			pr.mu.Unlock()
		}()
		if r.await(2*time.Second, func() bool { return !pr.dev.Connected() }) {
			r.emit(Event{Kind: "platform", Name: "platform:link_down", Text: "the module's platform link lost the broker"})
		}
		if !r.sleep(context.Background(), f.Down) {
			return
		}
		if err := pr.p.StartBroker(); err != nil {
			r.emit(Event{Kind: "platform", Name: "platform:broker_failed", Text: err.Error()})
			return
		}
		up := time.Now()
		r.emit(Event{Kind: "platform", Name: "platform:broker_up", Text: "the MQTT broker is back, on the same address"})
		if r.await(time.Minute, pr.dev.Connected) {
			pr.mu.Lock()
			pr.st.Reconnects++
			pr.mu.Unlock()
			r.emit(Event{Kind: "platform", Name: "platform:link_up", Text: fmt.Sprintf("the module's platform link connected again %v after the broker came back", time.Since(up).Round(time.Millisecond))})
		}
	})
}

// await polls cond until it holds, for at most limit or until the run
// ends; it reports whether cond held.
func (r *runner) await(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || !r.sleep(context.Background(), 10*time.Millisecond) {
			return false
		}
	}
	return true
}

// confirmOnPlatform gives the app confirmation of every manual plan on
// the platform, as the user does in the app.
func (r *runner) confirmOnPlatform() {
	plans, _ := r.plans.Load()
	var names []string
	var errs []error
	for _, p := range plans {
		if p.Mode != plan.Manual {
			continue
		}
		if err := r.plat.p.Confirm(p.Name, platformDevice); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		text := "no manual plan to confirm on the platform"
		if len(errs) > 0 {
			text = errors.Join(errs...).Error()
		}
		r.emit(Event{Kind: "module", Name: "module:confirm_failed", Text: text})
		return
	}
	r.emit(Event{Kind: "module", Name: "module:confirmed", Text: "confirmed in the app, on the platform: " + strings.Join(names, ", ")})
}

// result returns what the platform saw.
func (pr *platformRun) result() *PlatformResult {
	res := pr.pkgs.stats()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	res.BrokerRestarts, res.Reconnects, res.Tasks = pr.st.BrokerRestarts, pr.st.Reconnects, slices.Clone(pr.st.Tasks)
	return &res
}
