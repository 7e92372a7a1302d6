package module

import (
	"slices"
	"sync"
	"time"
)

// eventKind groups events that are dropped together.
type eventKind int

const (
	kindOther eventKind = iota // dropped only by a reboot
	kindReg                    // 2,10200 and 3,10200: dropped by AT+QIOTREG=0
)

// event is one unsolicited result code due at a time. apply, when set,
// changes the module's state just before the line goes out, with the
// module's lock held, so that a query answered after the event was sent
// sees its effect. An event with no line only applies.
type event struct {
	due   time.Time
	delay time.Duration // while held: from the final result, or from the event before
	gap   time.Duration // while held: the least time after an event queued earlier
	kind  eventKind
	line  string
	apply func()
}

// emitter sends events in order, each no earlier than its due time. Real
// modules answer a command first and raise the events it causes tens to
// hundreds of milliseconds later (spec §13.7); MCU firmware depends on
// that gap. The emitter owns one goroutine, stopped by close.
//
// The queue is guarded by the module's mutex, so a handler that cancels
// events and the emitter that applies them never race: an event is either
// dropped or applied, and a handler sees the state either before or after
// it. Lines are sent outside the lock, by the emitter goroutine only, so
// they go out in queue order.
//
// While a command runs (hold), new events wait for its final result
// (release): their delays count from the moment the result is on the
// wire, so an event never goes out with the OK that caused it.
type emitter struct {
	mu     *sync.Mutex // the module's; guards queue, held and last
	notify func(line string)

	queue   []event
	last    time.Time // due time of the last event queued
	holding bool      // a command is running
	held    []event   // events queued while it runs, due times not set yet
	sent    int64     // lines sent

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newEmitter(mu *sync.Mutex, notify func(string)) *emitter {
	e := &emitter{
		mu:     mu,
		notify: notify,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go e.run()
	return e
}

// after queues events: the first delay after now, or after the final
// result of the command running now (and never before an event queued
// earlier), each further one gap after the one before. e.mu is held.
func (e *emitter) after(delay, gap time.Duration, evs ...event) {
	if e.holding {
		for i, ev := range evs {
			ev.delay, ev.gap = delay, gap
			if i > 0 {
				ev.delay = gap
			}
			e.held = append(e.held, ev)
		}
		return
	}
	e.schedule(time.Now(), delay, gap, evs)
}

// schedule queues events: the first delay after now, each further one gap
// after the one before, and none closer than gap to an event queued
// earlier, so that events keep their spacing when they pile up. e.mu is
// held.
func (e *emitter) schedule(now time.Time, delay, gap time.Duration, evs []event) {
	due := now
	for i, ev := range evs {
		d := delay
		if i > 0 {
			d = gap
		}
		due = due.Add(d)
		if !e.last.IsZero() && due.Before(e.last.Add(gap)) {
			due = e.last.Add(gap)
		}
		ev.due = due
		e.queue = append(e.queue, ev)
		e.last = due
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// hold makes events queued from now on wait for release. e.mu is held.
func (e *emitter) hold() { e.holding = true }

// release queues the events held since hold, timed from now: the final
// result of the command that caused them has just been written. e.mu is
// held.
func (e *emitter) release() {
	e.holding = false
	if len(e.held) == 0 {
		return
	}
	now := time.Now()
	for _, ev := range e.held {
		e.schedule(now, ev.delay, ev.gap, []event{ev})
		now = e.last
	}
	clear(e.held)
	e.held = e.held[:0]
}

// cancel drops the queued and held events of one kind. e.mu is held.
func (e *emitter) cancel(kind eventKind) {
	e.held = slices.DeleteFunc(e.held, func(ev event) bool { return ev.kind == kind })
	kept := e.queue[:0]
	for _, ev := range e.queue {
		if ev.kind != kind {
			kept = append(kept, ev)
		}
	}
	clear(e.queue[len(kept):])
	e.queue = kept
	e.last = time.Time{}
	if n := len(kept); n > 0 {
		e.last = kept[n-1].due
	}
}

func (e *emitter) run() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-e.stop:
			return
		default:
		}
		line, wait, ready := e.pop()
		if ready {
			if line != "" {
				e.notify(line)
			}
			continue
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-tc:
		case <-e.wake:
			timer.Stop()
		case <-e.stop:
			timer.Stop()
			return
		}
	}
}

// pop takes the first event if it is due and applies it. Otherwise it
// returns how long until it is due, or -1 when the queue is empty.
func (e *emitter) pop() (line string, wait time.Duration, ready bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.queue) == 0 {
		return "", -1, false
	}
	if d := time.Until(e.queue[0].due); d > 0 {
		return "", d, false
	}
	ev := e.queue[0]
	e.queue[0] = event{}
	e.queue = e.queue[1:]
	if ev.apply != nil {
		ev.apply()
	}
	if ev.line != "" {
		e.sent++
	}
	return ev.line, 0, true
}

// clearAll drops every queued and held event. e.mu is held.
func (e *emitter) clearAll() {
	clear(e.queue)
	e.queue = e.queue[:0]
	clear(e.held)
	e.held = e.held[:0]
	e.last = time.Time{}
}

// close stops the emitter and waits for its goroutine; queued events are
// dropped. It may be called more than once. e.mu must not be held.
func (e *emitter) close() {
	e.closeOnce.Do(func() { close(e.stop) })
	<-e.done
}
