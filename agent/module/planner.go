package module

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/atota/atota/agent/plan"
)

// run is the planner: the module's goroutine for what no command asks
// for. It copies the packages of a confirmed task into the cache (the
// module's download), pushes plans, and fails a transfer whose plan
// window ended. It sleeps until the earliest of its timers, or until
// something changed (wake).
func (m *Module) run() {
	defer close(m.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-timer.C:
		case <-m.kick:
		}
		m.download()
		timer.Reset(m.tick())
	}
}

// download copies the packages of the confirmed task into the cache,
// without holding the module's lock, and then announces the piece
// waiting for them.
func (m *Module) download() {
	m.mu.Lock()
	t := m.task
	if t == nil || t.Phase == phaseOffered || t.fetched() {
		m.mu.Unlock()
		return
	}
	gen := t.gen
	comps := slices.Clone(t.Components)
	files := make([]*os.File, len(comps))
	err := m.cache.ensureDir()
	m.mu.Unlock()

	for i := range comps {
		if err != nil {
			break
		}
		files[i], err = m.cache.open(m.ctx, &comps[i])
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.task == nil || m.task.gen != gen || m.ctx.Err() != nil {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
		return
	}
	if err != nil {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
		m.failTask(err)
		return
	}
	for i, f := range files {
		if m.task.files[i] == nil {
			m.task.files[i] = f
		} else {
			f.Close()
		}
	}
	if m.task.waitPiece {
		m.pieceReady()
	}
}

// tick does what is due and returns how long until it should run again.
func (m *Module) tick() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	wait := m.cfg.PlanPoll
	if t := m.task; t != nil && !t.WindowEnd.IsZero() {
		if left := t.WindowEnd.Sub(now); left > 0 {
			wait = min(wait, left)
		} else {
			m.windowEnded()
		}
	}
	if m.regState != stateReady || m.booting || m.task != nil && m.task.Phase != phaseOffered {
		return wait
	}
	if d := m.cfg.FirstPush - time.Since(m.readyAt); d > 0 && len(m.pushNow) == 0 {
		return min(wait, d)
	}
	return min(wait, m.push(now))
}

// windowEnded ends the task whose plan window is over: an offer lapses,
// a transfer fails with 7,10706 (plan-format.md, window). m.mu is held.
func (m *Module) windowEnded() {
	t := m.task
	if t.Phase == phaseOffered {
		m.log.Info("plan window ended; the offer lapses", "plan", t.Plan)
		m.endTask()
		return
	}
	m.failTask(fmt.Errorf("the window of plan %s ended during the transfer", t.Plan))
}

// push offers the first plan due for a push and returns how long until
// the next one could be due. m.mu is held.
func (m *Module) push(now time.Time) time.Duration {
	wait := time.Duration(1<<63 - 1)
	for _, p := range m.loadPlans() {
		if m.task != nil && m.task.Plan != p.Name {
			continue // an offer is open: only its plan is pushed again
		}
		d, why := m.pushDue(p, now)
		if why != nil {
			m.log.Debug("plan not pushed", "plan", p.Name, "why", why)
			continue
		}
		if d > 0 {
			wait = min(wait, d)
			continue
		}
		t, err := m.taskFor(p, m.lastSHA)
		if err != nil {
			m.log.Debug("plan not pushed", "plan", p.Name, "why", err)
			delete(m.pushNow, p.Name)
			continue
		}
		m.offer(t, "pushed")
		return min(wait, m.cfg.PushInterval)
	}
	return wait
}

// pushDue says whether plan p is pushed by itself now: after how long,
// or why never. m.mu is held.
func (m *Module) pushDue(p *plan.Plan, now time.Time) (time.Duration, error) {
	if m.pushNow[p.Name] {
		return 0, nil
	}
	switch {
	case !p.PushActively:
		return 0, errors.New("push_actively is false: only AT+QIOTOTAREQ brings it")
	case !p.InPushPeriod(now):
		return 0, errors.New("outside the push period")
	case m.awaitsConfirmation(p):
		return 0, errors.New("manual plan: waiting for the app confirmation")
	}
	if at, ok := m.st.Refused[p.Name]; ok {
		if p.Mode != plan.Silent {
			return 0, errors.New("refused by the device")
		}
		if d := at.Add(p.RejectionWindow()).Sub(now); d > 0 {
			return d, nil
		}
	}
	if at, ok := m.pushed[p.Name]; ok {
		if d := m.cfg.PushInterval - time.Since(at); d > 0 {
			return d, nil
		}
	}
	return 0, nil
}

// ErrNothingToConfirm is returned by Confirm when no manual plan waits
// for a confirmation of this device.
var ErrNothingToConfirm = errors.New("module: no manual plan waits for a confirmation of this device")

// Confirm gives the confirmation a manual plan waits for, as a user does
// in the app: the plan called name, or every manual plan waiting when
// name is empty. The confirmed plans are pushed at once when the module
// is online, and offered to AT+QIOTOTAREQ from now on. It returns their
// names.
func (m *Module) Confirm(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for _, p := range m.loadPlans() {
		if name != "" && p.Name != name || !m.awaitsConfirmation(p) {
			continue
		}
		if _, err := p.Next(m.cfg.Now(), m.device(p)); err != nil {
			if name != "" {
				return nil, fmt.Errorf("module: plan %s: %w", name, err)
			}
			continue
		}
		if m.st.Confirmed == nil {
			m.st.Confirmed = map[string]time.Time{}
		}
		m.st.Confirmed[p.Name] = m.cfg.Now()
		m.pushNow[p.Name] = true
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		if name != "" {
			return nil, fmt.Errorf("%w: plan %q is not a manual plan waiting for one", ErrNothingToConfirm, name)
		}
		return nil, ErrNothingToConfirm
	}
	m.log.Info("manual plan confirmed in the app", "plans", names)
	m.save()
	m.wake()
	return names, nil
}

// Push makes the module push the plans it can offer now, as the platform
// does every PushInterval, without waiting for the interval, the first
// push delay or the push period; the push comes when the module is
// registered. It returns the names of the plans it will try: none while
// a transfer runs.
func (m *Module) Push() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.task != nil && m.task.Phase != phaseOffered {
		return nil
	}
	var names []string
	for _, p := range m.loadPlans() {
		if _, _, err := m.eligible(p); err == nil {
			m.pushNow[p.Name] = true
			names = append(names, p.Name)
		}
	}
	m.wake()
	return names
}
